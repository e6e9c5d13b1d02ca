"""Our HTTP/2 connection against ``h2`` in memory: everything but the data path.

Header blocks over CONTINUATION, trailers, resets, PING, GOAWAY, SETTINGS
changes, and ``h2``'s HPACK dynamic table (which our decoder must follow).
"""

from __future__ import annotations

import random

import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest

from trioplugin.transport._http2 import (
    DataReceived,
    ErrorCode,
    GoAwayReceived,
    H2StreamClosed,
    H2UsageError,
    HeadersReceived,
    PingAcknowledged,
    PingReceived,
    SettingsReceived,
    StreamReset,
)
from trioplugin.transport._http2 import _frames as f

from ._helpers import (
    REQUEST,
    RESPONSE,
    TRAILERS,
    events_of,
    of_kind,
    parse_frames,
)
from ._pair import Pair, as_pairs, big_value, body_of, field_pairs

pytestmark = pytest.mark.interop

_SETTING = h2.settings.SettingCodes


# Header blocks over CONTINUATION.


def test_header_block_over_continuation_from_h2() -> None:
    pair = Pair(we_are_client=False)
    sid = pair.peer.get_next_available_stream_id()
    value = big_value(40_000)
    pair.peer.send_headers(sid, [*REQUEST, (b"x-big", value)], end_stream=True)
    data = pair.peer.data_to_send()
    kinds = [frame.kind for frame in parse_frames(data)]
    assert kinds[0] == f.HEADERS and kinds.count(f.CONTINUATION) >= 1
    (head,) = events_of(pair.us.receive(data), HeadersReceived)
    assert ("x-big", value.decode()) in head.fields
    assert head.end_stream


def test_header_block_over_continuation_to_h2() -> None:
    pair = Pair(we_are_client=False)
    sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(sid, REQUEST, end_stream=True)
    pair.pump()
    values = [big_value(20_000, 1), big_value(20_000, 2)]
    headers = [*RESPONSE, (b"x-one", values[0]), (b"x-two", values[1])]
    pair.us.send_headers(sid, headers, end_stream=True)
    data = pair.us.data_to_send()
    frames = parse_frames(data)
    assert [frame.kind for frame in frames] == [f.HEADERS, f.CONTINUATION, f.CONTINUATION]
    assert frames[0].flags & f.FLAG_END_STREAM and not frames[0].flags & f.FLAG_END_HEADERS
    assert frames[-1].flags == f.FLAG_END_HEADERS
    assert all(len(frame.payload) <= f.DEFAULT_MAX_FRAME_SIZE for frame in frames)
    (response,) = events_of(pair.peer.receive_data(data), h2.events.ResponseReceived)
    assert as_pairs(response.headers) == headers


def test_trailers_over_continuation_both_ways() -> None:
    pair = Pair(we_are_client=True)
    sid = pair.us.open_stream()
    pair.us.send_headers(sid, REQUEST)
    pair.us.send_data(sid, b"q")
    big_trailers = [(b"x-sum", big_value(30_000, 5))]
    pair.us.send_headers(sid, big_trailers, end_stream=True)
    pair.pump()
    (trailers,) = pair.theirs_of(h2.events.TrailersReceived)
    assert as_pairs(trailers.headers) == big_trailers
    pair.peer.send_headers(sid, RESPONSE)
    pair.peer.send_data(sid, b"a")
    pair.peer.send_headers(sid, [(b"x-sum", big_value(30_000, 6))], end_stream=True)
    pair.pump()
    ours_trailers = pair.ours_of(HeadersReceived)[-1]
    assert ours_trailers.trailers
    assert ours_trailers.fields == [("x-sum", big_value(30_000, 6).decode())]


# Resets.


def test_h2_client_resets_a_stream() -> None:
    pair = Pair(we_are_client=False)
    sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(sid, REQUEST)
    pair.pump()
    pair.peer.reset_stream(sid, ErrorCode.CANCEL)
    pair.pump()
    (reset,) = pair.ours_of(StreamReset)
    assert (reset.stream_id, reset.code, reset.remote) == (sid, ErrorCode.CANCEL, True)
    assert sid not in pair.us.streams
    with pytest.raises(H2StreamClosed):
        pair.us.send_headers(sid, RESPONSE)
    assert pair.us.reset_stream(sid) is False
    # The connection goes on.
    other = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(other, REQUEST, end_stream=True)
    pair.pump()
    pair.us.send_headers(other, RESPONSE, end_stream=True)
    pair.pump()
    assert [event.stream_id for event in pair.theirs_of(h2.events.StreamEnded)] == [other]


def test_we_reset_a_stream_and_h2_sees_the_code() -> None:
    pair = Pair(we_are_client=True)
    sid = pair.us.open_stream()
    pair.us.send_headers(sid, REQUEST)
    pair.pump()
    assert pair.us.reset_stream(sid, ErrorCode.CANCEL) is True
    pair.pump()
    (reset,) = pair.theirs_of(h2.events.StreamReset)
    assert (reset.stream_id, reset.error_code, reset.remote_reset) == (sid, ErrorCode.CANCEL, True)
    assert pair.us.reset_stream(sid) is False
    with pytest.raises(H2StreamClosed):
        pair.us.send_data(sid, b"late")


