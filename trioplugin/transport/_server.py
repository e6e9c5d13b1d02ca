"""The HTTP server: listen, accept, serve each connection, shut down gracefully.

A connection is served in its own task inside its own error boundary (see
:mod:`._server_conn`); the server only accepts, counts, and winds down.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Final, final

import trio

from .._util import NoPublicConstructor, open_transparent_nursery
from ._limits import ServerLimits
from ._server_conn import serve_connection
from ._server_context import ServerContext, logger
from ._server_stats import ServerStatistics
from ._server_tls import configure_alpn
from ._types import ServerApp

# accept() fails with these when the process or the system runs out of
# something; they pass, so the server waits a little and tries again.
_ACCEPT_RESOURCE_ERRNOS: Final = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
)
_ACCEPT_RETRY_DELAY: Final = 0.1


@final
class Server(metaclass=NoPublicConstructor):
    """A running server, as :func:`open_server` and :func:`serve` hand it out.

    Not constructed directly. It tells where it listens, what it has done
    (:meth:`statistics`), and shuts down with :meth:`aclose`.
    """

    def __init__(
        self,
        ctx: ServerContext,
        listeners: Sequence[trio.SocketListener],
        grace_period: float,
    ) -> None:
        if not listeners:
            raise ValueError("a server needs at least one listener")
        self._ctx = ctx
        self._listeners = list(listeners)
        name = self._listeners[0].socket.getsockname()
        self._address: tuple[str, int] | str = (
            (str(name[0]), int(name[1])) if isinstance(name, tuple) else str(name)
        )
        self._grace_period = grace_period
        self._shutdown_requested = trio.Event()
        self._stopped = trio.Event()
        self._scope = trio.CancelScope()

    @property
    def address(self) -> tuple[str, int] | str:
        """Where the (first) listener is bound: (host, port), or a unix socket path."""
        return self._address

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with ``port=0``)."""
        address = self.address
        if isinstance(address, str):
            raise RuntimeError("this server listens on a unix socket, not a TCP port")
        return address[1]

    @property
    def url(self) -> str:
        """The base URL to reach the server, e.g. ``http://127.0.0.1:8080``."""
        address = self.address
        scheme = "https" if self._ctx.ssl_context is not None else "http"
        if isinstance(address, str):
            raise RuntimeError("this server listens on a unix socket: it has no URL")
        host = address[0]
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{address[1]}"

    def statistics(self) -> ServerStatistics:
        """What the server has done so far, and what it is doing now."""
        return self._ctx.counters.snapshot()

    async def aclose(self) -> None:
        """Shut down gracefully and wait until the server has stopped.

        Listeners close at once (new connections are refused); HTTP/2
        connections get a GOAWAY, idle HTTP/1.1 connections close, and
        requests in flight have the grace period to finish before they are
        cancelled. If this call is cancelled, the server stops at once (and
        the call still waits for that, which is quick).
        """
        self._shutdown_requested.set()
        try:
            await self._stopped.wait()
        except trio.Cancelled:
            self._scope.cancel()
            with trio.CancelScope(shield=True):
                await self._stopped.wait()
            raise

    def _stop_now(self) -> None:
        self._shutdown_requested.set()
        self._scope.cancel()

    async def _run(self, task_status: trio.TaskStatus[Server]) -> None:
        ctx = self._ctx
        try:
            with self._scope:
                async with trio.open_nursery() as connections:
                    async with trio.open_nursery() as acceptors:
                        for listener in self._listeners:
                            acceptors.start_soon(self._accept_loop, listener, connections)
                        task_status.started(self)
                        await self._shutdown_requested.wait()
                        acceptors.cancel_scope.cancel()
                    self._close_listeners()
                    ctx.start_shutdown()
                    if ctx.counters.open_connections:
                        with trio.move_on_after(self._grace_period):
                            await ctx.all_closed.wait()
                        if ctx.counters.open_connections:
                            logger.info(
                                "grace period over: cancelling %d connection(s)",
                                ctx.counters.open_connections,
                            )
                    connections.cancel_scope.cancel()
        finally:
            self._close_listeners()
            self._stopped.set()

    def _close_listeners(self) -> None:
        # Synchronous, so it also runs to the end in a cancelled scope.
        for listener in self._listeners:
            listener.socket.close()

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        ctx = self._ctx
        counters = ctx.counters
        cap = ctx.limits.max_connections
        while True:
            try:
                transport = await listener.accept()
            except trio.ClosedResourceError:
                return
            except OSError as exc:
                if exc.errno not in _ACCEPT_RESOURCE_ERRNOS:
                    raise
                logger.error("accept() failed (%s); trying again shortly", exc)
                await trio.sleep(_ACCEPT_RETRY_DELAY)
                continue
            counters.connections_accepted += 1
            if cap is not None and counters.open_connections >= cap:
                counters.connections_refused += 1
                transport.socket.close()
                logger.info("refused a connection: max_connections (%d) are open", cap)
                continue
            counters.open_connections += 1
            nursery.start_soon(serve_connection, transport, ctx)


