"""Client-side checks of a response's head, and errors inferred from HTTP statuses."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from . import _headers as h
from ._code import Code
from ._compression import IDENTITY, Compression
from ._error import ConnectError, error_from_json
from ._metadata import Metadata


def unary_error_from_response(status: int, headers: Metadata, body: bytes) -> ConnectError:
    """The error a non-200 unary response carries, inferring it from the status if need be."""
    fallback = Code.from_http_status(status)
    content_type = (headers.first(h.CONTENT_TYPE) or "").partition(";")[0].strip().lower()
    if content_type == h.JSON_ERROR_CONTENT_TYPE and body:
        error = error_from_json(body, fallback_code=fallback, metadata=headers)
        if error.message or error.code is not fallback:
            return error
    return ConnectError(fallback, _status_text(status), metadata=headers, wire=True)


def stream_error_from_status(status: int, headers: Metadata) -> ConnectError:
    """The error for a streaming response that did not come back 200."""
    return ConnectError(
        Code.from_http_status(status), _status_text(status), metadata=headers, wire=True
    )


def check_response_content_type(headers: Metadata, *, codec: str, streaming: bool) -> None:
    """Check a 200 response's content type matches the request's.

    Raises:
        ConnectError: ``internal`` if it does not.
    """
    value = headers.first(h.CONTENT_TYPE)
    parsed = h.parse_content_type(value)
    if parsed is None or parsed.codec != codec or parsed.streaming != streaming:
        expected = h.ContentType(codec, streaming).header_value()
        raise ConnectError(
            Code.INTERNAL,
            f"invalid content-type {value!r} in response; expecting {expected!r}",
            metadata=headers,
        )


def response_compression(
    headers: Metadata, *, streaming: bool, compressions: Sequence[Compression]
) -> Compression | None:
    """The compression a response says it uses.

    Raises:
        ConnectError: ``internal`` if it names one we did not offer.
    """
    header = h.CONNECT_CONTENT_ENCODING if streaming else h.CONTENT_ENCODING
    name = (headers.first(header) or "").strip().lower()
    if name in ("", IDENTITY):
        return None
    for compression in compressions:
        if compression.name == name:
            return compression
    raise ConnectError(
        Code.INTERNAL,
        f"server used compression {name!r}, which the client did not offer",
        metadata=headers,
    )


def _status_text(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Client Closed Request" if status == 499 else ""
    return f"HTTP status {status} {phrase}".rstrip()
