"""The connection-level rules a peer can break, as hand-built frames fed to our connection.

The preface and the first frame, frame sizes, what must be ignored, frames on
the wrong stream, padding. Each case checks the exact error code and its
kind: a stream error queues RST_STREAM, reports StreamReset(remote=False)
and leaves the connection working (another stream is completed afterwards
to prove it); a connection error raises H2ConnectionError and queues a
GOAWAY with that code.
"""

from __future__ import annotations

import pytest

from trioplugin.transport._http2 import (
    Connection,
    DataReceived,
    ErrorCode,
    Event,
    HeadersReceived,
    OtherFrameReceived,
    SettingsAcknowledged,
    SettingsReceived,
)
from trioplugin.transport._http2 import _frames as f

from ._helpers import (
    REQUEST,
    RESPONSE,
    block,
    client,
    data_frame,
    events_of,
    frame,
    headers_frame,
    of_kind,
    parse_frames,
    server,
    settings,
    window_update,
)
from ._rules import PING, assert_alive, connection_error, opened, padded, stream_error

_E = ErrorCode


# The preface and the first frame.


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"PRI * HTTP/1.1\r\n", f.PREFACE[:-1] + b"X"],
)
def test_bad_preface(data: bytes) -> None:
    connection = Connection(client=False)
    connection.data_to_send()
    connection_error(connection, data, _E.PROTOCOL_ERROR)


def test_preface_may_come_byte_by_byte() -> None:
    connection = Connection(client=False)
    events: list[Event] = []
    for byte in f.PREFACE + settings({}):
        events += connection.receive(bytes([byte]))
    assert [type(e) for e in events] == [SettingsReceived]
    assert not connection.closed
    assert_alive(connection)


@pytest.mark.parametrize(
    "first",
    [PING, headers_frame(1, REQUEST), window_update(0, 1), frame(0xEE, 0, 0)],
    ids=["PING", "HEADERS", "WINDOW_UPDATE", "unknown"],
)
def test_first_frame_not_settings(first: bytes) -> None:
    connection = Connection(client=False)
    connection_error(connection, f.PREFACE + first, _E.PROTOCOL_ERROR)


def test_settings_ack_first_is_taken_as_settings() -> None:
    # Lenient, as Go's server: a client that acknowledges ours before sending its own.
    connection = Connection(client=False)
    events = connection.receive(f.PREFACE + frame(f.SETTINGS, f.FLAG_ACK, 0) + settings({}))
    assert [type(e) for e in events] == [SettingsAcknowledged, SettingsReceived]
    assert_alive(connection)


def test_first_frame_from_server_not_settings() -> None:
    connection = Connection(client=True)
    connection_error(connection, PING, _E.PROTOCOL_ERROR)


# Frame sizes.


@pytest.mark.parametrize("kind", [f.DATA, f.HEADERS, f.SETTINGS, 0xEE])
def test_oversized_frame_refused_from_its_9_byte_header(kind: int) -> None:
    connection = server()
    header = f.frame_header(f.DEFAULT_MAX_FRAME_SIZE + 1, kind, 0, 1)
    assert len(header) == 9
    connection_error(connection, header, _E.FRAME_SIZE_ERROR)


def test_oversized_frame_refused_from_the_first_bytes_of_its_header() -> None:
    connection = server()
    connection_error(connection, f.frame_header(2**24 - 1, f.DATA, 0, 1)[:3], _E.FRAME_SIZE_ERROR)


def test_largest_allowed_frame_is_taken() -> None:
    connection = opened()
    events = connection.receive(data_frame(1, b"x" * f.DEFAULT_MAX_FRAME_SIZE))
    assert [len(event.data) for event in events_of(events, DataReceived)] == [16384]


@pytest.mark.parametrize(
    ("kind", "stream_id", "length"),
    [
        (f.RST_STREAM, 1, 3),
        (f.RST_STREAM, 1, 5),
        (f.PING, 0, 7),
        (f.PING, 0, 9),
        (f.WINDOW_UPDATE, 0, 3),
        (f.WINDOW_UPDATE, 1, 5),
        (f.SETTINGS, 0, 5),
        (f.SETTINGS, 0, 7),
        (f.GOAWAY, 0, 7),
    ],
)
def test_wrong_length_control_frames(kind: int, stream_id: int, length: int) -> None:
    connection = opened()
    connection_error(connection, frame(kind, 0, stream_id, b"\0" * length), _E.FRAME_SIZE_ERROR)


@pytest.mark.parametrize("length", [0, 4, 6])
def test_wrong_length_priority_is_a_stream_error(length: int) -> None:
    connection = opened()
    stream_error(connection, frame(f.PRIORITY, 0, 1, b"\0" * length), 1, _E.FRAME_SIZE_ERROR)


