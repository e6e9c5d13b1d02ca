"""Tiny TCP servers on loopback that fail an HTTP/2 client in one precise way each.

:func:`fault_server` accepts connections and runs a script on each; the
scripts here stay silent, send bytes that are not HTTP/2, send a frame header
that claims too much, freeze after a request, or serve properly. Each
connection is a :class:`RawConnection` the test can inspect: what the client
sent, and whether it has closed its end. :class:`H2Peer` is the server end of
one connection in HTTP/2 (h2), moved step by step by a script: these scripts'
and those of the tests that write their own.

At the end, the client's side of such a test: :func:`call`, :func:`failing_call`
and :func:`concurrently`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TypeVar

import h2.config
import h2.connection
import h2.events
import pytest
import trio

from trioplugin.protocol import ConnectError
from trioplugin.transport._http2_client import HTTP2Transport

SETTINGS_FRAME = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
"""An empty SETTINGS frame: a server's whole connection preface."""
HUGE_FRAME_HEADER = b"\xff\xff\xff\x00\x00\x00\x00\x00\x01"
"""A DATA frame header on stream 1 claiming 2**24 - 1 bytes (which never come)."""


class RawConnection:
    """The server end of one accepted connection."""

    def __init__(self, stream: trio.abc.Stream, index: int = 0) -> None:
        self.stream = stream
        self.index = index
        """Its place among the connections its server accepted, from 0."""
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
T = TypeVar("T")


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
    """The server end of one HTTP/2 connection (h2), moved step by step by a script.

    h2 answers the client's PINGs and SETTINGS by itself; the peer gives back
    the flow-control window of every DATA frame, and keeps the client's GOAWAY
    and each request's headers. ``validate=False`` lets a script send headers
    that HTTP/2 forbids.
    """

    def __init__(self, connection: RawConnection, *, validate: bool = True) -> None:
        self.connection = connection
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=validate,
            normalize_outbound_headers=validate,
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.pending: deque[h2.events.Event] = deque()
        self.goaway: h2.events.ConnectionTerminated | None = None
        """The client's GOAWAY, once one arrived."""
        self.request_headers: dict[int, list[tuple[bytes, bytes]]] = {}
        """Each request's headers, by stream id."""

    async def handshake(self, max_concurrent_streams: int | None = None) -> None:
        if max_concurrent_streams is not None:
            self.h2.local_settings.max_concurrent_streams = max_concurrent_streams
        self.h2.initiate_connection()
        await self.flush()

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            await self.connection.stream.send_all(data)

    async def send_raw(self, data: bytes) -> None:
        """Send ``data`` as it is, past h2 (which does not learn of it)."""
        await self.connection.stream.send_all(data)

    def feed(self, data: bytes) -> None:
        """Take bytes from the client: their events wait in ``pending``, h2's answers to flush."""
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.request_headers[event.stream_id or 0] = [
                    (bytes(name), bytes(value)) for name, value in event.headers or ()
                ]
            if isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(
                    event.flow_controlled_length or 0, event.stream_id or 0
                )
            if isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event
            self.pending.append(event)

    async def next_event(self) -> h2.events.Event | None:
        """The next event from the client; None once it closed."""
        while not self.pending:
            data = await self.connection.read_some()
            if not data:
                return None
            self.feed(data)
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

    async def expect_request(self) -> int:
        """Wait for the next whole request, which must come; its stream id."""
        stream_id = await self.request()
        assert stream_id is not None, "the client closed the connection"
        return stream_id

    async def send_head(self, stream_id: int) -> None:
        """Send a 200 response's HEADERS (the stream stays open)."""
        self.h2.send_headers(stream_id, [(b":status", b"200")])
        await self.flush()

    async def respond(self, stream_id: int, body: bytes = b"ok") -> None:
        self.h2.send_headers(stream_id, [(b":status", b"200")])
        self.h2.send_data(stream_id, body, end_stream=True)
        await self.flush()

    async def serve(self) -> None:
        """Answer every request with 200 and b"ok" until the client closes."""
        while (stream_id := await self.request()) is not None:
            await self.respond(stream_id)

    async def drain(self) -> None:
        """Read (answering PINGs, ignoring the rest) until the client closes."""
        while await self.next_event() is not None:
            pass


async def head_of_first_response(connection: RawConnection) -> tuple[H2Peer, int]:
    """Handshake, take the first request and send its response head; the peer and stream id."""
    peer = H2Peer(connection)
    await peer.handshake()
    stream_id = await peer.expect_request()
    await peer.send_head(stream_id)
    return peer, stream_id


async def healthy(connection: RawConnection) -> None:
    """Serve HTTP/2 properly: answer every request with 200 and b"ok"."""
    peer = H2Peer(connection)
    await peer.handshake()
    await peer.serve()


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
    await peer.send_raw(HUGE_FRAME_HEADER)
    await peer.drain()


async def stream_slowly(connection: RawConnection) -> None:
    """Answer the first request with 10 chunks of body, 10 s apart; then serve properly."""
    peer, stream_id = await head_of_first_response(connection)
    for _ in range(10):
        await trio.sleep(10)
        peer.h2.send_data(stream_id, b"chunk")
        await peer.flush()
    peer.h2.end_stream(stream_id)
    await peer.flush()
    await peer.serve()


# -- the client's side --------------------------------------------------------------------


async def call(transport: HTTP2Transport, body: bytes = b"req") -> tuple[int, bytes]:
    """One POST over ``transport``: the response's status and whole body."""
    async with transport.exchange("POST", "/m", [], body=body) as exchange:
        status, _ = await exchange.receive_head()
        received = b""
        while chunk := await exchange.receive_data():
            received += chunk
        return status, received


async def failing_call(transport: HTTP2Transport) -> ConnectError:
    """One :func:`call`, which must fail; its error."""
    with pytest.raises(ConnectError) as info:
        await call(transport)
    return info.value


async def concurrently(count: int, one: Callable[[], Awaitable[T]]) -> list[T]:
    """Run ``one()`` ``count`` times at once; their results, in the order they came."""
    results: list[T] = []

    async def run() -> None:
        results.append(await one())

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(run)
    return results
