"""Properties of our HTTP/2 connection, checked with hypothesis.

Frames are parsed incrementally: any split of a byte stream yields what
feeding it whole does. Arbitrary bytes after the preface, or arbitrary
frames, end in H2ConnectionError (a GOAWAY queued) or in events, never in
another exception, for both sides. And flow control between our client and
our server never deadlocks, whatever the body sizes, windows and the pace at
which each side reads and acknowledges, and delivers the exact bytes.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trioplugin.transport._http2 import (
    Connection,
    DataReceived,
    Event,
    H2ConnectionError,
    HeadersReceived,
    StreamReset,
)
from trioplugin.transport._http2 import _frames as f

from ._helpers import REQUEST, RESPONSE, Headers, block, frame, parse_frames

_SEEDS = st.integers(0, 2**32 - 1)
_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A valid client byte stream, split anywhere.

_NAMES = st.sampled_from([b"x-a", b"x-b", b"user-agent", b"accept", b"grpc-timeout", b"X-Bad"])
_FIELDS = st.lists(st.tuples(_NAMES, st.binary(max_size=12).map(lambda v: v.strip(b" \t\r\n\0"))))


@st.composite
def client_stream(draw: st.DrawFn) -> bytes:
    """A client's preface and frames: streams (interleaved), padding, CONTINUATION, control."""
    rng = random.Random(draw(_SEEDS))
    per_stream: list[list[bytes]] = []
    for index in range(draw(st.integers(1, 5))):
        sid = 2 * index + 1
        headers: Headers = [*REQUEST, *draw(_FIELDS)]
        frames = f.header_block_frames(sid, block(headers), False, draw(st.integers(8, 200)))
        for size in draw(st.lists(st.integers(0, 3000), max_size=4)):
            if draw(st.booleans()):
                pad = draw(st.integers(0, 40))
                payload = bytes([pad]) + rng.randbytes(size) + b"\0" * pad
                frames.append(frame(f.DATA, f.FLAG_PADDED, sid, payload))
            else:
                frames.append(f.data_frame(sid, rng.randbytes(size), False))
        if draw(st.booleans()):
            frames += f.header_block_frames(sid, block([(b"x-t", b"1")]), True, 16384)
        else:
            frames.append(f.data_frame(sid, b"", True))
        per_stream.append(frames)
    control = [
        f.ping_frame(b"pingpong"),
        f.window_update_frame(0, 1000),
        frame(f.PRIORITY, 0, 99, b"\0\0\0\0\x10"),
        frame(0xEE, 0, 0, b"unknown"),
        f.settings_frame({f.Setting.INITIAL_WINDOW_SIZE: 100_000}),
    ]
    streams = len(per_stream)
    per_stream.append(draw(st.lists(st.sampled_from(control), max_size=6)))
    out = [f.PREFACE, f.settings_frame({})]
    opened = 0
    while any(per_stream):
        # Interleave, keeping each stream's order and each header block whole, and
        # opening the streams in the order of their ids (RFC 9113 §5.1.1).
        ready = [i for i, q in enumerate(per_stream) if q and (i <= opened or i == streams)]
        index = rng.choice(ready)
        opened = max(opened, index + 1) if index < streams else opened
        queue = per_stream[index]
        out.append(queue.pop(0))
        while queue and f.HEADER.unpack_from(queue[0])[2] == f.CONTINUATION:
            out.append(queue.pop(0))
    return b"".join(out)


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at ``cuts`` (taken modulo its length)."""
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    return [data[start:stop] for start, stop in itertools.pairwise(bounds)]


def feed(data: bytes, cuts: list[int]) -> tuple[list[str], bytes]:
    """A fresh server fed ``data`` in the pieces ``cuts`` make: its events and output."""
    connection = Connection(client=False)
    events: list[str] = []
    output = [connection.data_to_send()]
    for piece in pieces(data, cuts):
        events += [repr(event) for event in connection.receive(piece)]
        output.append(connection.data_to_send())
    return events, b"".join(output)


@_SETTINGS
@given(client_stream(), st.lists(st.integers(min_value=0), max_size=30))
def test_any_split_gives_the_same_events(data: bytes, cuts: list[int]) -> None:
    whole = feed(data, [])
    assert whole[0]
    assert feed(data, cuts) == whole


def test_byte_at_a_time_gives_the_same_events() -> None:
    data = _fixed_stream()
    assert feed(data, list(range(1, len(data)))) == feed(data, [])


def _fixed_stream() -> bytes:
    headers = [*REQUEST, (b"x-long", b"v" * 500)]
    return b"".join(
        [
            f.PREFACE,
            f.settings_frame({}),
            *f.header_block_frames(1, block(headers), False, 100),
            frame(f.DATA, f.FLAG_PADDED, 1, b"\x03abc\0\0\0"),
            f.ping_frame(b"12345678"),
            f.data_frame(1, b"", True),
        ]
    )


# Arbitrary input never raises anything but H2ConnectionError.


def check_garbage(connection: Connection, data: bytes, cuts: list[int]) -> None:
    """Feed ``data`` in pieces: events, or H2ConnectionError with its GOAWAY queued."""
    connection.data_to_send()
    for piece in pieces(data, cuts):
        try:
            events = connection.receive(piece)
        except H2ConnectionError as exc:
            goaway = parse_frames(connection.data_to_send())[-1]
            assert (goaway.kind, goaway.code) == (f.GOAWAY, exc.code)
            assert connection.closed
            assert connection.receive(data) == []
            return
        assert all(isinstance(event, Event) for event in events)
        parse_frames(connection.data_to_send())  # whole frames only
    assert not connection.closed


def a_server() -> Connection:
    return Connection(client=False)


def a_client() -> Connection:
    connection = Connection(client=True)
    for _ in range(3):
        sid = connection.open_stream()
        connection.send_headers(sid, REQUEST, end_stream=sid == 3)
    return connection


_SIDES = st.sampled_from([a_server, a_client])
_CUTS = st.lists(st.integers(min_value=0), max_size=8)


@_SETTINGS
@given(_SIDES, st.booleans(), st.binary(max_size=300), _CUTS)
def test_random_bytes_after_the_preface(
    side: Callable[[], Connection], with_settings: bool, garbage: bytes, cuts: list[int]
) -> None:
    connection = side()
    start = b"" if connection.client else f.PREFACE
    if with_settings:
        start += f.settings_frame({})
    check_garbage(connection, start + garbage, cuts)


# Structured garbage: frames with plausible headers, so the checks behind them are reached.

_ANY_NAME = st.sampled_from(
    [
        *(b":method", b":path", b":scheme", b":authority", b":status", b":x"),
        *(b"content-length", b"te", b"x-a", b"Up", b""),
    ]
)
_ANY_VALUE = st.sampled_from(
    [b"POST", b"/", b"http", b"200", b"103", b"trailers", b"0", b"", b"\xb2", b"1" * 5000]
) | st.binary(max_size=6)
_HEADER_BLOCK = st.lists(st.tuples(_ANY_NAME, _ANY_VALUE), max_size=6).map(block) | st.binary(
    max_size=20
)


@st.composite
def any_frame(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 11))
    flags = draw(st.sampled_from([0, 1, 4, 5, 8, 0x20, 0x2D]) | st.integers(0, 255))
    stream_id = draw(st.sampled_from([0, 1, 2, 3, 5, 2**31 - 1]) | st.integers(0, 2**32 - 1))
    if kind in (f.HEADERS, f.CONTINUATION):
        payload = draw(_HEADER_BLOCK)
    elif kind == f.SETTINGS:
        pairs = st.tuples(st.integers(0, 9), st.sampled_from([0, 1, 2, 16384, 2**31 - 1, 2**31]))
        payload = f.settings_frame(dict(draw(st.lists(pairs, max_size=3))))[f.HEADER_SIZE :]
    elif kind == f.WINDOW_UPDATE:
        increment = st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1]) | st.integers(0, 2**32 - 1)
        payload = draw(increment).to_bytes(4, "big")
    else:
        payload = draw(st.binary(max_size=24))
    if draw(st.integers(0, 9)) == 0:
        payload = payload[: draw(st.integers(0, len(payload)))]
    return frame(kind, flags, stream_id, payload)


@_SETTINGS
@given(_SIDES, st.lists(any_frame(), min_size=1, max_size=12), _CUTS)
def test_random_frames(
    side: Callable[[], Connection], frames: list[bytes], cuts: list[int]
) -> None:
    connection = side()
    start = (b"" if connection.client else f.PREFACE) + f.settings_frame({})
    check_garbage(connection, start + b"".join(frames), cuts)


# Flow control between our client and our server.


class Reader:
    """One side's application: reads part of what came in, acknowledges part of what it read."""

    def __init__(self, connection: Connection, rng: random.Random) -> None:
        self.connection = connection
        self.rng = rng
        self.unread: dict[int, int] = {}
        self.unacked: dict[int, int] = {}
        self.bodies: dict[int, bytearray] = {}
        self.ended: set[int] = set()

    def take(self, events: list[Event]) -> None:
        for event in events:
            assert not isinstance(event, StreamReset), event
            if isinstance(event, DataReceived):
                sid = event.stream_id
                self.bodies.setdefault(sid, bytearray()).extend(event.data)
                self.unread[sid] = self.unread.get(sid, 0) + event.flow_length
            if isinstance(event, DataReceived | HeadersReceived) and event.end_stream:
                self.ended.add(event.stream_id)

    def read(self, everything: bool) -> bool:
        """Read and acknowledge a random share (or all); whether anything was given back."""
        acked = False
        for sid in list(self.unread):
            unread = self.unread[sid]
            n = unread if everything else self.rng.randint(0, unread)
            self.unread[sid] = unread - n
            self.unacked[sid] = self.unacked.get(sid, 0) + n
            owed = self.unacked[sid]
            give = owed if everything else self.rng.choice([0, owed, self.rng.randint(0, owed)])
            while give:  # in random pieces
                piece = self.rng.randint(1, give)
                self.connection.acknowledge(sid, piece)
                self.unacked[sid] -= piece
                give -= piece
                acked = True
        return acked