def test_settings_ack_with_payload() -> None:
    connection = server()
    connection_error(connection, frame(f.SETTINGS, f.FLAG_ACK, 0, b"\0" * 6), _E.FRAME_SIZE_ERROR)


# What must be ignored (RFC 9113 §4.1, §5.5).


def test_reserved_bit_of_the_stream_id_is_ignored() -> None:
    connection = server()
    reserved = 1 << 31
    events = connection.receive(
        frame(f.HEADERS, f.FLAG_END_HEADERS, 1 | reserved, block(REQUEST))
        + data_frame(1 | reserved, b"x", end_stream=True)
    )
    head, data = events
    assert isinstance(head, HeadersReceived) and head.stream_id == 1
    assert isinstance(data, DataReceived) and data.stream_id == 1 and data.end_stream


def test_undefined_flags_are_ignored() -> None:
    connection = server()
    undefined = 0xFF & ~(f.FLAG_END_STREAM | f.FLAG_END_HEADERS | f.FLAG_PADDED | f.FLAG_PRIORITY)
    events = connection.receive(
        frame(f.HEADERS, f.FLAG_END_HEADERS | undefined, 1, block(REQUEST))
        + frame(f.DATA, undefined, 1, b"body")
        + frame(f.PING, 0xFE, 0, b"12345678")  # not an ACK: answered
        + frame(f.SETTINGS, 0xFE, 0, b"")  # not an ACK: acknowledged
        + frame(f.WINDOW_UPDATE, 0xFF, 1, b"\0\0\0\x01")
    )
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "HeadersReceived",
        "DataReceived",
        "PingReceived",
        "SettingsReceived",
        "WindowUpdated",
    ]
    head = events[0]
    assert isinstance(head, HeadersReceived) and not head.end_stream
    sent = [(fr.kind, fr.flags) for fr in parse_frames(connection.data_to_send())]
    assert sent == [(f.PING, f.FLAG_ACK), (f.SETTINGS, f.FLAG_ACK)]


def test_end_stream_flag_on_continuation_is_ignored() -> None:
    connection = server()
    whole = block(REQUEST)
    events = connection.receive(
        frame(f.HEADERS, 0, 1, whole[:4])
        + frame(f.CONTINUATION, f.FLAG_END_HEADERS | f.FLAG_END_STREAM, 1, whole[4:])
    )
    (head,) = events
    assert isinstance(head, HeadersReceived) and not head.end_stream
    assert 1 in connection.streams


@pytest.mark.parametrize("stream_id", [0, 1, 7, 2**31 - 1])
def test_unknown_frame_types_are_ignored_on_any_stream(stream_id: int) -> None:
    connection = opened()
    (event,) = connection.receive(frame(0xEE, 0xFF, stream_id, b"whatever"))
    assert isinstance(event, OtherFrameReceived)
    assert (event.kind, event.stream_id) == (0xEE, stream_id)
    assert connection.data_to_send() == b""
    assert connection.highest_inbound_stream_id == 1  # it opened nothing
    assert_alive(connection)


# Frames on the wrong stream.


@pytest.mark.parametrize(
    "data",
    [
        data_frame(0, b"x"),
        frame(f.HEADERS, f.FLAG_END_HEADERS, 0, block(REQUEST)),
        frame(f.PRIORITY, 0, 0, b"\0" * 5),
        frame(f.RST_STREAM, 0, 0, b"\0" * 4),
        frame(f.SETTINGS, 0, 1),
        frame(f.PING, 0, 1, b"\0" * 8),
        frame(f.GOAWAY, 0, 1, b"\0" * 8),
    ],
    ids=["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PING", "GOAWAY"],
)
def test_frame_on_the_wrong_stream(data: bytes) -> None:
    connection_error(server(), data, _E.PROTOCOL_ERROR)


@pytest.mark.parametrize(
    "data",
    [data_frame(3, b"x"), frame(f.RST_STREAM, 0, 3, b"\0" * 4), window_update(3, 10)],
    ids=["DATA", "RST_STREAM", "WINDOW_UPDATE"],
)
def test_frame_on_an_idle_stream(data: bytes) -> None:
    connection_error(opened(), data, _E.PROTOCOL_ERROR)


def test_frames_on_idle_even_streams() -> None:
    connection_error(server(), data_frame(2, b"x"), _E.PROTOCOL_ERROR)


def test_priority_on_an_idle_stream_is_fine() -> None:
    connection = server()
    (event,) = connection.receive(frame(f.PRIORITY, 0, 5, b"\0\0\0\0\x10"))
    assert isinstance(event, OtherFrameReceived)
    assert (event.kind, event.stream_id) == (f.PRIORITY, 5)
    assert connection.data_to_send() == b""
    assert_alive(connection)  # stream 1: PRIORITY did not open stream 5


def test_even_stream_id_from_a_client() -> None:
    connection_error(server(), headers_frame(2, REQUEST, end_stream=True), _E.PROTOCOL_ERROR)


