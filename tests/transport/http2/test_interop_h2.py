"""Our HTTP/2 connection against the ``h2`` library as the peer, in memory, both ways round.

Our server with an ``h2`` client and our client with an ``h2`` server: unary
exchanges, many concurrent streams, bodies that need flow control.
(test_interop_h2_control.py: CONTINUATION, resets, PING, GOAWAY, SETTINGS
and h2's HPACK dynamic table.)
"""

from __future__ import annotations

import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest

from trioplugin.transport._http2 import (
    DataReceived,
    HeadersReceived,
)
from trioplugin.transport._http2 import _frames as f

from ._helpers import (
    REQUEST,
    RESPONSE,
    TRAILERS,
)
from ._pair import Pair, as_pairs, body_of, field_pairs

pytestmark = pytest.mark.interop


# Unary exchanges.


def test_unary_our_server_h2_client() -> None:
    pair = Pair(we_are_client=False)
    sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(sid, REQUEST)
    pair.send_theirs(sid, b"\x00\x00\x00\x00\x05hello")

    (head,) = pair.ours_of(HeadersReceived)
    assert (head.stream_id, head.end_stream, head.trailers) == (sid, False, False)
    assert field_pairs(head) == REQUEST
    assert pair.our_bodies[sid] == b"\x00\x00\x00\x00\x05hello"
    assert pair.ours_of(DataReceived)[-1].end_stream

    pair.us.send_headers(sid, RESPONSE)
    pair.us.send_data(sid, b"\x00\x00\x00\x00\x02ok")
    pair.us.send_headers(sid, TRAILERS, end_stream=True)
    pair.pump()
    (response,) = pair.theirs_of(h2.events.ResponseReceived)
    assert as_pairs(response.headers) == RESPONSE
    assert pair.their_bodies[sid] == b"\x00\x00\x00\x00\x02ok"
    (trailers,) = pair.theirs_of(h2.events.TrailersReceived)
    assert as_pairs(trailers.headers) == TRAILERS
    assert len(pair.theirs_of(h2.events.StreamEnded)) == 1
    assert pair.us.streams == {}


def test_unary_our_client_h2_server() -> None:
    pair = Pair(we_are_client=True)
    sid = pair.us.open_stream()
    pair.us.send_headers(sid, REQUEST)
    pair.send_ours(sid, b"request")
    (request,) = pair.theirs_of(h2.events.RequestReceived)
    assert as_pairs(request.headers) == REQUEST
    assert pair.their_bodies[sid] == b"request"

    pair.peer.send_headers(sid, RESPONSE)
    pair.send_theirs(sid, b"response", end_stream=False)
    pair.peer.send_headers(sid, TRAILERS, end_stream=True)
    pair.pump()
    head, trailers = pair.ours_of(HeadersReceived)
    assert field_pairs(head) == RESPONSE
    assert head.pseudo == {b":status": b"200"} and not head.trailers
    assert trailers.trailers and trailers.end_stream and trailers.pseudo == {}
    assert field_pairs(trailers) == TRAILERS
    assert pair.our_bodies[sid] == b"response"
    assert pair.us.streams == {}


@pytest.mark.parametrize("we_are_client", [False, True])
def test_bytes_in_small_pieces_both_ways(we_are_client: bool) -> None:
    pair = Pair(we_are_client=we_are_client, chunk=7)
    request, response = body_of(40_000, 8), body_of(70_000, 9)
    if we_are_client:
        sid = pair.us.open_stream()
        pair.us.send_headers(sid, REQUEST)
        pair.send_ours(sid, request)
        pair.peer.send_headers(sid, RESPONSE)
        pair.send_theirs(sid, response, end_stream=False)
        pair.peer.send_headers(sid, TRAILERS, end_stream=True)
    else:
        sid = pair.peer.get_next_available_stream_id()
        pair.peer.send_headers(sid, REQUEST)
        pair.send_theirs(sid, request)
        pair.us.send_headers(sid, RESPONSE)
        pair.send_ours(sid, response, end_stream=False)
        pair.us.send_headers(sid, TRAILERS, end_stream=True)
    pair.pump()
    sent, received = (request, response) if we_are_client else (response, request)
    assert pair.their_bodies[sid] == sent
    assert pair.our_bodies[sid] == received
    assert pair.us.streams == {}