def write(connection: Connection, pending: dict[int, memoryview], rng: random.Random) -> bool:
    """Send what the windows allow (in random frame sizes); whether anything went out."""
    sent = False
    for sid, view in list(pending.items()):
        while view:
            room = min(connection.send_window(sid), connection.max_outbound_frame_size)
            if room <= 0:
                break
            size = min(len(view), rng.randint(1, room))
            connection.send_data(sid, view[:size], end_stream=size == len(view))
            view = view[size:]
            sent = True
            if rng.random() < 0.3:
                break  # let the other streams have a turn
        pending[sid] = view
        if not view:
            del pending[sid]
    return sent


_WINDOW = st.sampled_from([1, 100, 16384, 65535, 200_000]) | st.integers(1, 300_000)
_CONN_WINDOW = st.sampled_from([65535, 100_000, 1 << 20]) | st.integers(65535, 400_000)


@_SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, 150_000), st.integers(0, 150_000)), min_size=1, max_size=4),
    _WINDOW,
    _CONN_WINDOW,
    _WINDOW,
    _CONN_WINDOW,
    _SEEDS,
)
def test_flow_control_never_deadlocks(
    sizes: list[tuple[int, int]],
    server_stream_window: int,
    server_connection_window: int,
    client_stream_window: int,
    client_connection_window: int,
    seed: int,
) -> None:
    rng = random.Random(seed)
    server = Connection(
        client=False,
        stream_window=server_stream_window,
        connection_window=server_connection_window,
    )
    client = Connection(
        client=True,
        stream_window=client_stream_window,
        connection_window=client_connection_window,
    )
    # Settings first, as a real client's preface goes out before its requests.
    server.receive(client.data_to_send())
    client.receive(server.data_to_send())
    server.receive(client.data_to_send())
    requests: dict[int, bytes] = {}
    responses: dict[int, bytes] = {}
    client_pending: dict[int, memoryview] = {}
    server_pending: dict[int, memoryview] = {}
    for request_size, response_size in sizes:
        # A body is at most 64 of its receiver's stream windows (a 1-byte window is slow).
        request_size = min(request_size, 64 * server_stream_window)
        response_size = min(response_size, 64 * client_stream_window)
        sid = client.open_stream()
        requests[sid] = rng.randbytes(request_size)
        responses[sid] = rng.randbytes(response_size) if response_size else b""
        client.send_headers(sid, REQUEST, end_stream=not request_size)
        if request_size:
            client_pending[sid] = memoryview(requests[sid])
    server_app, client_app = Reader(server, rng), Reader(client, rng)
    answered: set[int] = set()

    for _ in range(100_000):
        progress = write(client, client_pending, rng) | write(server, server_pending, rng)
        for sid in server_app.ended - answered:  # a whole request: answer it
            answered.add(sid)
            body = responses[sid]
            server.send_headers(sid, RESPONSE, end_stream=not body)
            if body:
                server_pending[sid] = memoryview(body)
            progress = True
        for source, target, app in ((client, server, server_app), (server, client, client_app)):
            data = source.data_to_send()
            if data:
                progress = True
                app.take(target.receive(data))
        progress |= server_app.read(False) | client_app.read(False)
        if client_app.ended == set(requests):
            break
        if not progress and not (server_app.read(True) | client_app.read(True)):
            raise AssertionError("flow control deadlocked")
    else:
        raise AssertionError("the exchange never finished")

    for sid in requests:
        assert bytes(server_app.bodies.get(sid, b"")) == requests[sid]
        assert bytes(client_app.bodies.get(sid, b"")) == responses[sid]
    assert server.streams == {} and client.streams == {}
    # All read and acknowledged: at most half of each connection window is still owed.
    server_app.read(True)
    client_app.read(True)
    server.receive(client.data_to_send())
    client.receive(server.data_to_send())
    sid = client.open_stream()
    client.send_headers(sid, REQUEST)
    server.receive(client.data_to_send())
    expected = server_connection_window - server_connection_window // 2
    assert client.send_window(sid) >= min(server_stream_window, expected)
    server.send_headers(sid, RESPONSE)
    assert server.send_window(sid) >= min(
        client_stream_window, client_connection_window - client_connection_window // 2
    )
