"""Helpers for the server tests: apps, TLS material, and raw HTTP/1.1 and HTTP/2 clients."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h11
import trio
from h2.settings import SettingCodes
from hyperframe.frame import Frame

from trioplugin.transport import ServerExchange

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
TIMEOUT = 10.0
"""The bound on every wait in these tests (virtual seconds where a MockClock runs)."""


async def read_body(exchange: ServerExchange) -> bytes:
    parts = []
    while chunk := await exchange.receive_data():
        parts.append(chunk)
    return b"".join(parts)


async def echo(exchange: ServerExchange) -> None:
    """Answer with the request body, and what the server told the app in headers."""
    body = await read_body(exchange)
    await exchange.send_response(
        200,
        [
            ("content-type", "application/octet-stream"),
            ("x-method", exchange.method),
            ("x-path", exchange.path),
            ("x-query", exchange.query),
            ("x-version", exchange.peer.http_version),
            ("x-custom", exchange.headers.first("x-custom") or ""),
        ],
        body,
    )


# A raw HTTP/1.1 client


class RawH11:
    """An h11 client on a trio stream, for tests that need control over every byte."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)
        # Requests written ahead (pipelined): h11 clients do not pipeline, so
        # they are fed to ``conn`` only when their response is due.
        self._queued: list[list[h11.Event]] = []

    @classmethod
    async def connect(cls, port: int) -> RawH11:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send(self, *events: h11.Event) -> None:
        data = b"".join(self.conn.send(event) or b"" for event in events)
        await self.stream.send_all(data)

    async def request(
        self,
        method: str = "POST",
        target: str = "/",
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        head = [("host", "test"), ("content-length", str(len(body))), *headers]
        events: list[h11.Event] = [
            h11.Request(method=method, target=target, headers=head),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ]
        if self.conn.our_state is h11.IDLE and not self._queued:
            await self.send(*events)
            return
        scratch = h11.Connection(h11.CLIENT)
        await self.stream.send_all(b"".join(scratch.send(event) or b"" for event in events))
        self._queued.append(events)

    async def next_event(self) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(bytes(await self.stream.receive_some()))
                continue
            return event  # type: ignore[return-value]

    async def response(self) -> tuple[h11.Response, bytes]:
        """The next whole response: head and body."""
        if self.conn.our_state is h11.IDLE and self._queued:
            for queued in self._queued.pop(0):
                self.conn.send(queued)
        event = await self.next_event()
        while isinstance(event, h11.InformationalResponse):
            event = await self.next_event()
        assert isinstance(event, h11.Response), event
        body = bytearray()
        while True:
            part = await self.next_event()
            if isinstance(part, h11.Data):
                body += part.data
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                raise AssertionError(part)
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return event, bytes(body)

    async def at_eof(self) -> bool:
        """Whether the server closed the connection (reads and drops what comes first)."""
        try:
            while await self.stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass
        return True

    async def aclose(self) -> None:
        await self.stream.aclose()


# A raw HTTP/2 client


@dataclass
class H2Response:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset_code: int | None = None


class RawH2:
    """An h2 client on a trio stream that records every event, per stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.responses: dict[int, H2Response] = {}
        self.events: list[h2.events.Event] = []
        self.terminated: h2.events.ConnectionTerminated | None = None
        self.closed = False
        self._send_lock = trio.StrictFIFOLock()
        self._background_reader = False
        self._progress = trio.Event()

    @classmethod
    async def connect(cls, port: int, *, window: int | None = None) -> RawH2:
        client = cls(await trio.open_tcp_stream("127.0.0.1", port))
        client.conn.initiate_connection()
        if window is not None:
            client.conn.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: window})
        await client.flush()
        return client

    async def flush(self) -> None:
        async with self._send_lock:
            data = self.conn.data_to_send()
            if data:
                await self.stream.send_all(data)

    def start_request(
        self,
        path: str = "/",
        *,
        end: bool = True,
        headers: Sequence[tuple[str, str]] = (),
    ) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        block = [
            (":method", "POST"),
            (":path", path),
            (":scheme", "http"),
            (":authority", "test"),
            *headers,
        ]
        self.conn.send_headers(stream_id, block, end_stream=end)
        self.responses[stream_id] = H2Response()
        return stream_id

    async def request(self, path: str = "/", body: bytes = b"") -> int:
        stream_id = self.start_request(path, end=not body)
        if body:
            self.conn.send_data(stream_id, body, end_stream=True)
        await self.flush()
        return stream_id

    async def receive(self) -> bool:
        """Read once and record the events; False at EOF."""
        if self.closed:
            return False
        try:
            data = await self.stream.receive_some()
        except trio.BrokenResourceError:
            data = b""
        if not data:
            self.closed = True
            return False
        for event in self.conn.receive_data(data):
            self.events.append(event)
            self._record(event)
        await self.flush()
        return True

    def _record(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            response = self.responses[event.stream_id]
            for name, value in event.headers:
                assert isinstance(name, bytes)
                assert isinstance(value, bytes)
                response.headers[name.decode()] = value.decode()
            response.status = int(response.headers[":status"])
        elif isinstance(event, h2.events.DataReceived):
            assert event.data is not None
            self.responses[event.stream_id].body += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.responses[event.stream_id].ended = True
        elif isinstance(event, h2.events.StreamReset):
            self.responses[event.stream_id].reset_code = int(event.error_code)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.terminated = event

    async def read_forever(self) -> None:
        """Read in the background (start it in a nursery); :meth:`until` then waits for it."""
        self._background_reader = True
        try:
            while await self.receive():
                self._progress.set()
                self._progress = trio.Event()
        finally:
            self._background_reader = False
            self._progress.set()

    async def until(self, done: object) -> None:
        """Read (or wait for the background reader) until ``done()`` is true; raise at EOF."""
        assert callable(done)
        while not done():
            if self.closed:
                raise AssertionError("the server closed the connection")
            if self._background_reader:
                await self._progress.wait()
            elif not await self.receive():
                raise AssertionError("the server closed the connection")

    async def response(self, stream_id: int) -> H2Response:
        response = self.responses[stream_id]
        await self.until(lambda: response.ended or response.reset_code is not None)
        return response

    async def until_closed(self) -> None:
        while await self.receive():
            pass

    async def aclose(self) -> None:
        await self.stream.aclose()


class FrameReader:
    """Splits what a server sends into frames (for clients built from raw frames)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes | bytearray) -> list[Frame]:
        self.buffer += data
        frames: list[Frame] = []
        while len(self.buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
            if len(self.buffer) < 9 + length:
                break
            frame.parse_body(memoryview(self.buffer[9 : 9 + length]))
            del self.buffer[: 9 + length]
            frames.append(frame)
        return frames


_readers: dict[int, FrameReader] = {}


async def read_frames(stream: trio.SocketStream) -> list[Frame]:
    """The frames in the next read from ``stream`` (empty at EOF)."""
    reader = _readers.setdefault(id(stream), FrameReader())
    try:
        data = await stream.receive_some()
    except trio.BrokenResourceError:
        data = b""
    return reader.feed(data)


async def read_frames_until_eof(stream: trio.SocketStream) -> list[Frame]:
    """Every frame the server sends until it closes."""
    reader = _readers.setdefault(id(stream), FrameReader())
    frames: list[Frame] = []
    while True:
        try:
            data = await stream.receive_some()
        except trio.BrokenResourceError:
            data = b""
        if not data:
            _readers.pop(id(stream), None)
            return frames
        frames += reader.feed(data)