def test_data_in_flight_after_our_reset_is_dropped_and_credited() -> None:
    pair = Pair(we_are_client=False)
    sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(sid, REQUEST)
    pair.pump()
    assert pair.us.reset_stream(sid, ErrorCode.INTERNAL_ERROR)
    # h2 sends before it reads our RST_STREAM: half the connection window, and more.
    for _ in range(3):
        pair.peer.send_data(sid, b"z" * 16384)
    late = pair.peer.data_to_send()
    assert pair.us.receive(late) == []
    frames = parse_frames(pair.us.data_to_send())
    assert of_kind(frames, f.RST_STREAM)[0].code == ErrorCode.INTERNAL_ERROR
    # The connection window is given back once half of it is owed (as for read bytes).
    (update,) = of_kind(frames, f.WINDOW_UPDATE)
    assert (update.stream_id, update.increment) == (0, 2 * 16384)


# PING, GOAWAY.


def test_ping_both_ways() -> None:
    pair = Pair(we_are_client=False)
    pair.us.ping(b"ours-123")
    pair.peer.ping(b"theirs!!")
    pair.pump()
    (ack,) = pair.ours_of(PingAcknowledged)
    assert ack.payload == b"ours-123"
    (ping,) = pair.ours_of(PingReceived)
    assert ping.payload == b"theirs!!"
    (their_ack,) = pair.theirs_of(h2.events.PingAckReceived)
    assert their_ack.ping_data == b"theirs!!"
    with pytest.raises(H2UsageError):
        pair.us.ping(b"short")


def test_our_goaway_reaches_h2_and_frames_in_flight_are_still_read() -> None:
    pair = Pair(we_are_client=False)
    sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(sid, REQUEST)
    pair.pump()
    pair.us.goaway()
    goaway = pair.us.data_to_send()
    # h2 sends the rest of the request before it reads the GOAWAY: we still take it.
    pair.peer.send_data(sid, b"rest", end_stream=True)
    (data,) = events_of(pair.us.receive(pair.peer.data_to_send()), DataReceived)
    assert (data.data, data.end_stream) == (b"rest", True)
    events = pair.peer.receive_data(goaway)  # (h2 closes its side on a GOAWAY)
    (terminated,) = events_of(events, h2.events.ConnectionTerminated)
    assert (terminated.error_code, terminated.last_stream_id) == (ErrorCode.NO_ERROR, sid)


def test_h2_goaway_reaches_our_client() -> None:
    pair = Pair(we_are_client=True)
    sid = pair.us.open_stream()
    pair.us.send_headers(sid, REQUEST, end_stream=True)
    pair.pump()
    pair.peer.close_connection(ErrorCode.ENHANCE_YOUR_CALM, b"calm down", last_stream_id=sid)
    pair.pump()
    (goaway,) = pair.ours_of(GoAwayReceived)
    assert (goaway.last_stream_id, goaway.code, goaway.debug) == (
        sid,
        ErrorCode.ENHANCE_YOUR_CALM,
        b"calm down",
    )
    assert pair.us.goaway_received == sid


# SETTINGS changes.


def test_initial_window_size_change_adjusts_open_streams() -> None:
    pair = Pair(we_are_client=False)
    peer = pair.peer
    peer.increment_flow_control_window(1_000_000)  # the connection window is not the limit
    sid = peer.get_next_available_stream_id()
    peer.send_headers(sid, REQUEST, end_stream=True)
    pair.pump()
    pair.us.send_headers(sid, RESPONSE)
    pair.us.send_data(sid, b"x" * 1000)
    assert pair.us.send_window(sid) == f.DEFAULT_WINDOW - 1000
    pair.auto_ack = False

    peer.update_settings({_SETTING.INITIAL_WINDOW_SIZE: 200_000})
    pair.pump()
    assert pair.ours_of(SettingsReceived)[-1].changed == {f.Setting.INITIAL_WINDOW_SIZE: 200_000}
    assert pair.us.send_window(sid) == 200_000 - 1000

    peer.update_settings({_SETTING.INITIAL_WINDOW_SIZE: 500})
    pair.pump()
    assert pair.us.send_window(sid) == 500 - 1000  # negative: owed to the peer
    with pytest.raises(H2UsageError):
        pair.us.send_data(sid, b"y")
    # A new stream starts at the new value.
    other = peer.get_next_available_stream_id()
    peer.send_headers(other, REQUEST, end_stream=True)
    pair.pump()
    assert pair.us.send_window(other) == 500
    # Once the peer gives credit the stream goes on; trailers need none.
    peer.increment_flow_control_window(700, stream_id=sid)
    pair.pump()
    assert pair.us.send_window(sid) == 200
    pair.us.send_data(sid, b"y" * 200)
    pair.us.send_headers(sid, TRAILERS, end_stream=True)
    pair.pump()
    assert pair.their_bodies[sid] == b"x" * 1000 + b"y" * 200
    assert [event.stream_id for event in pair.theirs_of(h2.events.StreamEnded)] == [sid]