def test_push_promise_to_a_server() -> None:
    connection_error(opened(), frame(f.PUSH_PROMISE, 4, 1, b"\0\0\0\x02"), _E.PROTOCOL_ERROR)


def test_push_promise_to_a_client() -> None:
    connection = client()
    sid = connection.open_stream()
    connection.send_headers(sid, REQUEST, end_stream=True)
    payload = b"\0\0\0\x02" + block(REQUEST)
    connection_error(connection, frame(f.PUSH_PROMISE, 4, sid, payload), _E.PROTOCOL_ERROR)


def test_headers_from_a_server_on_a_stream_it_never_promised() -> None:
    connection_error(client(), headers_frame(2, RESPONSE), _E.PROTOCOL_ERROR)


def test_headers_from_a_server_on_a_stream_we_never_opened() -> None:
    connection_error(client(), headers_frame(1, RESPONSE), _E.PROTOCOL_ERROR)


def test_headers_reusing_a_lower_stream_id() -> None:
    connection = server()
    connection.receive(headers_frame(3, REQUEST, end_stream=True))
    connection_error(connection, headers_frame(1, REQUEST, end_stream=True), _E.PROTOCOL_ERROR)


def test_headers_on_a_closed_stream_are_ignored_and_keep_hpack_in_step() -> None:
    connection = server()
    connection.receive(headers_frame(1, REQUEST, end_stream=True))
    connection.send_headers(1, RESPONSE, end_stream=True)
    connection.data_to_send()
    # Closed both ways: a late block is decoded (an indexed entry) and dropped.
    indexed = b"\x40\x05x-new\x03one"  # literal with incremental indexing: index 62
    assert connection.receive(frame(f.HEADERS, 5, 1, indexed)) == []
    events = connection.receive(frame(f.HEADERS, 5, 3, block(REQUEST) + b"\xbe"))
    (head,) = events_of(events, HeadersReceived)
    assert head.fields[-1] == ("x-new", "one")


# Padding.


def test_padding_is_stripped_and_counted() -> None:
    connection = opened()
    data = padded(f.DATA, 0, 1, 10, b"abc")
    (event,) = connection.receive(data)
    assert isinstance(event, DataReceived)
    assert (event.data, event.flow_length) == (b"abc", 14)
    head = padded(f.HEADERS, f.FLAG_END_HEADERS | f.FLAG_PRIORITY, 3, 7, block(REQUEST), b"\0" * 5)
    (event2,) = connection.receive(head)
    assert isinstance(event2, HeadersReceived)
    assert event2.pseudo[b":path"] == dict(REQUEST)[b":path"]


def test_padding_only_data_is_given_back_without_the_app() -> None:
    connection = opened(connection_window=65_535)
    for _ in range(3):  # 3 * 16384 bytes of padding, no payload
        events = connection.receive(padded(f.DATA, 0, 1, 255, b"") * 64)
        assert {type(e) for e in events} == {OtherFrameReceived}
    updates = of_kind(parse_frames(connection.data_to_send()), f.WINDOW_UPDATE)
    assert {u.stream_id for u in updates} == {0, 1}
    assert sum(u.increment for u in updates if u.stream_id == 0) >= 3 * 64 * 256 // 2


@pytest.mark.parametrize(
    "data",
    [
        frame(f.DATA, f.FLAG_PADDED, 1, b"\x04\0\0\0"),  # pad length 4, 3 bytes after it
        frame(f.DATA, f.FLAG_PADDED, 1, b"\x05abcd"),
        frame(f.HEADERS, f.FLAG_PADDED | f.FLAG_END_HEADERS, 3, b"\x09" + b"\0" * 8),
        frame(
            f.HEADERS,
            f.FLAG_PADDED | f.FLAG_PRIORITY | f.FLAG_END_HEADERS,
            3,
            b"\x03" + b"\0" * 5 + b"\0\0",
        ),
    ],
    ids=["DATA-short", "DATA", "HEADERS", "HEADERS-priority"],
)
def test_padding_too_long(data: bytes) -> None:
    connection_error(opened(), data, _E.PROTOCOL_ERROR)


@pytest.mark.parametrize(
    "data",
    [
        frame(f.DATA, f.FLAG_PADDED, 1),
        frame(f.HEADERS, f.FLAG_PADDED | f.FLAG_END_HEADERS, 3),
        frame(f.HEADERS, f.FLAG_PRIORITY | f.FLAG_END_HEADERS, 3, b"\0\0\0"),
    ],
    ids=["DATA-padded-empty", "HEADERS-padded-empty", "HEADERS-priority-short"],
)
def test_frame_too_short_for_its_flags(data: bytes) -> None:
    connection_error(opened(), data, _E.FRAME_SIZE_ERROR)
