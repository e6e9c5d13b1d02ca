"""Shared helpers of the sans-IO HTTP/2 tests: frames as bytes, parsing queued output, shuttling.

``parse_frames`` reads what a :class:`Connection` queued back into frames;
the builders write frames a misbehaving peer would send; :class:`End` and
:func:`shuttle` wire two connections (ours, or ours and an ``h2`` one)
together in memory by moving ``data_to_send()`` bytes until both are quiet.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import h2.config
import h2.connection

from trioplugin.transport._http2 import Connection, Event
from trioplugin.transport._http2 import _frames as f
from trioplugin.transport._http2._hpack import StatelessHpackEncoder

Headers = list[tuple[bytes, bytes]]
T = TypeVar("T")

REQUEST: Final[Headers] = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/echo.EchoService/Echo"),
    (b":authority", b"localhost"),
    (b"content-type", b"application/proto"),
]
RESPONSE: Final[Headers] = [(b":status", b"200"), (b"content-type", b"application/proto")]
TRAILERS: Final[Headers] = [(b"grpc-status", b"0"), (b"x-trailer", b"done")]


@dataclass(frozen=True)
class Frame:
    """One frame read back from bytes a connection queued."""

    kind: int
    flags: int
    stream_id: int
    payload: bytes

    @property
    def code(self) -> int:
        """The error code of a RST_STREAM or GOAWAY frame."""
        offset = 4 if self.kind == f.GOAWAY else 0
        code: int = struct.unpack_from(">L", self.payload, offset)[0]
        return code

    @property
    def last_stream_id(self) -> int:
        """The last stream id of a GOAWAY frame."""
        return f.unpack_u32(self.payload) & f.STREAM_ID_MASK

    @property
    def increment(self) -> int:
        """The increment of a WINDOW_UPDATE frame."""
        return f.unpack_u32(self.payload) & f.STREAM_ID_MASK


def parse_frames(data: bytes) -> list[Frame]:
    """Every frame in ``data`` (a leading client preface is skipped); it must end on a frame."""
    pos = len(f.PREFACE) if data.startswith(f.PREFACE) else 0
    frames: list[Frame] = []
    while pos < len(data):
        high, low, kind, flags, stream_id = f.HEADER.unpack_from(data, pos)
        length = high << 16 | low
        start = pos + f.HEADER_SIZE
        pos = start + length
        assert pos <= len(data), "the queued bytes end inside a frame"
        frames.append(Frame(kind, flags, stream_id & f.STREAM_ID_MASK, data[start:pos]))
    return frames


def of_kind(frames: Iterable[Frame], kind: int) -> list[Frame]:
    """The frames of one type."""
    return [frame for frame in frames if frame.kind == kind]


# Building frames the way a peer (well-behaved or not) would.


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """Any frame, its length taken from the payload."""
    return f.frame_header(len(payload), kind, flags, stream_id) + payload


def block(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A header block that leaves HPACK's dynamic table alone (so it can be sent anywhere)."""
    return StatelessHpackEncoder().encode(headers)


def headers_frame(
    stream_id: int,
    headers: Iterable[tuple[bytes, bytes]],
    *,
    end_stream: bool = False,
    end_headers: bool = True,
) -> bytes:
    """A HEADERS frame carrying ``headers`` whole."""
    flags = (f.FLAG_END_STREAM if end_stream else 0) | (f.FLAG_END_HEADERS if end_headers else 0)
    return frame(f.HEADERS, flags, stream_id, block(headers))


def data_frame(stream_id: int, data: bytes, *, end_stream: bool = False) -> bytes:
    """A DATA frame without padding."""
    return f.data_frame(stream_id, data, end_stream)


def settings(values: dict[int, int]) -> bytes:
    """A SETTINGS frame."""
    return f.settings_frame(values)


def window_update(stream_id: int, increment: int) -> bytes:
    """A WINDOW_UPDATE frame (any increment, even the reserved bit)."""
    return f.window_update_frame(stream_id, increment)


def server(**options: int) -> Connection:
    """Our server after a client's preface and empty SETTINGS, its own output drained."""
    connection = Connection(client=False, **options)
    connection.receive(f.PREFACE + f.settings_frame({}))
    connection.data_to_send()
    return connection


def client(**options: int) -> Connection:
    """Our client after the server's empty SETTINGS, its own output drained."""
    connection = Connection(client=True, **options)
    connection.receive(f.settings_frame({}))
    connection.data_to_send()
    return connection


# Two endpoints in memory.


class End:
    """One endpoint of an in-memory connection: how to take its bytes and feed it, what it saw."""

    def __init__(
        self, take: Callable[[], bytes], feed: Callable[[bytes], Sequence[object]]
    ) -> None:
        self._take = take
        self._feed = feed
        self.events: list[object] = []

    def take(self) -> bytes:
        return self._take()

    def feed(self, data: bytes) -> list[object]:
        events = list(self._feed(data))
        self.events += events
        return events

    def pop_events(self) -> list[object]:
        """The events seen since the last call."""
        events, self.events = self.events, []
        return events


def ours(connection: Connection) -> End:
    """An :class:`End` around our connection."""
    return End(connection.data_to_send, connection.receive)


def theirs(connection: h2.connection.H2Connection) -> End:
    """An :class:`End` around an ``h2`` connection."""
    return End(connection.data_to_send, connection.receive_data)


def h2_peer(*, client_side: bool) -> h2.connection.H2Connection:
    """An ``h2`` connection, initiated, with bytes for headers (like ours)."""
    config = h2.config.H2Configuration(client_side=client_side, header_encoding=None)
    connection = h2.connection.H2Connection(config)
    connection.initiate_connection()
    return connection


def shuttle(a: End, b: End, *, chunk: int | None = None, limit: int = 10_000) -> None:
    """Move bytes both ways until neither end has anything to send.

    ``chunk`` delivers the bytes in pieces of that size (frames split anywhere).
    """
    for _ in range(limit):
        moved = False
        for source, target in ((a, b), (b, a)):
            data = source.take()
            if data:
                moved = True
                if chunk is None:
                    target.feed(data)
                else:
                    for start in range(0, len(data), chunk):
                        target.feed(data[start : start + chunk])
        if not moved:
            return
    raise AssertionError("the two ends never went quiet")


def events_of(events: Iterable[object], kind: type[T]) -> list[T]:
    """The events of one class."""
    return [event for event in events if isinstance(event, kind)]


def our_events(events: Iterable[object]) -> list[Event]:
    """The events of our connection (narrowed for the type checker)."""
    return events_of(events, Event)
