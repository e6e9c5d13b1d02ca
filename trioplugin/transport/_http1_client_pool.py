"""The connections of an :class:`~trioplugin.transport.HTTP1Transport`: opening them, and the pool.

A connection carries one exchange at a time. Between exchanges it waits in
the pool's idle stack: checkout takes the most recently used one (LIFO: it is
the one most likely still open, and the others can age out), and drops on the
way the ones that are older than the idle timeout or that the server has
closed (the socket is readable while nothing was asked of it). Without an
idle connection a new one is opened, up to ``max_connections``; beyond that,
exchanges wait in line (FIFO) and each connection that comes free, or each
slot that a closed connection leaves, goes to the first of them. Everything
is O(1) per checkout and release, and nothing runs in the background.
"""

from __future__ import annotations

import select
import ssl
from collections import deque
from typing import Final, final

import trio

from ..protocol import ConnectError
from ._client_connect import Stage, open_client_stream
from ._client_errors import (
    connect_timed_out,
    copy_error,
    transport_closed,
)
from ._http1 import MessageReader
from ._socket_io import SocketIO
from ._types import Peer

MAX_HEAD_SIZE: Final = 64 * 1024
"""The largest response head the client takes (status line and headers)."""
_POLLIN: Final = select.POLLIN | select.POLLPRI


@final
class H11Connection:
    """One HTTP/1.1 connection: the stream, the reader of its responses, who is at the other end."""

    __slots__ = ("_poll", "_socket", "idle_since", "io", "peer", "reader", "stream")

    def __init__(self, stream: trio.abc.Stream, socket: trio.socket.SocketType, peer: Peer) -> None:
        self.stream = stream
        self.io = SocketIO(stream)
        self._socket = socket
        self.peer = peer
        self.reader = MessageReader(client=True, max_head_size=MAX_HEAD_SIZE)
        self.idle_since = 0.0
        """When it last came back to the pool (trio time)."""
        self._poll = select.poll()
        self._poll.register(socket.fileno(), _POLLIN)

    def looks_closed(self) -> bool:
        """Whether the server closed it, or sent something unasked, while it sat idle.

        An idle HTTP/1.1 connection has nothing to read: if its socket is
        readable, it holds an EOF, a reset or garbage, and is of no more use.
        """
        try:
            return bool(self._poll.poll(0))
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        """Close the socket at once (no TLS close_notify); closing twice does nothing.

        A task blocked on the stream gets ``trio.ClosedResourceError`` (or
        ``BrokenResourceError`` through TLS).
        """
        self._socket.close()


async def open_connection(
    host: str,
    port: int,
    address: str,
    *,
    ssl_context: ssl.SSLContext | None,
    connect_timeout: float,
    unix_socket: str | None = None,
) -> H11Connection:
    """Connect to ``host:port`` (and do the TLS handshake) within ``connect_timeout`` seconds.

    Raises:
        ConnectError: ``unavailable``, an UnprocessedError that says why (refused,
            name resolution, TLS, or the timeout and what it was waiting for).
    """
    progress = Stage()
    with trio.move_on_after(connect_timeout):
        opened = await open_client_stream(
            host,
            port,
            address,
            ssl_context=ssl_context,
            progress=progress,
            unix_socket=unix_socket,
        )
        peer = Peer(opened.peer_address, "1.1", tls=opened.tls)
        return H11Connection(opened.stream, opened.tcp.socket, peer)
    raise connect_timed_out(address, connect_timeout, progress.stage)


@final
class _Waiter:
    """An exchange in line for a connection: it gets a free one, or a slot to open one in."""

    __slots__ = ("conn", "error", "event", "gone", "slot")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.conn: H11Connection | None = None
        self.slot = False
        self.error: ConnectError | None = None
        self.gone = False
        """It stopped waiting (cancelled); whatever comes free goes to the next one."""


