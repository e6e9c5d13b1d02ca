"""Server-side validation of a request's head: codec, compression, timeout, GET query."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, final
from urllib.parse import parse_qs

from . import _headers as h
from ._code import Code
from ._compression import (
    IDENTITY,
    Compression,
    accept_encoding_value,
    choose_compression,
    parse_accept_encoding,
)
from ._error import ConnectError
from ._metadata import Metadata
from ._timeout import parse_timeout_ms

_ACCEPT_POST: Final = "accept-post"


class RejectedRequest(Exception):
    """A request refused before it reaches a handler.

    With ``http_status`` set (405, 415), the request is not a Connect call of
    the method at all, and the server answers with that bare HTTP status so
    that any client maps it; ``error.message`` then goes in a plain-text body.
    Otherwise the server answers the way the call kind answers errors: a
    unary call with the code's status and the error JSON, a streaming call
    with HTTP 200 and an end-of-stream error. ``headers`` go on the response.
    """

    def __init__(
        self,
        error: ConnectError,
        *,
        http_status: int | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(error)
        self.error = error
        self.http_status = http_status
        self.headers = list(headers)


@final
@dataclass(frozen=True, slots=True)
class RequestSpec:
    """What a valid request head says about how to read and answer it."""

    codec: str
    """The codec name: ``proto``, ``json``, ..."""
    streaming: bool
    """Whether the body is a stream of enveloped messages."""
    request_compression: Compression | None
    """How the request messages are compressed (None: identity)."""
    response_compression: Compression | None
    """How to compress the response messages (None: identity)."""
    timeout: float | None
    """Seconds the client allows for the call, or None for no limit."""
    get_payload: bytes | None = None
    """For a GET request, the (still compressed) message from the query string."""


def validate_request(
    *,
    http_method: str,
    headers: Metadata,
    query: str,
    streaming: bool,
    allow_get: bool,
    codecs: Sequence[str],
    compressions: Sequence[Compression],
) -> RequestSpec:
    """Check a request's head against the Connect protocol and the method's shape.

    Raises:
        RejectedRequest: with the status and error the client should get.
    """
    if http_method == "GET" and allow_get and not streaming:
        return _validate_get(headers, query, codecs, compressions)
    if http_method != "POST":
        allowed = "GET, POST" if allow_get and not streaming else "POST"
        raise RejectedRequest(
            ConnectError(
                Code.UNIMPLEMENTED,
                f"HTTP method {http_method} is not supported here; use {allowed}",
            ),
            http_status=405,
            headers=[("allow", allowed)],
        )
    content_type = h.parse_content_type(headers.first(h.CONTENT_TYPE))
    if (
        content_type is None
        or content_type.streaming != streaming
        or (content_type.codec not in codecs)
    ):
        raise _unsupported_media_type(headers.first(h.CONTENT_TYPE), streaming, codecs)
    _check_protocol_version(headers.first(h.CONNECT_PROTOCOL_VERSION))
    timeout = _timeout(headers)
    encoding_header = h.CONNECT_CONTENT_ENCODING if streaming else h.CONTENT_ENCODING
    accept_header = h.CONNECT_ACCEPT_ENCODING if streaming else h.ACCEPT_ENCODING
    request_compression = _request_compression(
        headers.first(encoding_header), compressions, accept_header
    )
    response_compression = _response_compression(
        headers.first(accept_header), request_compression, compressions
    )
    return RequestSpec(
        codec=content_type.codec,
        streaming=streaming,
        request_compression=request_compression,
        response_compression=response_compression,
        timeout=timeout,
    )


def _validate_get(
    headers: Metadata, query: str, codecs: Sequence[str], compressions: Sequence[Compression]
) -> RequestSpec:
    params = parse_qs(query, keep_blank_values=True)

    def param(name: str) -> str | None:
        values = params.get(name)
        return values[0] if values else None

    version = param("connect")
    if version is not None and version != "v1":
        raise RejectedRequest(
            ConnectError(
                Code.INVALID_ARGUMENT, f"unsupported connect query parameter {version!r}; want v1"
            )
        )
    codec = param("encoding")
    if codec is None or codec not in codecs:
        raise RejectedRequest(
            ConnectError(
                Code.INVALID_ARGUMENT,
                f"GET request has encoding {codec!r}; want one of {', '.join(codecs)}",
            ),
            http_status=415,
        )
    message = param("message")
    if message is None:
        raise RejectedRequest(
            ConnectError(Code.INVALID_ARGUMENT, "GET request has no message query parameter")
        )
    if param("base64") == "1":
        padded = message + "=" * (-len(message) % 4)
        try:
            payload = base64.urlsafe_b64decode(padded.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise RejectedRequest(
                ConnectError(Code.INVALID_ARGUMENT, "GET message is not URL-safe base64")
            ) from exc
    else:
        payload = message.encode("utf-8", "surrogateescape")
    request_compression = _request_compression(
        param("compression"), compressions, h.ACCEPT_ENCODING
    )
    response_compression = _response_compression(
        headers.first(h.ACCEPT_ENCODING), request_compression, compressions
    )
    return RequestSpec(
        codec=codec,
        streaming=False,
        request_compression=request_compression,
        response_compression=response_compression,
        timeout=_timeout(headers),
        get_payload=payload,
    )


def _unsupported_media_type(
    value: str | None, streaming: bool, codecs: Sequence[str]
) -> RejectedRequest:
    prefix = h.STREAM_PREFIX if streaming else h.UNARY_PREFIX
    wanted = ", ".join(prefix + codec for codec in codecs)
    kind = "streaming" if streaming else "unary"
    return RejectedRequest(
        ConnectError(
            Code.INVALID_ARGUMENT,
            f"content type {value!r} is not supported for this {kind} method; want one of {wanted}",
        ),
        http_status=415,
        headers=[(_ACCEPT_POST, wanted)],
    )


def _check_protocol_version(version: str | None) -> None:
    if version is not None and version.strip() != h.PROTOCOL_VERSION:
        raise RejectedRequest(
            ConnectError(
                Code.INVALID_ARGUMENT,
                f"Connect-Protocol-Version {version!r} is not supported; want 1",
            )
        )


def _timeout(headers: Metadata) -> float | None:
    value = headers.first(h.CONNECT_TIMEOUT_MS)
    if value is None:
        return None
    try:
        return parse_timeout_ms(value.strip())
    except ConnectError as exc:
        raise RejectedRequest(exc) from None


def _request_compression(
    name: str | None, compressions: Sequence[Compression], accept_header: str
) -> Compression | None:
    if name is None or name.strip().lower() in ("", IDENTITY):
        return None
    wanted = name.strip().lower()
    for compression in compressions:
        if compression.name == wanted:
            return compression
    supported = ", ".join([*(c.name for c in compressions), IDENTITY])
    raise RejectedRequest(
        ConnectError(
            Code.UNIMPLEMENTED,
            f"unknown compression {name!r}: supported encodings are {supported}",
        ),
        headers=[(accept_header, accept_encoding_value(compressions))],
    )


def _response_compression(
    accept: str | None, request_compression: Compression | None, compressions: Sequence[Compression]
) -> Compression | None:
    if accept is None:
        return request_compression
    return choose_compression(parse_accept_encoding(accept), compressions)