def test_request_trailers_from_h2_client() -> None:
    pair = Pair(we_are_client=False)
    sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(sid, [*REQUEST, (b"te", b"trailers")])
    pair.send_theirs(sid, b"body", end_stream=False)
    pair.peer.send_headers(sid, TRAILERS, end_stream=True)
    pair.pump()
    head, trailers = pair.ours_of(HeadersReceived)
    assert ("te", "trailers") in head.fields
    assert trailers.trailers and trailers.end_stream
    assert field_pairs(trailers) == TRAILERS


def test_empty_bodies_both_ways() -> None:
    pair = Pair(we_are_client=True)
    sid = pair.us.open_stream()
    pair.us.send_headers(sid, REQUEST, end_stream=True)
    pair.pump()
    (request,) = pair.theirs_of(h2.events.RequestReceived)
    assert request.stream_ended is not None
    pair.peer.send_headers(sid, RESPONSE, end_stream=True)
    pair.pump()
    (head,) = pair.ours_of(HeadersReceived)
    assert head.end_stream
    assert pair.us.streams == {}


# Many streams at once.


def test_many_concurrent_streams_our_server() -> None:
    pair = Pair(we_are_client=False, max_concurrent_streams=100)
    peer = pair.peer
    ids = [peer.get_next_available_stream_id() + 2 * i for i in range(100)]
    for sid in ids:
        peer.send_headers(sid, [*REQUEST, (b"x-stream", str(sid).encode())])
    for sid in ids:  # interleaved: each stream's body arrives in two halves
        peer.send_data(sid, b"first-%d;" % sid)
    for sid in ids:
        peer.send_data(sid, b"second-%d" % sid, end_stream=True)
    pair.pump()
    heads = pair.ours_of(HeadersReceived)
    assert [head.stream_id for head in heads] == ids
    assert all(("x-stream", str(head.stream_id)) in head.fields for head in heads)
    assert len(pair.us.streams) == 100
    for sid in reversed(ids):
        pair.us.send_headers(sid, RESPONSE)
        pair.us.send_data(sid, b"answer-%d" % sid, end_stream=True)
    pair.pump()
    for sid in ids:
        assert pair.our_bodies[sid] == b"first-%d;second-%d" % (sid, sid)
        assert pair.their_bodies[sid] == b"answer-%d" % sid
    assert len(pair.theirs_of(h2.events.StreamEnded)) == 100
    assert pair.us.streams == {}


def test_many_concurrent_streams_our_client() -> None:
    pair = Pair(we_are_client=True)
    ids = [pair.us.open_stream() for _ in range(100)]
    assert ids == list(range(1, 201, 2))
    for sid in ids:
        pair.us.send_headers(sid, REQUEST)
        pair.us.send_data(sid, b"ask-%d" % sid, end_stream=True)
    pair.pump()
    assert [event.stream_id for event in pair.theirs_of(h2.events.RequestReceived)] == ids
    for sid in ids[::2] + ids[1::2]:
        pair.peer.send_headers(sid, RESPONSE)
        pair.peer.send_data(sid, b"tell-%d" % sid, end_stream=True)
    pair.pump()
    for sid in ids:
        assert pair.their_bodies[sid] == b"ask-%d" % sid
        assert pair.our_bodies[sid] == b"tell-%d" % sid
    assert pair.us.streams == {}


# Flow control.