@final
class Pool:
    """The keep-alive pool: idle connections (a LIFO stack), slots, and exchanges in line.

    A *slot* is a connection open or being opened; there are at most
    ``max_connections``. The exchange that holds a connection gives it back
    with :meth:`release`, saying whether it can carry another request.
    """

    __slots__ = (
        "_address",
        "_host",
        "_idle",
        "_idle_timeout",
        "_max",
        "_port",
        "_slots",
        "_ssl_context",
        "_timeout",
        "_unix_socket",
        "_waiters",
        "closed",
        "connecting",
        "connections",
        "in_use",
        "opened",
        "waiting",
    )

    def __init__(
        self,
        host: str,
        port: int,
        address: str,
        *,
        ssl_context: ssl.SSLContext | None,
        connect_timeout: float,
        max_connections: int,
        idle_timeout: float,
        unix_socket: str | None = None,
    ) -> None:
        self._unix_socket = unix_socket
        self._host = host
        self._port = port
        self._address = address
        self._ssl_context = ssl_context
        self._timeout = connect_timeout
        self._max = max_connections
        self._idle_timeout = idle_timeout
        self._idle: deque[H11Connection] = deque()
        self._waiters: deque[_Waiter] = deque()
        self._slots = 0
        self.connections: set[H11Connection] = set()
        """Connections open, idle or in use."""
        self.in_use = 0
        self.connecting = 0
        self.waiting = 0
        self.opened = 0
        self.closed = False

    @property
    def idle(self) -> int:
        """Connections in the idle stack."""
        return len(self._idle)

    # -- checkout ------------------------------------------------------------------------

    async def acquire(self) -> tuple[H11Connection, bool]:
        """A connection for one exchange, and whether it carried a request before.

        Raises:
            ConnectError: ``unavailable`` (an UnprocessedError): the transport is
                closed, or no connection could be opened.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self.closed:
            raise transport_closed()
        conn = self._take_idle()
        if conn is not None:
            self.in_use += 1
            return conn, True
        if self._slots < self._max:
            self._slots += 1
        else:
            conn = await self._wait()
            if conn is not None:
                return conn, True
        return await self._open(), False

    def _take_idle(self) -> H11Connection | None:
        idle = self._idle
        if not idle:
            return None
        expired = trio.current_time() - self._idle_timeout
        while idle:  # ends: each turn takes one connection off the stack
            if idle[0].idle_since <= expired:  # the oldest first: all of them may have aged
                self._drop(idle.popleft())
                continue
            conn = idle.pop()
            if conn.looks_closed():
                self._drop(conn)
                continue
            return conn
        return None

    async def _wait(self) -> H11Connection | None:
        """Wait in line; a free connection (already counted in use), or None for a slot."""
        waiter = _Waiter()
        self._waiters.append(waiter)
        self.waiting += 1
        try:
            await waiter.event.wait()
        except BaseException:
            waiter.gone = True
            # Handed something just as it was cancelled: it goes to the next in line.
            if waiter.conn is not None:
                self.release(waiter.conn, reusable=True)
            elif waiter.slot:
                self._free_slot()
            raise
        finally:
            self.waiting -= 1
        if waiter.error is not None:
            raise copy_error(waiter.error)
        return waiter.conn

    async def _open(self) -> H11Connection:
        """Open a connection in a slot the caller holds; the slot is given up if that fails."""
        self.connecting += 1
        try:
            conn = await open_connection(
                self._host,
                self._port,
                self._address,
                ssl_context=self._ssl_context,
                connect_timeout=self._timeout,
                unix_socket=self._unix_socket,
            )
        except BaseException:
            self._free_slot()
            raise
        finally:
            self.connecting -= 1
        if self.closed:
            conn.close()
            self._free_slot()
            raise transport_closed()
        self.opened += 1
        self.connections.add(conn)
        self.in_use += 1
        return conn

    async def replace(self, conn: H11Connection) -> H11Connection:
        """Close ``conn`` (in use) and open a fresh connection in its slot, for a retry."""
        conn.close()
        self.connections.discard(conn)
        self.in_use -= 1
        if self.closed:
            self._free_slot()
            raise transport_closed()
        return await self._open()

    # -- return --------------------------------------------------------------------------

    def release(self, conn: H11Connection, *, reusable: bool) -> None:
        """Give ``conn`` back: to the first exchange in line, to the idle stack, or closed."""
        self.in_use -= 1
        if not reusable or self.closed:
            self._drop(conn)
            return
        waiters = self._waiters
        while waiters:  # ends: each turn takes one waiter off the line
            waiter = waiters.popleft()
            if not waiter.gone:
                waiter.conn = conn
                self.in_use += 1
                waiter.event.set()
                return
        now = trio.current_time()
        conn.idle_since = now
        idle = self._idle
        idle.append(conn)
        expired = now - self._idle_timeout
        while idle[0].idle_since <= expired:  # ends: conn itself has not expired
            self._drop(idle.popleft())

    def _drop(self, conn: H11Connection) -> None:
        conn.close()
        self.connections.discard(conn)
        self._free_slot()

    def _free_slot(self) -> None:
        """A slot came free: it goes to the first exchange in line, if any."""
        waiters = self._waiters
        while waiters:  # ends: each turn takes one waiter off the line
            waiter = waiters.popleft()
            if not waiter.gone:
                waiter.slot = True
                waiter.event.set()
                return
        self._slots -= 1

    def close(self) -> None:
        """Close every connection, idle or in use, and fail every exchange in line."""
        self.closed = True
        error = transport_closed()
        while self._waiters:  # ends: each turn takes one waiter off the line
            waiter = self._waiters.popleft()
            waiter.error = error
            waiter.event.set()
        self._idle.clear()
        for conn in self.connections:
            conn.close()
        self.connections.clear()
