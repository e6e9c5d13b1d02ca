"""What the rule tests share: feeding frames that must end in a stream or a connection error."""

from __future__ import annotations

import pytest

from trioplugin.transport._http2 import (
    Connection,
    DataReceived,
    ErrorCode,
    Event,
    H2ConnectionError,
    HeadersReceived,
    StreamReset,
)
from trioplugin.transport._http2 import _frames as f

from ._helpers import (
    REQUEST,
    RESPONSE,
    data_frame,
    events_of,
    frame,
    headers_frame,
    of_kind,
    parse_frames,
    server,
)

PING = frame(f.PING, 0, 0, b"12345678")


def connection_error(
    connection: Connection, data: bytes, code: ErrorCode, *, abuse: bool = False
) -> H2ConnectionError:
    """Feed ``data``: it must end the connection with ``code``, a GOAWAY queued."""
    with pytest.raises(H2ConnectionError) as info:
        connection.receive(data)
    error = info.value
    assert (error.code, error.abuse) == (code, abuse), str(error)
    frames = parse_frames(connection.data_to_send())
    assert frames, "no GOAWAY queued"
    goaway = frames[-1]
    assert (goaway.kind, goaway.stream_id, goaway.code) == (f.GOAWAY, 0, code)
    assert goaway.last_stream_id == connection.highest_inbound_stream_id
    assert not of_kind(frames, f.RST_STREAM)
    assert connection.closed
    assert connection.receive(PING) == []  # nothing more is processed
    assert connection.data_to_send() == b""
    return error


def stream_error(
    connection: Connection,
    data: bytes,
    stream_id: int,
    code: ErrorCode,
) -> list[Event]:
    """Feed ``data``: it must reset ``stream_id`` with ``code`` and leave the connection up."""
    events = connection.receive(data)
    frames = parse_frames(connection.data_to_send())
    assert [(fr.stream_id, fr.code) for fr in of_kind(frames, f.RST_STREAM)] == [(stream_id, code)]
    assert not of_kind(frames, f.GOAWAY)
    assert not connection.closed
    assert stream_id not in connection.streams
    resets = [(e.stream_id, e.code, e.remote) for e in events_of(events, StreamReset)]
    assert resets == [(stream_id, code, False)]
    assert not [e for e in events_of(events, HeadersReceived) if e.stream_id == stream_id]
    assert_alive(connection)
    return events


def assert_alive(connection: Connection) -> None:
    """Complete one more exchange on ``connection``: it still works."""
    connection.data_to_send()
    if connection.client:
        sid = connection.open_stream()
        connection.send_headers(sid, REQUEST, end_stream=True)
        connection.data_to_send()
        events = connection.receive(
            headers_frame(sid, RESPONSE) + data_frame(sid, b"pong", end_stream=True)
        )
    else:
        sid = (connection.highest_inbound_stream_id or -1) + 2
        events = connection.receive(
            headers_frame(sid, REQUEST) + data_frame(sid, b"ping", end_stream=True)
        )
        connection.send_headers(sid, RESPONSE)
        connection.send_data(sid, b"pong", end_stream=True)
        kinds = [(fr.kind, fr.stream_id) for fr in parse_frames(connection.data_to_send())]
        assert kinds == [(f.HEADERS, sid), (f.DATA, sid)]
    (head,) = events_of(events, HeadersReceived)
    (data,) = events_of(events, DataReceived)
    assert head.stream_id == data.stream_id == sid
    assert data.end_stream
    assert sid not in connection.streams


def opened(**options: int) -> Connection:
    """A server with stream 1 open (its request head in, no END_STREAM)."""
    connection = server(**options)
    (head,) = connection.receive(headers_frame(1, REQUEST))
    assert isinstance(head, HeadersReceived)
    return connection


def padded(
    kind: int, flags: int, stream_id: int, pad: int, body: bytes, extra: bytes = b""
) -> bytes:
    """A PADDED frame: the pad-length byte, ``extra`` (priority fields), body, padding."""
    return frame(kind, flags | f.FLAG_PADDED, stream_id, bytes([pad]) + extra + body + b"\0" * pad)
