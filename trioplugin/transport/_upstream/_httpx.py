"""httpx and httpcore, under the transport over ``httpx.AsyncClient``: what it counts on them for.

The transport (``_httpx_client.py``) uses httpx's public API; what it takes
from httpx and httpcore beyond what they promise, or works around, is here,
marked ``X1`` ... ``X6`` and listed in ``_upstream/__init__.py``, each with a
canary in ``tests/transport/test_upstream_canaries.py``. Only
``_httpx_client`` imports this module (and so httpx): ``import trioplugin``
does not.

Two of them are behaviour rather than code, relied on where the transport
calls httpx:

- X4: ``Response.aclose()`` in a cancelled scope still hands the connection
  back to the pool, because httpcore shields its cleanup
  (``AsyncShieldCancellation``, encode/httpcore#726). encode/httpcore#927
  (open) proposes to drop the shield for synchronous state changes.
- X5: httpcore applies the ``connect`` timeout to the TCP connect and again
  to the TLS handshake (``AsyncHTTPConnection._connect`` passes it to both),
  so an attempt takes at most twice it. No upstream issue found.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

import httpx

from ...protocol import Code, ConnectError
from .._client_errors import (
    connect_failed,
    connection_lost,
    find_cause,
    tls_failed,
    tls_rejected,
    with_cause,
)
from .._types import HTTPVersion, Peer, TLSInfo


def from_httpx(address: str, exc: httpx.HTTPError) -> ConnectError:
    """Map an httpx failure on a request to ``address`` to a ConnectError.

    X1: the cause of a failure is found in the exception's ``__cause__``
    chain: httpx raises its own exception ``from`` httpcore's, and httpcore
    ``from`` the network backend's (encode/httpcore#678), which on trio is
    ``trio.BrokenResourceError`` from the ``ssl.SSLError`` or an ``OSError``.
    httpx has no exception of its own for a TLS failure (encode/httpx#3350,
    open): a TLS handshake that fails is an ``httpx.ConnectError``.
    """
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


def peer_of(response: httpx.Response) -> Peer:
    """Where the response came from, as far as httpcore tells (best effort).

    X2: httpcore's response extensions (documented by httpcore, not by
    httpx): ``http_version`` (as ``Response.http_version``) and
    ``network_stream``, whose ``get_extra_info`` answers ``"server_addr"``
    and ``"ssl_object"``. Another transport under the client may have none.
    """
    version: HTTPVersion = "2" if response.http_version == "HTTP/2" else "1.1"
    stream = response.extensions.get("network_stream")
    if stream is None:
        return Peer(None, version)
    try:
        address = stream.get_extra_info("server_addr")
        ssl_object: ssl.SSLObject | None = stream.get_extra_info("ssl_object")
    except Exception:  # an exotic transport: no peer details
        return Peer(None, version)
    tls = None
    if ssl_object is not None:
        cipher = ssl_object.cipher()
        tls = TLSInfo(
            version=ssl_object.version(),
            cipher=cipher[0] if cipher else None,
            alpn_protocol=ssl_object.selected_alpn_protocol(),
            peer_certificate=ssl_object.getpeercert() or None,
            peer_certificate_der=ssl_object.getpeercert(binary_form=True),
        )
    peer_address = (str(address[0]), int(address[1])) if isinstance(address, tuple) else None
    return Peer(peer_address, version, tls=tls)


def drop_default_accept_encoding(
    request: httpx.Request, headers: Sequence[tuple[str, str]]
) -> None:
    """Remove the ``Accept-Encoding`` httpx put on ``request`` unless ``headers`` set one.

    X3: httpx adds its client's default ``Accept-Encoding`` (gzip, deflate
    and whatever else it can decode) when it builds a request, not when it
    sends one, so removing it from the built request keeps it off the wire.
    No upstream issue found.
    """
    if not any(name.lower() == "accept-encoding" for name, _ in headers):
        request.headers.pop("accept-encoding", None)
