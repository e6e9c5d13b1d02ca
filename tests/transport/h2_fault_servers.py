"""Tiny TCP servers on loopback that fail an HTTP/2 client in one precise way each.

:func:`fault_server` accepts connections and runs a script on each; the
scripts here stay silent, send bytes that are not HTTP/2, send a frame header
that claims too much, freeze after a request, or serve properly (:class:`H2Peer`,
a small h2 server). Each connection is a :class:`RawConnection` the test can
inspect: what the client sent, and whether it has closed its end.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import h2.config
import h2.connection
import h2.events
import trio

SETTINGS_FRAME = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
"""An empty SETTINGS frame: a server's whole connection preface."""
HUGE_FRAME_HEADER = b"\xff\xff\xff\x00\x00\x00\x00\x00\x01"
"""A DATA frame header on stream 1 claiming 2**24 - 1 bytes (which never come)."""


class RawConnection:
    """The server end of one accepted connection."""

    def __init__(self, stream: trio.SocketStream, index: int) -> None:
        self.stream = stream
        self.index = index
        self.received = bytearray()
        """Everything read from the client so far."""
        self.closed_by_client = trio.Event()
        """Set once a read found the client's end closed."""

    async def read_some(self) -> bytes:
        """The next bytes from the client; b"" (and ``closed_by_client`` set) at its end."""
        try:
            data = await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self.closed_by_client.set()
        self.received += data
        return bytes(data)

    async def read_until_closed(self) -> None:
        """Read (and keep) whatever comes until the client closes its end."""
        while await self.read_some():
            pass


Script = Callable[[RawConnection], Awaitable[None]]


class FaultServer:
    """A listening fault server: its URL and the connections it accepted, in order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connections: list[RawConnection] = []
        self._accepted = trio.Event()

    async def wait_accepted(self, count: int) -> RawConnection:
        """Wait until ``count`` connections were accepted; the last of them."""
        while len(self.connections) < count:
            await self._accepted.wait()
        return self.connections[count - 1]

    def _add(self, connection: RawConnection) -> None:
        self.connections.append(connection)
        self._accepted.set()
        self._accepted = trio.Event()


@asynccontextmanager
async def fault_server(*scripts: Script) -> AsyncIterator[FaultServer]:
    """Serve the n-th connection with ``scripts[n]`` (the last one for all after it)."""
    server: FaultServer | None = None

    async def handle(stream: trio.SocketStream) -> None:
        assert server is not None
        connection = RawConnection(stream, len(server.connections))
        server._add(connection)
        script = scripts[min(connection.index, len(scripts) - 1)]
        async with stream:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await script(connection)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        server = FaultServer(f"http://127.0.0.1:{port}")
        yield server
        nursery.cancel_scope.cancel()


# -- scripts ----------------------------------------------------------------------------


async def silent(connection: RawConnection) -> None:
    """Accept and send nothing: the client waits for a SETTINGS that never comes."""
    await connection.read_until_closed()


def send_and_hold(data: bytes) -> Script:
    """Send ``data`` at once, then hold the connection open, reading."""

    async def script(connection: RawConnection) -> None:
        await connection.stream.send_all(data)
        await connection.read_until_closed()

    return script


class H2Peer:
    """A small HTTP/2 server on one connection (h2), moved by the scripts below."""

    def __init__(self, connection: RawConnection) -> None:
        self.connection = connection
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=config)
        self.pending: deque[h2.events.Event] = deque()
        self.goaway: h2.events.ConnectionTerminated | None = None
        """The client's GOAWAY, once one arrived."""

    async def handshake(self) -> None:
        self.h2.initiate_connection()
        await self.flush()

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            await self.connection.stream.send_all(data)

    async def next_event(self) -> h2.events.Event | None:
        """The next event from the client (PINGs are answered); None once it closed."""
        while not self.pending:
            data = await self.connection.read_some()
            if not data:
                return None
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    self.h2.acknowledge_received_data(
                        event.flow_controlled_length or 0, event.stream_id or 0
                    )
                if isinstance(event, h2.events.ConnectionTerminated):
                    self.goaway = event
                self.pending.append(event)
            await self.flush()
        return self.pending.popleft()

    async def request(self) -> int | None:
        """Wait for the next whole request; its stream id, or None if the client closed."""
        while True:
            event = await self.next_event()
            if event is None:
                return None
            if isinstance(event, h2.events.StreamEnded):
                return event.stream_id or 0

    async def respond(self, stream_id: int, body: bytes = b"ok") -> None:
        self.h2.send_headers(stream_id, [(b":status", b"200")])
        self.h2.send_data(stream_id, body, end_stream=True)
        await self.flush()

    async def drain(self) -> None:
        """Read (answering PINGs, ignoring the rest) until the client closes."""
        while await self.next_event() is not None:
            pass


async def healthy(connection: RawConnection) -> None:
    """Serve HTTP/2 properly: answer every request with 200 and b"ok"."""
    peer = H2Peer(connection)
    await peer.handshake()
    while (stream_id := await peer.request()) is not None:
        await peer.respond(stream_id)


async def freeze_after_request(connection: RawConnection) -> None:
    """Speak HTTP/2 until the first request arrives, then stop reading and answering."""
    peer = H2Peer(connection)
    await peer.handshake()
    await peer.request()
    await trio.sleep_forever()


async def huge_frame_after_request(connection: RawConnection) -> None:
    """Take a request, answer with a frame header claiming 2**24 - 1 bytes; read what follows."""
    peer = H2Peer(connection)
    await peer.handshake()
    await peer.request()
    await connection.stream.send_all(HUGE_FRAME_HEADER)
    await peer.drain()


async def stream_slowly(connection: RawConnection) -> None:
    """Answer the first request with 10 chunks of body, 10 s apart; then serve properly."""
    peer = H2Peer(connection)
    await peer.handshake()
    stream_id = await peer.request()
    assert stream_id is not None
    peer.h2.send_headers(stream_id, [(b":status", b"200")])
    await peer.flush()
    for _ in range(10):
        await trio.sleep(10)
        peer.h2.send_data(stream_id, b"chunk")
        await peer.flush()
    peer.h2.end_stream(stream_id)
    await peer.flush()
    while (stream_id := await peer.request()) is not None:
        await peer.respond(stream_id)
