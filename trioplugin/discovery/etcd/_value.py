"""What the value of a registration key holds: one endpoint, as a JSON object."""

from __future__ import annotations

import json
import logging
from typing import Final

from .._source import ServiceEndpoint

logger: Final = logging.getLogger("trioplugin.discovery")


def encode_endpoint(endpoint: ServiceEndpoint) -> bytes:
    """The value :func:`open_etcd_registration` puts for ``endpoint``."""
    record = {"url": endpoint.url, "priority": endpoint.priority, "weight": endpoint.weight}
    return json.dumps(record, separators=(",", ":")).encode()


def decode_endpoint(value: bytes) -> ServiceEndpoint:
    """The endpoint a value describes.

    Raises:
        ValueError: it is not a JSON object with a valid ``url`` (and valid
            ``priority`` and ``weight``, where present); the message says why.
    """
    try:
        record = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON object but {type(record).__name__}")
    if "url" not in record:
        raise ValueError('no "url"')
    url = record["url"]
    if not isinstance(url, str):
        raise ValueError(f'"url" is not a string but {url!r}')
    try:
        return ServiceEndpoint(
            url, priority=record.get("priority", 0), weight=record.get("weight", 1)
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None


def describe_value(value: bytes) -> str:
    """A value, short enough for a log line."""
    text = value[:120].decode("utf-8", "replace")
    return repr(text + ("..." if len(value) > 120 else ""))
