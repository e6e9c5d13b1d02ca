"""The rules for HTTP/2 header fields (RFC 9113 §8.2 and §8.3), checked as a block is received.

A block that breaks them is malformed: the stream is reset with
PROTOCOL_ERROR, the connection lives on. Checking is one pass that also
splits the pseudo-header fields from the others and decodes the latter, so
the server and the client do not walk the block again.
"""

from __future__ import annotations

import re
from typing import Final

_NAME: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+").fullmatch
_BAD_VALUE: Final = re.compile(rb"[\x00\r\n]|^[ \t]|[ \t]$").search
_CONNECTION_SPECIFIC: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_REQUEST_PSEUDO: Final = frozenset({b":method", b":scheme", b":authority", b":path"})
_RESPONSE_PSEUDO: Final = frozenset({b":status"})
_NAMES: Final[dict[bytes, str]] = {}
"""Names already found valid, decoded (a bounded cache: the same few names come every call)."""
_NAMES_LIMIT: Final = 1024


class Malformed(Exception):
    """A header block that breaks the rules; the message says which."""


def split_fields(
    block: list[tuple[bytes, bytes]], allowed_pseudo: frozenset[bytes]
) -> tuple[dict[bytes, bytes], list[tuple[str, str]]]:
    """Pseudo-header fields (only ``allowed_pseudo``, once each, first) and the others."""
    pseudo: dict[bytes, bytes] = {}
    fields: list[tuple[str, str]] = []
    names = _NAMES
    for name, value in block:
        text = names.get(name)
        if text is None:
            if name[:1] == b":":
                if fields:
                    raise Malformed(f"pseudo-header {name!r} after a regular field")
                if name not in allowed_pseudo:
                    raise Malformed(f"pseudo-header {name!r} is not allowed here")
                if name in pseudo:
                    raise Malformed(f"pseudo-header {name!r} appears twice")
                if _BAD_VALUE(value):
                    raise Malformed(f"invalid value for pseudo-header {name!r}")
                pseudo[name] = value
                continue
            if not _NAME(name):
                raise Malformed(f"invalid header name {name!r}")
            if name in _CONNECTION_SPECIFIC:
                raise Malformed(f"connection-specific header {name!r}")
            text = name.decode("ascii")
            if name != b"te" and len(names) < _NAMES_LIMIT:
                names[name] = text
        if name == b"te" and value != b"trailers":
            raise Malformed('a "te" header other than "trailers"')
        if _BAD_VALUE(value):
            raise Malformed(f"invalid value for header {text!r}")
        fields.append((text, value.decode("latin-1")))
    return pseudo, fields


def request_fields(
    block: list[tuple[bytes, bytes]],
) -> tuple[dict[bytes, bytes], list[tuple[str, str]]]:
    """A request head's fields; it must name a method, and a scheme and path unless CONNECT."""
    pseudo, fields = split_fields(block, _REQUEST_PSEUDO)
    method = pseudo.get(b":method")
    if not method:
        raise Malformed("the request has no :method")
    if method != b"CONNECT" and not (pseudo.get(b":scheme") and pseudo.get(b":path")):
        raise Malformed("the request lacks :scheme or :path")
    return pseudo, fields


def response_fields(
    block: list[tuple[bytes, bytes]],
) -> tuple[dict[bytes, bytes], list[tuple[str, str]]]:
    """A response head's fields; it must carry a three-digit :status."""
    pseudo, fields = split_fields(block, _RESPONSE_PSEUDO)
    status = pseudo.get(b":status", b"")
    if len(status) != 3 or not status.isdigit():
        raise Malformed(f"the response has no valid :status ({status!r})")
    return pseudo, fields


_NO_PSEUDO: Final[frozenset[bytes]] = frozenset()


def trailer_fields(block: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """A trailer block's fields: no pseudo-header fields at all."""
    return split_fields(block, _NO_PSEUDO)[1]


def content_length(fields: list[tuple[str, str]]) -> int | None:
    """The declared body length, if any; a malformed or conflicting one is refused."""
    found: int | None = None
    for name, value in fields:
        if name == "content-length":
            # isdigit() alone takes '²' and numbers past int()'s digit limit.
            if not (value.isascii() and value.isdigit() and len(value) <= 19) or (
                found is not None and int(value) != found
            ):
                raise Malformed(f"invalid content-length {value[:40]!r}")
            found = int(value)
    return found
