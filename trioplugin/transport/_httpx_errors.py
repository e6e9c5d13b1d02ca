"""httpx's failures as Connect errors, for the transport over ``httpx.AsyncClient``.

Only :mod:`._httpx_client` imports this (and so httpx): ``import trioplugin``
does not.
"""

from __future__ import annotations

import ssl

import httpx

from ..protocol import Code, ConnectError
from ._client_errors import (
    connect_failed,
    connection_lost,
    find_cause,
    tls_failed,
    tls_rejected,
    with_cause,
)


def from_httpx(address: str, exc: httpx.HTTPError) -> ConnectError:
    """Map an httpx failure on a request to ``address`` to a ConnectError."""
    if isinstance(exc, httpx.ConnectTimeout):
        return connect_failed(address, exc)
    if isinstance(exc, httpx.TimeoutException):
        return with_cause(
            ConnectError(Code.DEADLINE_EXCEEDED, f"request to {address} timed out ({exc})"), exc
        )
    if isinstance(exc, httpx.ConnectError):
        if find_cause(exc, ssl.SSLError) is not None:
            return tls_failed(address, exc)
        return connect_failed(address, find_cause(exc, OSError) or exc)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.NetworkError | httpx.ProxyError):
        rejected = tls_rejected(address, exc)  # TLS 1.3: the verdict on our certificate
        if rejected is not None:
            return rejected
        if find_cause(exc, ssl.SSLError) is not None and isinstance(exc, httpx.ReadError):
            return connection_lost(address, exc)
        reason = str(exc) or type(exc).__name__
        return with_cause(
            ConnectError(Code.UNAVAILABLE, f"connection to {address} lost: {reason}"), exc
        )
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return with_cause(
            ConnectError(Code.INTERNAL, f"cannot send the request to {address}: {exc}"), exc
        )
    return with_cause(
        ConnectError(Code.UNKNOWN, f"request to {address} failed: {type(exc).__name__}: {exc}"),
        exc,
    )