def test_larger_max_frame_size_is_used() -> None:
    pair = Pair(we_are_client=True)
    pair.peer.update_settings(
        {_SETTING.MAX_FRAME_SIZE: 65_536, _SETTING.INITIAL_WINDOW_SIZE: 1_000_000}
    )
    pair.peer.increment_flow_control_window(1_000_000)
    pair.pump()
    assert pair.us.max_outbound_frame_size == 65_536
    sid = pair.us.open_stream()
    headers = [*REQUEST, (b"x-big", big_value(30_000))]
    pair.us.send_headers(sid, headers)
    body = body_of(300_000)
    frames = pair.send_ours(sid, body)
    assert frames == 5  # 65536-byte frames
    (request,) = pair.theirs_of(h2.events.RequestReceived)
    assert as_pairs(request.headers) == headers
    assert pair.their_bodies[sid] == body
    sizes = [len(event.data) for event in pair.theirs_of(h2.events.DataReceived)]
    assert max(sizes) == 65_536
    other = pair.us.open_stream()
    pair.us.send_headers(other, REQUEST)
    with pytest.raises(H2UsageError):
        pair.us.send_data(other, b"x" * 65_537)


def test_larger_max_frame_size_puts_a_big_block_in_one_frame() -> None:
    pair = Pair(we_are_client=True)
    pair.peer.update_settings({_SETTING.MAX_FRAME_SIZE: 65_536})
    pair.pump()
    sid = pair.us.open_stream()
    pair.us.send_headers(sid, [*REQUEST, (b"x-big", big_value(30_000))], end_stream=True)
    data = pair.us.data_to_send()
    assert [frame.kind for frame in parse_frames(data)] == [f.HEADERS]
    assert events_of(pair.peer.receive_data(data), h2.events.RequestReceived)


def test_header_table_size_change_is_acknowledged_in_our_next_block() -> None:
    pair = Pair(we_are_client=False)
    pair.peer.update_settings({_SETTING.HEADER_TABLE_SIZE: 0})
    pair.pump()
    assert pair.ours_of(SettingsReceived)[-1].changed == {f.Setting.HEADER_TABLE_SIZE: 0}
    ids = []
    for _ in range(3):
        sid = pair.peer.get_next_available_stream_id()
        pair.peer.send_headers(sid, REQUEST, end_stream=True)
        pair.pump()
        pair.us.send_headers(sid, [*RESPONSE, (b"x-n", str(sid).encode())], end_stream=True)
        pair.pump()
        ids.append(sid)
    responses = pair.theirs_of(h2.events.ResponseReceived)
    assert [as_pairs(r.headers)[-1] for r in responses] == [(b"x-n", b"%d" % i) for i in ids]


def test_h2_client_may_not_exceed_our_max_concurrent_streams() -> None:
    pair = Pair(we_are_client=False, max_concurrent_streams=3)
    for _ in range(3):
        pair.peer.send_headers(pair.peer.get_next_available_stream_id(), REQUEST)
    with pytest.raises(h2.exceptions.TooManyStreamsError):
        pair.peer.send_headers(pair.peer.get_next_available_stream_id(), REQUEST)


# HPACK: h2's encoder indexes what it sends.


def test_h2_dynamic_table_repeated_headers_decode_right() -> None:
    pair = Pair(we_are_client=False)
    headers = [
        *REQUEST,
        (b"user-agent", b"h2-interop/1.0"),
        (b"x-tenant", b"acme"),
        (b"authorization", b"Bearer secret"),
    ]
    sizes = []
    for i in range(40):
        sid = pair.peer.get_next_available_stream_id()
        pair.peer.send_headers(sid, [*headers, (b"x-call", b"%d" % i)], end_stream=True)
        data = pair.peer.data_to_send()
        sizes.append(len(data))
        (head,) = events_of(pair.us.receive(data), HeadersReceived)
        assert field_pairs(head) == [*headers, (b"x-call", b"%d" % i)]
        pair.us.send_headers(sid, RESPONSE, end_stream=True)
        pair.pump()
    assert sizes[1] < sizes[0] // 2  # the second block was mostly indexes


def test_h2_dynamic_table_evictions_decode_right() -> None:
    pair = Pair(we_are_client=True)
    rng = random.Random(7)
    for i in range(150):
        sid = pair.us.open_stream()
        pair.us.send_headers(sid, REQUEST, end_stream=True)
        pair.pump()
        # Values of every size, some repeated: h2 indexes them and evicts old ones.
        value = b"v%d-" % rng.randrange(20) + big_value(rng.randrange(1, 900), i % 11)
        response = [*RESPONSE, (b"x-echo", value), (b"x-seq", b"%d" % i)]
        pair.peer.send_headers(sid, response, end_stream=True)
        pair.pump()
        head = pair.ours_of(HeadersReceived)[-1]
        assert head.stream_id == sid
        assert field_pairs(head) == response
    assert pair.us.streams == {}
