"""One accepted connection, from TLS and protocol choice to close, in its own error boundary."""

from __future__ import annotations

from typing import Final

import trio

from ._server_context import MAX_RECEIVE, ServerContext, logger, peer_address
from ._server_http1 import H11Connection
from ._server_http2 import H2Connection
from ._server_tls import HandshakeFailed, linger, tls_handshake
from ._types import Peer, TLSInfo

H2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""What an HTTP/2 client sends first (RFC 9113 §3.4); cleartext clients use prior knowledge."""


async def serve_connection(transport: trio.SocketStream, ctx: ServerContext) -> None:
    """Serve one accepted connection until it ends, then close it.

    Whatever goes wrong on this connection stays here (logged); only
    cancellation and non-``Exception`` errors leave. The caller has counted
    the connection as open; it is counted closed here.
    """
    stream: trio.abc.Stream = transport
    address = peer_address(transport)
    try:
        await _serve(transport, ctx, address)
    except Exception as exc:
        # The error boundary: one bad connection must never take the server down.
        logger.warning("connection from %s failed", address, exc_info=exc)
    finally:
        ctx.connection_closed()
        await trio.aclose_forcefully(stream)


class _Opening:
    """A connection still in its TLS handshake or first bytes: a shutdown just drops it."""

    __slots__ = ("scope",)

    def __init__(self) -> None:
        self.scope = trio.CancelScope()

    def shutdown(self) -> None:
        self.scope.cancel()


async def _serve(
    transport: trio.SocketStream, ctx: ServerContext, address: tuple[str, int] | str | None
) -> None:
    opening = _Opening()
    opened = None
    ctx.register(opening)
    try:
        with opening.scope:
            opened = await _open(transport, ctx, address)
    finally:
        ctx.unregister(opening)
    if opening.scope.cancelled_caught or opened is None:
        return
    stream, tls, http2, received, head_deadline = opened
    connection: H2Connection | H11Connection
    if http2:
        connection = H2Connection(stream, ctx, Peer(address, "2", tls), received)
    else:
        connection = H11Connection(stream, ctx, Peer(address, "1.1", tls), received, head_deadline)
    ctx.register(connection)
    try:
        await connection.run()
    finally:
        ctx.unregister(connection)


async def _open(
    transport: trio.SocketStream, ctx: ServerContext, address: tuple[str, int] | str | None
) -> tuple[trio.abc.Stream, TLSInfo | None, bool, bytes, float] | None:
    """TLS, then the protocol: ALPN's choice, or HTTP/2's preface told from HTTP/1.1.

    Returns the stream to speak HTTP on, the TLS session, whether it is
    HTTP/2, the bytes already read, and the deadline of the first request
    head; None if the connection is to be closed.
    """
    limits = ctx.limits
    stream: trio.abc.Stream = transport
    tls: TLSInfo | None = None
    alpn: str | None = None
    if ctx.ssl_context is not None:
        handshake: tuple[trio.SSLStream[trio.SocketStream], TLSInfo] | None = None
        failed: HandshakeFailed | None = None
        with trio.move_on_after(limits.header_read_timeout):
            try:
                handshake = await tls_handshake(transport, ctx.ssl_context)
            except HandshakeFailed as exc:
                failed = exc
        if failed is not None:
            ctx.counters.tls_handshake_failures += 1
            logger.info("TLS handshake with %s failed: %s", address, failed)
            if failed.alerted:
                await linger(transport)  # so that the client reads why (bounded on its own)
            return None
        if handshake is None:
            ctx.counters.tls_handshake_failures += 1
            ctx.counters.closed_timeout += 1
            logger.info("TLS handshake with %s timed out", address)
            return None
        stream, tls = handshake
        alpn = tls.alpn_protocol
    head_deadline = trio.current_time() + limits.header_read_timeout
    if alpn == "h2":
        return stream, tls, True, b"", head_deadline
    if alpn == "http/1.1":
        return stream, tls, False, b"", head_deadline
    # Cleartext (or TLS without ALPN): HTTP/2 with prior knowledge starts with
    # its preface, HTTP/1.1 with a request line.
    received = b""
    with trio.move_on_at(head_deadline):
        while len(received) < len(H2_PREFACE) and H2_PREFACE.startswith(received):
            try:
                data = await stream.receive_some(MAX_RECEIVE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
            if not data:
                return None
            received += data
    if len(received) < len(H2_PREFACE) and H2_PREFACE.startswith(received):
        ctx.counters.closed_timeout += 1
        logger.info("closing %s: nothing sent in time", address)
        return None
    return stream, tls, received.startswith(H2_PREFACE), received, head_deadline
