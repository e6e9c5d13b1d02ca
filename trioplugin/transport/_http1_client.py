"""A client transport over HTTP/1.1 of our own, on trio and httptools, with a keep-alive pool.

It is the transport for HTTP/1.1 servers: one request at a time per
connection, connections kept alive between requests in a pool (see
:mod:`._http1_client_pool`), and no task of its own. It is not full duplex
(HTTP/1.1 cannot be, in practice): bidi calls need
:func:`~trioplugin.transport.open_http2_transport`. Callers who configured an
``httpx.AsyncClient`` of their own can still use
:func:`~trioplugin.transport.open_httpx_transport`.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final, final

import trio

from .._util import NoPublicConstructor
from ._http1_client_exchange import HTTP1ClientExchange
from ._http1_client_pool import Pool
from ._http2_client import _Origin
from ._limits import ClientLimits


@dataclass(frozen=True, slots=True)
class HTTP1TransportStatistics:
    """A snapshot of an :class:`HTTP1Transport`, as :meth:`HTTP1Transport.statistics` returns it."""

    connections: int
    """Connections open, idle or carrying an exchange (not counting ones being opened)."""
    idle_connections: int
    """Connections waiting in the pool for the next exchange."""
    in_use: int
    """Connections carrying an exchange."""
    connecting: int
    """Connections being opened (TCP connect and TLS handshake)."""
    waiting: int
    """Exchanges waiting for a connection because ``max_connections`` are open."""
    connections_opened: int
    """Connections opened since the transport was created."""


@final
class HTTP1Transport(metaclass=NoPublicConstructor):
    """A :class:`~trioplugin.transport.ClientTransport` over HTTP/1.1 (cleartext or TLS).

    Create it with :func:`open_http1_transport`. Each exchange has a connection
    to itself: the most recently used idle one from the pool, or a new one
    (at most ``max_connections`` are open; beyond that, exchanges wait in
    line for the next free one, first come first served). A connection goes
    back to the pool when its response has ended and neither side asked to
    close it; an exchange left early closes its connection. Not full duplex:
    the response is read after the request has been sent.
    """

    full_duplex: Final = False
    """HTTP/1.1: the response is read once the request has been sent."""

    def __init__(
        self,
        origin: _Origin,
        *,
        ssl_context: ssl.SSLContext | None,
        limits: ClientLimits,
    ) -> None:
        self._scheme = origin.scheme
        self._authority = origin.authority
        self._address = origin.address
        self._prefix = origin.prefix
        self._request_lines: dict[tuple[str, str, tuple[tuple[str, str], ...]], bytes] = {}
        """Encoded request lines by method, path and headers (see HTTP1ClientExchange)."""
        self._limits = limits
        self._pool = Pool(
            origin.host,
            origin.port,
            origin.address,
            ssl_context=ssl_context,
            connect_timeout=limits.connect_timeout,
            max_connections=limits.max_connections,
            idle_timeout=limits.idle_timeout,
            unix_socket=origin.unix_socket,
        )

    @property
    def limits(self) -> ClientLimits:
        """The waits the transport bounds on its own: connecting (TCP and TLS)."""
        return self._limits

    @property
    def base_url(self) -> str:
        """The origin and path prefix every exchange's path is appended to."""
        return f"{self._scheme}://{self._authority}{self._prefix}"

    def exchange(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        *,
        body: bytes | None = None,
    ) -> HTTP1ClientExchange:
        """Open a request to ``path`` (appended to the base URL's path); an async context manager.

        With ``body``, the request goes out whole (``Content-Length``) on
        entering; without, its body is streamed (``Transfer-Encoding:
        chunked``) with ``send_data`` and ``end_request``. ``Host`` and the
        framing headers are the exchange's own; any given are dropped.

        Raises:
            ConnectError: on entering, ``unavailable`` (an UnprocessedError) if no
                connection can be made or the transport is closed.
            ValueError: on entering, an invalid method, path, header name or value.
        """
        return HTTP1ClientExchange._create(self, method, path, headers, body)

    def statistics(self) -> HTTP1TransportStatistics:
        """What the transport holds right now."""
        pool = self._pool
        return HTTP1TransportStatistics(
            connections=len(pool.connections),
            idle_connections=pool.idle,
            in_use=pool.in_use,
            connecting=pool.connecting,
            waiting=pool.waiting,
            connections_opened=pool.opened,
        )

    async def aclose(self) -> None:
        """Close every connection; later exchanges fail with ``unavailable``.

        Exchanges in flight fail with ``unavailable`` ("transport is closed"),
        and so do those waiting for a connection.
        """
        self._pool.close()
        await trio.lowlevel.checkpoint()


@asynccontextmanager
async def open_http1_transport(
    base_url: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    limits: ClientLimits | None = None,
    unix_socket: str | None = None,
) -> AsyncIterator[HTTP1Transport]:
    """Open an HTTP/1.1 client transport to ``base_url``; close its connections on exit.

    ``https://`` URLs use TLS with ALPN ``http/1.1``, on ``ssl_context`` if
    given (bring client certificates for mTLS with it; note that its ALPN
    protocols are set) or on a default context that verifies the server; a
    TLS handshake that fails raises :class:`~trioplugin.transport.TLSError`,
    whose ``reason`` says why. A path in ``base_url`` prefixes every
    exchange's path. With ``unix_socket``, connections go to that unix
    socket instead of the URL's host and port (which still name the server:
    its ``Host`` header, and the name TLS checks its certificate for).

    From ``limits`` (a :class:`~trioplugin.transport.ClientLimits`, its
    defaults if None) the pool's ``max_connections`` and ``idle_timeout``
    apply, and ``connect_timeout``: it bounds the TCP connect and the TLS
    handshake together, and a connection not made in time fails the exchange
    with ``unavailable`` (an UnprocessedError: nothing was sent).
    HTTP/1.1 has no pings: a server that takes a request and then stalls
    holds the exchange until the caller's deadline.

    An exception raised in the block comes out of it as raised.

    Raises:
        ValueError: a bad ``base_url``.
    """
    origin = _Origin.parse(base_url, unix_socket)
    if origin.scheme == "https":
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
        ssl_context.set_alpn_protocols(["http/1.1"])
    else:
        ssl_context = None
    transport = HTTP1Transport._create(
        origin,
        ssl_context=ssl_context,
        limits=ClientLimits() if limits is None else limits,
    )
    try:
        yield transport
    finally:
        transport._pool.close()  # no await: nothing to wait for, and the block's error stays as is
