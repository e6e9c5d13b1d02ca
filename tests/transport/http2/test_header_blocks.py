"""Header blocks that are remembered: the same bytes again give the same, fully checked result.

Our decoder remembers the fields of blocks that leave HPACK's dynamic table
alone, and the connection remembers how they checked. These tests make sure
a repeat is as right as the first decode: each event owns its field list,
the content-length still binds each stream, a block is checked as what it
is on that stream (head or trailers), and blocks that touch the dynamic
table are always decoded for real.
"""

from __future__ import annotations

import pytest

from trioplugin.transport._http2 import (
    DataReceived,
    ErrorCode,
    H2ConnectionError,
    HeadersReceived,
    StreamReset,
)
from trioplugin.transport._http2 import _frames as f

from ._helpers import REQUEST, block, data_frame, events_of, frame, of_kind, parse_frames, server

_HEAD = f.FLAG_END_HEADERS
_WHOLE = f.FLAG_END_HEADERS | f.FLAG_END_STREAM


def resets(data: bytes) -> list[tuple[int, int]]:
    return [(fr.stream_id, fr.code) for fr in of_kind(parse_frames(data), f.RST_STREAM)]


def test_repeated_block_gives_each_event_its_own_fields() -> None:
    connection = server()
    head = block([*REQUEST, (b"x-a", b"1")])
    heads = []
    for sid in range(1, 40, 2):
        (event,) = connection.receive(frame(f.HEADERS, _WHOLE, sid, head))
        assert isinstance(event, HeadersReceived)
        heads.append(event)
        event.fields.append(("x-added", "by the app"))  # must not leak into the next one
    expected = [("content-type", "application/proto"), ("x-a", "1"), ("x-added", "by the app")]
    for event in heads:
        assert event.fields == expected
        assert event.pseudo[b":path"] == b"/echo.EchoService/Echo"


def test_repeated_block_still_binds_content_length_on_each_stream() -> None:
    connection = server()
    head = block([*REQUEST, (b"content-length", b"4")])
    events = connection.receive(
        frame(f.HEADERS, _HEAD, 1, head) + data_frame(1, b"four", end_stream=True)
    )
    assert events_of(events, DataReceived)[0].end_stream
    events = connection.receive(frame(f.HEADERS, _HEAD, 3, head) + data_frame(3, b"five!"))
    assert not events_of(events, DataReceived)
    assert resets(connection.data_to_send()) == [(3, ErrorCode.PROTOCOL_ERROR)]
    events = connection.receive(frame(f.HEADERS, _WHOLE, 5, head))  # no body at all
    assert not events_of(events, HeadersReceived)
    assert resets(connection.data_to_send()) == [(5, ErrorCode.PROTOCOL_ERROR)]


def test_repeated_malformed_block_is_refused_every_time() -> None:
    connection = server()
    bad = block([*REQUEST, (b"Upper", b"1")])
    for sid in (1, 3, 5):
        (reset,) = connection.receive(frame(f.HEADERS, _WHOLE, sid, bad))
        assert isinstance(reset, StreamReset)
        assert (reset.stream_id, reset.code, reset.remote) == (sid, ErrorCode.PROTOCOL_ERROR, False)
        assert resets(connection.data_to_send()) == [(sid, ErrorCode.PROTOCOL_ERROR)]


def test_same_bytes_as_head_then_as_trailers_are_checked_as_trailers() -> None:
    connection = server()
    head = block(REQUEST)
    connection.receive(frame(f.HEADERS, _HEAD, 1, head) + data_frame(1, b"body"))
    events = connection.receive(frame(f.HEADERS, _WHOLE, 1, head))  # pseudo-headers: not trailers
    assert not events_of(events, HeadersReceived)
    assert resets(connection.data_to_send()) == [(1, ErrorCode.PROTOCOL_ERROR)]
    # And the other way round: a trailer block is no request head.
    trailers = block([(b"x-t", b"1")])
    connection.receive(frame(f.HEADERS, _HEAD, 3, head) + frame(f.HEADERS, _WHOLE, 3, trailers))
    (reset,) = connection.receive(frame(f.HEADERS, _WHOLE, 5, trailers))
    assert isinstance(reset, StreamReset) and reset.stream_id == 5
    assert resets(connection.data_to_send()) == [(5, ErrorCode.PROTOCOL_ERROR)]


def test_block_that_adds_to_the_table_is_decoded_every_time() -> None:
    connection = server()
    adds = block(REQUEST) + b"\x40\x03x-a\x01" + b"1"  # literal with incremental indexing
    for sid in (1, 3):
        (event,) = connection.receive(frame(f.HEADERS, _WHOLE, sid, adds))
        assert isinstance(event, HeadersReceived)
    # Both added an entry: indexes 62 and 63 exist.
    (event,) = connection.receive(frame(f.HEADERS, _WHOLE, 5, block(REQUEST) + b"\xbe\xbf"))
    assert isinstance(event, HeadersReceived)
    assert event.fields[-2:] == [("x-a", "1"), ("x-a", "1")]


def test_same_bytes_decode_by_the_table_they_meet() -> None:
    connection = server()
    refers = block(REQUEST) + b"\xbe"  # index 62: the newest entry of the dynamic table
    seen = []
    for sid, value in ((1, b"one"), (5, b"two"), (9, b"three")):
        insert = block(REQUEST) + b"\x40\x03x-v" + bytes([len(value)]) + value
        connection.receive(frame(f.HEADERS, _WHOLE, sid, insert))
        (event,) = connection.receive(frame(f.HEADERS, _WHOLE, sid + 2, refers))
        assert isinstance(event, HeadersReceived)
        seen.append(event.fields[-1])
    assert seen == [("x-v", "one"), ("x-v", "two"), ("x-v", "three")]


def test_table_size_update_then_the_same_block() -> None:
    connection = server()
    head = block(REQUEST)
    shrink = b"\x20" + head  # a table size update to 0, then the head
    for sid in (1, 3):
        (event,) = connection.receive(frame(f.HEADERS, _WHOLE, sid, shrink))
        assert isinstance(event, HeadersReceived)
    (event,) = connection.receive(frame(f.HEADERS, _WHOLE, 5, head))
    assert isinstance(event, HeadersReceived)
    # The table is 0 bytes now: an insert is dropped at once, so index 62 is unknown.
    insert = head + b"\x40\x03x-a\x011"
    (event,) = connection.receive(frame(f.HEADERS, _WHOLE, 7, insert))
    assert isinstance(event, HeadersReceived)
    with pytest.raises(H2ConnectionError) as info:
        connection.receive(frame(f.HEADERS, _WHOLE, 9, head + b"\xbe"))
    assert info.value.code == ErrorCode.COMPRESSION_ERROR
