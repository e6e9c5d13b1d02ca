"""Errors a client reads from a unary error response, or infers from an HTTP status."""

from __future__ import annotations

from http import HTTPStatus

from . import _headers as h
from ._code import Code
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


def error_from_status(status: int, headers: Metadata) -> ConnectError:
    """The error a response that carries no Connect error stands for: its status's code."""
    return ConnectError(
        Code.from_http_status(status), _status_text(status), metadata=headers, wire=True
    )


def _status_text(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Client Closed Request" if status == 499 else ""
    return f"HTTP status {status} {phrase}".rstrip()
