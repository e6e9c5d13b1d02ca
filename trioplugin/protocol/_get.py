"""Connect GET: a side-effect-free unary request carried in the URL's query string."""

from __future__ import annotations

import base64
from typing import Final
from urllib.parse import quote

DEFAULT_GET_URL_LIMIT: Final = 8192
"""The longest GET URL (path and query) a client builds before it falls back to POST."""


def get_query(codec: str, message: bytes, *, compression: str | None) -> str:
    """The query string of a Connect GET request for one encoded (maybe compressed) message.

    Binary messages (and compressed ones) travel as unpadded URL-safe
    base64 with ``base64=1``; a JSON message travels percent-encoded.
    """
    parts = ["connect=v1", f"encoding={quote(codec, safe='')}"]
    if compression is not None:
        parts.append(f"compression={quote(compression, safe='')}")
    if compression is None and codec == "json":
        text = quote(message.decode("utf-8", "surrogateescape"), safe="")
        parts.append(f"message={text}")
    else:
        parts.append("base64=1")
        encoded = base64.urlsafe_b64encode(message).rstrip(b"=").decode("ascii")
        parts.append(f"message={encoded}")
    return "&".join(parts)