async def serve(
    app: ServerApp,
    *,
    host: str | None = "127.0.0.1",
    port: int = 0,
    listeners: Sequence[trio.SocketListener] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    limits: ServerLimits | None = None,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` over HTTP/1.1 and HTTP/2 until cancelled or :meth:`Server.aclose`.

    Start it with ``server = await nursery.start(serve, app, ...)`` to get the
    :class:`Server` once it listens.

    Args:
        app: called once per request, each in its own task (HTTP/2 streams
            run concurrently; HTTP/1.1 requests of one connection in turn).
        host: the address to bind (``None``: every interface).
        port: the TCP port; 0 picks a free one (see :attr:`Server.port`).
        listeners: listeners to serve instead of binding ``host``/``port``
            (for instance on a unix socket); the server closes them when it stops.
        ssl_context: serve TLS with this context. The server sets its ALPN
            protocols to ``["h2", "http/1.1"]`` (the context is changed in
            place). For mTLS, set ``verify_mode = ssl.CERT_REQUIRED`` and load the
            client CAs: the verified client certificate reaches the app as
            ``exchange.peer.tls.certificate`` (a
            :class:`~trioplugin.transport.PeerCertificate`). A client it
            refuses is sent the TLS alert that says why.
        limits: sizes, counts and timeouts, and the grace period requests in
            flight get on shutdown (defaults: :class:`ServerLimits()`).
        task_status: for :meth:`trio.Nursery.start`.
    """
    limits = ServerLimits() if limits is None else limits
    if listeners is None:
        listeners = await trio.open_tcp_listeners(port, host=host)
    if ssl_context is not None:
        configure_alpn(ssl_context)
    ctx = ServerContext(app, limits, ssl_context)
    server = Server._create(ctx, listeners, limits.grace_period)
    await server._run(task_status)


@asynccontextmanager
async def open_server(
    app: ServerApp,
    *,
    host: str | None = "127.0.0.1",
    port: int = 0,
    listeners: Sequence[trio.SocketListener] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    limits: ServerLimits | None = None,
) -> AsyncIterator[Server]:
    """Serve ``app`` for the duration of an ``async with`` block.

    The arguments are those of :func:`serve`. Leaving the block normally shuts
    the server down gracefully (as :meth:`Server.aclose`); leaving it with an
    exception (cancellation included) stops it at once and lets the
    exception through unchanged. So do errors in starting (e.g. a port in use).
    """
    start = partial(
        serve,
        app,
        host=host,
        port=port,
        listeners=listeners,
        ssl_context=ssl_context,
        limits=limits,
    )
    async with open_transparent_nursery() as nursery:
        server: Server = await nursery.start(start)
        try:
            yield server
        except BaseException:
            server._stop_now()
            raise
        await server.aclose()
