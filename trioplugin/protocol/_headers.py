"""Header names, content types and the unary ``trailer-`` prefix rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

from ._metadata import Metadata

CONTENT_TYPE: Final = "content-type"
CONTENT_ENCODING: Final = "content-encoding"
ACCEPT_ENCODING: Final = "accept-encoding"
CONNECT_CONTENT_ENCODING: Final = "connect-content-encoding"
CONNECT_ACCEPT_ENCODING: Final = "connect-accept-encoding"
CONNECT_PROTOCOL_VERSION: Final = "connect-protocol-version"
CONNECT_TIMEOUT_MS: Final = "connect-timeout-ms"
TRAILER_PREFIX: Final = "trailer-"
PROTOCOL_VERSION: Final = "1"

UNARY_PREFIX: Final = "application/"
STREAM_PREFIX: Final = "application/connect+"
JSON_ERROR_CONTENT_TYPE: Final = "application/json"

# Headers that describe the HTTP exchange itself, never user metadata.
_TRANSPORT_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "host",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


# Headers the protocol layer writes itself; user metadata may not set them.
RESERVED_HEADERS: Final = frozenset(
    {
        "content-type",
        "content-encoding",
        "accept-encoding",
        "content-length",
        "user-agent",
        "date",
        "server",
        "grpc-status",
        "grpc-message",
    }
)


@final
@dataclass(frozen=True, slots=True)
class ContentType:
    """A parsed Connect content type: the codec name and whether it frames a stream."""

    codec: str
    streaming: bool

    def header_value(self) -> str:
        """The content type as it goes on the wire."""
        prefix = STREAM_PREFIX if self.streaming else UNARY_PREFIX
        return prefix + self.codec


_PARSED: dict[str, ContentType | None] = {}
_PARSED_MAX: Final = 256  # a peer sending ever new values cannot grow it past this


def parse_content_type(value: str | None) -> ContentType | None:
    """Parse ``application/<codec>`` or ``application/connect+<codec>``.

    Parameters are ignored except a charset, which must be UTF-8 for JSON.
    Returns None for anything else.
    """
    if not value:
        return None
    try:
        return _PARSED[value]
    except KeyError:
        pass
    parsed = _parse_content_type(value)
    if len(_PARSED) < _PARSED_MAX:
        _PARSED[value] = parsed
    return parsed


def _parse_content_type(value: str) -> ContentType | None:
    media_type, _, params = value.partition(";")
    media_type = media_type.strip().lower()
    for param in params.split(";"):
        key, _, param_value = param.strip().partition("=")
        if key.strip().lower() == "charset" and param_value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return None
    if media_type.startswith(STREAM_PREFIX):
        codec = media_type[len(STREAM_PREFIX) :]
        return ContentType(codec, True) if codec else None
    if media_type.startswith(UNARY_PREFIX):
        codec = media_type[len(UNARY_PREFIX) :]
        # application/grpc+proto and friends belong to other protocols.
        if not codec or codec.startswith(("grpc", "connect")):
            return None
        return ContentType(codec, False)
    return None


def split_unary_trailers(headers: Metadata) -> tuple[Metadata, Metadata]:
    """Split unary response headers into (headers, trailers), stripping ``trailer-``."""
    leading: list[tuple[str, str]] = []
    trailing: list[tuple[str, str]] = []
    for key, value in headers.multi_items():
        if key.startswith(TRAILER_PREFIX):
            trailing.append((key[len(TRAILER_PREFIX) :], value))
        else:
            leading.append((key, value))
    return Metadata.from_parsed(leading), Metadata.from_parsed(trailing)


def prefix_unary_trailers(trailers: Metadata) -> list[tuple[str, str]]:
    """Trailers of a unary response as ``trailer-``-prefixed header pairs."""
    return [(TRAILER_PREFIX + key, value) for key, value in trailers.multi_items()]


def user_metadata(headers: Metadata) -> list[tuple[str, str]]:
    """The pairs of ``headers`` a peer may send as custom metadata.

    Drops hop-by-hop and framing headers, which the HTTP layer owns.
    """
    return [
        (key, value)
        for key, value in headers.multi_items()
        if key not in _TRANSPORT_HEADERS and not key.startswith(":")
    ]


def custom_metadata(metadata: Metadata) -> list[tuple[str, str]]:
    """The pairs of user metadata that may go on the wire as headers.

    Drops what the HTTP layer owns and what the protocol writes itself
    (content type and encodings, ``connect-*``).
    """
    return [
        (key, value)
        for key, value in user_metadata(metadata)
        if key not in RESERVED_HEADERS and not key.startswith("connect-")
    ]