@pytest.mark.parametrize("size", [65_536, 300_001, 1_048_576])
def test_large_bodies_our_server(size: int) -> None:
    pair = Pair(we_are_client=False)
    sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(sid, REQUEST)
    request = body_of(size, 1)
    pair.send_theirs(sid, request)
    assert pair.our_bodies[sid] == request

    response = body_of(size, 2)
    pair.us.send_headers(sid, RESPONSE)
    frames = pair.send_ours(sid, response)
    assert frames >= size // f.DEFAULT_MAX_FRAME_SIZE
    assert pair.their_bodies[sid] == response
    assert len(pair.theirs_of(h2.events.WindowUpdated)) > 0
    # The windows came back: at most half a window is still owed on each side.
    assert pair.peer.outbound_flow_control_window > f.DEFAULT_WINDOW // 2
    next_sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(next_sid, REQUEST)
    pair.pump()
    assert pair.us.send_window(next_sid) > f.DEFAULT_WINDOW // 2


@pytest.mark.parametrize("size", [65_536, 1_048_576])
def test_large_bodies_our_client(size: int) -> None:
    pair = Pair(we_are_client=True)
    sid = pair.us.open_stream()
    pair.us.send_headers(sid, REQUEST)
    request = body_of(size, 3)
    pair.send_ours(sid, request)
    assert pair.their_bodies[sid] == request
    pair.peer.send_headers(sid, RESPONSE)
    response = body_of(size, 4)
    pair.send_theirs(sid, response)
    assert pair.our_bodies[sid] == response
    assert pair.us.streams == {}
    assert pair.peer.outbound_flow_control_window > f.DEFAULT_WINDOW // 2


def test_large_bodies_on_many_streams_at_once() -> None:
    pair = Pair(we_are_client=True)
    ids = [pair.us.open_stream() for _ in range(8)]
    bodies = {sid: body_of(100_000 + sid, sid) for sid in ids}
    for sid in ids:
        pair.us.send_headers(sid, REQUEST)
    pending = {sid: memoryview(body) for sid, body in bodies.items()}
    while pending:  # round robin, one frame per stream per turn
        progressed = False
        for sid, view in list(pending.items()):
            size = min(pair.us.send_window(sid), f.DEFAULT_MAX_FRAME_SIZE, len(view))
            if size > 0:
                pair.us.send_data(sid, view[:size], end_stream=size == len(view))
                progressed = True
                if size == len(view):
                    del pending[sid]
                else:
                    pending[sid] = view[size:]
        if not progressed:
            pair.pump()
    pair.pump()
    assert pair.their_bodies == bodies


def test_bigger_windows_we_advertise_are_used_by_h2() -> None:
    pair = Pair(we_are_client=False, stream_window=1_000_000, connection_window=4_000_000)
    assert pair.peer.outbound_flow_control_window == 4_000_000
    sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(sid, REQUEST)
    pair.pump()
    assert pair.peer.local_flow_control_window(sid) == 1_000_000
    pair.auto_ack = False  # nothing is given back: the whole window can still be sent
    pair.send_theirs(sid, body_of(1_000_000), end_stream=False)
    assert len(pair.our_bodies[sid]) == 1_000_000
    assert pair.peer.local_flow_control_window(sid) == 0


def test_h2_stops_at_our_window_until_we_acknowledge() -> None:
    pair = Pair(we_are_client=False)
    sid = pair.peer.get_next_available_stream_id()
    pair.peer.send_headers(sid, REQUEST)
    pair.auto_ack = False
    pair.send_theirs(sid, body_of(3 * 16384), end_stream=False)
    assert pair.peer.local_flow_control_window(sid) == f.DEFAULT_WINDOW - 3 * 16384
    sent = sum(event.flow_length for event in pair.ours_of(DataReceived))
    assert sent == 3 * 16384
    pair.us.acknowledge(sid, sent // 2 - 1)  # below half a window: no WINDOW_UPDATE yet
    pair.pump()
    assert not pair.theirs_of(h2.events.WindowUpdated)
    pair.us.acknowledge(sid, sent - (sent // 2 - 1))
    pair.pump()
    assert {event.stream_id for event in pair.theirs_of(h2.events.WindowUpdated)} == {0, sid}
    assert pair.peer.local_flow_control_window(sid) == f.DEFAULT_WINDOW
    assert pair.peer.outbound_flow_control_window == f.DEFAULT_WINDOW
