"""Header blocks a peer can break: CONTINUATION, HPACK, malformed requests and responses.

Most cases are fed to a server after the preface and a SETTINGS; the ones
only a server can break are fed to a client. Checked as in
test_connection_rules.py: the exact code, and whether the stream or the
whole connection ends.
"""

from __future__ import annotations

import pytest

from trioplugin.transport._http2 import (
    Connection,
    DataReceived,
    ErrorCode,
    H2ConnectionError,
    HeadersReceived,
    OtherFrameReceived,
    StreamReset,
    WindowUpdated,
)
from trioplugin.transport._http2 import _frames as f

from ._helpers import (
    REQUEST,
    RESPONSE,
    Headers,
    block,
    client,
    data_frame,
    events_of,
    frame,
    headers_frame,
    of_kind,
    parse_frames,
    server,
    window_update,
)
from ._rules import PING, assert_alive, connection_error, opened, padded, stream_error

_E = ErrorCode


# Header blocks: CONTINUATION.


def test_continuation_without_headers() -> None:
    connection_error(
        server(), frame(f.CONTINUATION, f.FLAG_END_HEADERS, 1, block(REQUEST)), _E.PROTOCOL_ERROR
    )


def test_continuation_on_another_stream() -> None:
    whole = block(REQUEST)
    data = frame(f.HEADERS, 0, 1, whole[:5]) + frame(f.CONTINUATION, 4, 3, whole[5:])
    connection_error(server(), data, _E.PROTOCOL_ERROR)


@pytest.mark.parametrize(
    "between",
    [PING, data_frame(1, b"x"), frame(0xEE, 0, 0, b"?"), headers_frame(3, REQUEST)],
    ids=["PING", "DATA", "unknown", "HEADERS"],
)
def test_interrupted_header_block(between: bytes) -> None:
    whole = block(REQUEST)
    data = frame(f.HEADERS, 0, 1, whole[:5]) + between + frame(f.CONTINUATION, 4, 1, whole[5:])
    connection_error(server(), data, _E.PROTOCOL_ERROR)


def test_header_block_in_pieces_is_fine() -> None:
    whole = block([*REQUEST, (b"x-long", b"v" * 3000)])
    pieces = [whole[i : i + 200] for i in range(0, len(whole), 200)]
    data = frame(f.HEADERS, f.FLAG_END_STREAM, 1, pieces[0])
    data += b"".join(frame(f.CONTINUATION, 0, 1, piece) for piece in pieces[1:-1])
    data += frame(f.CONTINUATION, f.FLAG_END_HEADERS, 1, pieces[-1])
    connection = server()
    (head,) = connection.receive(data)
    assert isinstance(head, HeadersReceived) and head.end_stream
    assert head.fields[-1] == ("x-long", "v" * 3000)


def test_continuation_flood_of_empty_frames() -> None:
    data = frame(f.HEADERS, 0, 1) + frame(f.CONTINUATION, 0, 1) * 1000
    connection_error(server(), data, _E.ENHANCE_YOUR_CALM, abuse=True)


def test_continuation_flood_is_refused_before_it_ends() -> None:
    connection = server()
    connection.receive(frame(f.HEADERS, 0, 1))
    with pytest.raises(H2ConnectionError) as info:
        for _ in range(1000):  # one frame at a time: never a whole block
            connection.receive(frame(f.CONTINUATION, 0, 1))
    assert (info.value.code, info.value.abuse) == (_E.ENHANCE_YOUR_CALM, True)


@pytest.mark.parametrize("continuations", [63, 64])
def test_up_to_sixty_four_continuations_are_allowed(continuations: int) -> None:
    whole = block(REQUEST)
    data = frame(f.HEADERS, f.FLAG_END_STREAM, 1)
    data += frame(f.CONTINUATION, 0, 1) * (continuations - 1)
    data += frame(f.CONTINUATION, f.FLAG_END_HEADERS, 1, whole)
    (head,) = server().receive(data)
    assert isinstance(head, HeadersReceived)


def test_header_block_growing_past_the_limit() -> None:
    connection = server(max_header_list_size=65_536)
    piece = b"\0" * f.DEFAULT_MAX_FRAME_SIZE  # never decoded: refused first
    connection.receive(frame(f.HEADERS, 0, 1, piece) + frame(f.CONTINUATION, 0, 1, piece) * 4)
    assert not connection.closed  # 81920 bytes: the list size plus one frame
    connection_error(
        connection, frame(f.CONTINUATION, 0, 1, piece), _E.ENHANCE_YOUR_CALM, abuse=True
    )


# HPACK.


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"\x80", b""),  # index 0
        (b"\xbe", b""),  # index 62: the dynamic table is empty
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", b""),  # an index far too big
        (b"\x3f\xe2\x1f", b""),  # a table size update to 4097, over the 4096 we allow
        (b"", b"\x3f\xe1\x1f"),  # a table size update after the first field
        (b"", b"\x00\x05ab"),  # a literal name cut short
        (b"", b"\x00\x81\xff"),  # a Huffman string that is all EOS padding
    ],
    ids=[
        "index 0",
        "empty dynamic table",
        "huge index",
        "table size",
        "late size update",
        "cut short",
        "huffman",
    ],
)
def test_hpack_garbage(before: bytes, after: bytes) -> None:
    payload = before + block(REQUEST) + after
    data = frame(f.HEADERS, f.FLAG_END_HEADERS | f.FLAG_END_STREAM, 1, payload)
    connection_error(server(), data, _E.COMPRESSION_ERROR)


def test_hpack_garbage_on_a_closed_stream_still_ends_the_connection() -> None:
    connection = server()
    connection.receive(headers_frame(1, REQUEST, end_stream=True))
    connection.reset_stream(1)
    connection.data_to_send()
    connection_error(connection, frame(f.HEADERS, 5, 1, b"\xbe"), _E.COMPRESSION_ERROR)


def test_hpack_bomb() -> None:
    # One 4000-byte entry in the dynamic table, then referred to again and again.
    entry = b"\x40\x01x\x7f\xa1\x1e" + b"b" * 4000  # 0x7f 0xa1 0x1e: length 127 + 3873
    bomb = block(REQUEST) + entry + b"\xbe" * 40
    assert len(bomb) < 4200  # a small block, a 160 KB header list
    data = frame(f.HEADERS, f.FLAG_END_HEADERS | f.FLAG_END_STREAM, 1, bomb)
    connection_error(server(), data, _E.ENHANCE_YOUR_CALM, abuse=True)


def test_header_list_over_our_limit() -> None:
    connection = server(max_header_list_size=1000)
    data = headers_frame(1, [*REQUEST, (b"x-big", b"v" * 1000)], end_stream=True)
    connection_error(connection, data, _E.ENHANCE_YOUR_CALM, abuse=True)


def test_header_list_at_our_limit_is_fine() -> None:
    connection = server(max_header_list_size=1000)
    size = sum(len(n) + len(v) + 32 for n, v in REQUEST)
    value = b"v" * (1000 - size - len(b"x-big") - 32)
    (head,) = connection.receive(headers_frame(1, [*REQUEST, (b"x-big", value)], end_stream=True))
    assert isinstance(head, HeadersReceived)


# Malformed requests: stream errors, the connection lives on.


def with_pseudo(name: bytes, value: bytes) -> Headers:
    """The request head with one pseudo-header field's value replaced."""
    return [(n, value if n == name else v) for n, v in REQUEST]


MALFORMED_REQUESTS: dict[str, Headers] = {
    "uppercase name": [*REQUEST, (b"X-Upper", b"1")],
    "name with a colon": [*REQUEST, (b"x:y", b"1")],
    "name with a space": [*REQUEST, (b"x y", b"1")],
    "empty name": [*REQUEST, (b"", b"1")],
    "connection": [*REQUEST, (b"connection", b"keep-alive")],
    "keep-alive": [*REQUEST, (b"keep-alive", b"5")],
    "proxy-connection": [*REQUEST, (b"proxy-connection", b"close")],
    "transfer-encoding": [*REQUEST, (b"transfer-encoding", b"chunked")],
    "upgrade": [*REQUEST, (b"upgrade", b"h2c")],
    "te gzip": [*REQUEST, (b"te", b"gzip")],
    "te trailers, gzip": [*REQUEST, (b"te", b"trailers, gzip")],
    "pseudo after regular": [*REQUEST[:2], (b"x-a", b"1"), *REQUEST[2:]],
    "unknown pseudo": [*REQUEST[:4], (b":foo", b"bar")],
    "response pseudo": [(b":status", b"200"), *REQUEST],
    "duplicate :path": [*REQUEST[:4], (b":path", b"/other")],
    "duplicate :method": [(b":method", b"GET"), *REQUEST],
    "no :method": [h for h in REQUEST if h[0] != b":method"],
    "no :path": [h for h in REQUEST if h[0] != b":path"],
    "no :scheme": [h for h in REQUEST if h[0] != b":scheme"],
    "empty :path": [(n, b"" if n == b":path" else v) for n, v in REQUEST],
    "value with CR": [*REQUEST, (b"x-a", b"a\rb")],
    "value with LF": [*REQUEST, (b"x-a", b"a\nb")],
    "value with NUL": [*REQUEST, (b"x-a", b"a\0b")],
    "value ending in LF": [*REQUEST, (b"x-a", b"ab\n")],
    "value with leading space": [*REQUEST, (b"x-a", b" ab")],
    "value with trailing space": [*REQUEST, (b"x-a", b"ab ")],
    "value with leading tab": [*REQUEST, (b"x-a", b"\tab")],
    "value with trailing tab": [*REQUEST, (b"x-a", b"ab\t")],
    "content-length not a number": [*REQUEST, (b"content-length", b"ten")],
    "content-length negative": [*REQUEST, (b"content-length", b"-1")],
    "two content-lengths": [*REQUEST, (b"content-length", b"1"), (b"content-length", b"2")],
    "content-length superscript": [*REQUEST, (b"content-length", b"\xb2")],
    "content-length 20 digits": [*REQUEST, (b"content-length", b"1" * 20)],
    "content-length 5001 digits": [*REQUEST, (b"content-length", b"1" + b"0" * 5000)],
    ":path with CR LF": with_pseudo(b":path", b"/a\r\nx: y"),
    ":authority with NUL": with_pseudo(b":authority", b"a\0b"),
    ":method with LF": with_pseudo(b":method", b"PO\nST"),
}


@pytest.mark.parametrize("headers", MALFORMED_REQUESTS.values(), ids=MALFORMED_REQUESTS.keys())
@pytest.mark.parametrize("end_stream", [True, False])
def test_malformed_request_is_a_stream_error(headers: Headers, end_stream: bool) -> None:
    connection = server()
    data = headers_frame(1, headers, end_stream=end_stream)
    events = stream_error(connection, data, 1, _E.PROTOCOL_ERROR)
    assert [type(e) for e in events] == [StreamReset]
    assert isinstance(events[0], StreamReset) and events[0].reason
    # Frames the client sent before it saw our RST_STREAM are dropped.
    assert connection.receive(data_frame(1, b"late", end_stream=True)) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [(b":path", b"/a "), (b":method", b" POST"), (b":authority", b"\tlocalhost")],
)
def test_pseudo_header_value_with_surrounding_whitespace(name: bytes, value: bytes) -> None:
    data = headers_frame(1, with_pseudo(name, value), end_stream=True)
    stream_error(server(), data, 1, _E.PROTOCOL_ERROR)


def test_well_formed_request_edge_cases_are_fine() -> None:
    connection = server()
    heads: list[Headers] = [
        [*REQUEST, (b"te", b"trailers")],
        [*REQUEST, (b"content-length", b"0")],
        [*REQUEST, (b"x-empty", b"")],
        [*REQUEST, (b"x-inner", b"a \t b")],
        [*REQUEST, (b"content-length", b"0"), (b"content-length", b"0")],
        [(b":method", b"CONNECT"), (b":authority", b"example.com:443")],
    ]
    for i, headers in enumerate(heads):
        sid = 2 * i + 1
        (head,) = connection.receive(headers_frame(sid, headers, end_stream=True))
        assert isinstance(head, HeadersReceived), headers
    assert connection.data_to_send() == b""


def test_content_length_more_data_than_declared() -> None:
    connection = server()
    connection.receive(headers_frame(1, [*REQUEST, (b"content-length", b"3")]))
    stream_error(connection, data_frame(1, b"four"), 1, _E.PROTOCOL_ERROR)


def test_content_length_less_data_than_declared() -> None:
    connection = server()
    connection.receive(
        headers_frame(1, [*REQUEST, (b"content-length", b"5")]) + data_frame(1, b"ab")
    )
    stream_error(connection, data_frame(1, b"cd", end_stream=True), 1, _E.PROTOCOL_ERROR)


def test_content_length_declared_but_no_data() -> None:
    connection = server()
    data = headers_frame(1, [*REQUEST, (b"content-length", b"5")], end_stream=True)
    stream_error(connection, data, 1, _E.PROTOCOL_ERROR)


def test_content_length_cut_short_by_trailers() -> None:
    connection = server()
    connection.receive(
        headers_frame(1, [*REQUEST, (b"content-length", b"5")]) + data_frame(1, b"ab")
    )
    stream_error(
        connection, headers_frame(1, [(b"x-t", b"1")], end_stream=True), 1, _E.PROTOCOL_ERROR
    )


def test_content_length_counts_payload_not_padding() -> None:
    connection = server()
    connection.receive(headers_frame(1, [*REQUEST, (b"content-length", b"3")]))
    (event,) = connection.receive(padded(f.DATA, f.FLAG_END_STREAM, 1, 50, b"abc"))
    assert isinstance(event, DataReceived) and event.end_stream
    assert connection.data_to_send() == b""


def test_trailers_without_end_stream() -> None:
    connection = opened()
    connection.receive(data_frame(1, b"body"))
    stream_error(connection, headers_frame(1, [(b"x-t", b"1")]), 1, _E.PROTOCOL_ERROR)


def test_trailers_with_a_pseudo_header() -> None:
    connection = opened()
    data = headers_frame(1, [(b":path", b"/"), (b"x-t", b"1")], end_stream=True)
    stream_error(connection, data, 1, _E.PROTOCOL_ERROR)


# Frames after the peer ended the stream.


@pytest.mark.parametrize(
    "late",
    [
        data_frame(1, b"more"),
        data_frame(1, b"", end_stream=True),
        headers_frame(1, [(b"x", b"1")], end_stream=True),
    ],
    ids=["DATA", "empty DATA", "HEADERS"],
)
def test_frames_after_end_stream(late: bytes) -> None:
    connection = server()
    connection.receive(headers_frame(1, REQUEST) + data_frame(1, b"body", end_stream=True))
    assert 1 in connection.streams  # half-closed (remote): we have not answered
    stream_error(connection, late, 1, _E.STREAM_CLOSED)


def test_stream_closed_data_window_is_given_back() -> None:
    connection = server()
    connection.receive(headers_frame(1, REQUEST, end_stream=True))
    connection.receive(data_frame(1, b"x" * 16384))
    connection.data_to_send()
    for sid in (3, 5):  # two more of the same: half the window is owed
        connection.receive(headers_frame(sid, REQUEST, end_stream=True))
        connection.receive(data_frame(sid, b"x" * 16384))
    frames = parse_frames(connection.data_to_send())
    assert [u.stream_id for u in of_kind(frames, f.WINDOW_UPDATE)] == [0]


def test_control_frames_after_end_stream_are_fine() -> None:
    connection = server()
    connection.receive(headers_frame(1, REQUEST, end_stream=True))
    events = connection.receive(window_update(1, 5) + frame(f.PRIORITY, 0, 1, b"\0" * 5))
    assert [type(e) for e in events] == [WindowUpdated, OtherFrameReceived]
    (reset,) = connection.receive(frame(f.RST_STREAM, 0, 1, b"\0\0\0\x08"))
    assert isinstance(reset, StreamReset)
    assert (reset.stream_id, reset.code, reset.remote) == (1, _E.CANCEL, True)
    assert connection.data_to_send() == b""
    assert_alive(connection)


# What a server can break (fed to our client).


def response_to(connection: Connection) -> int:
    sid = connection.open_stream()
    connection.send_headers(sid, REQUEST, end_stream=True)
    connection.data_to_send()
    return sid


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-type", b"application/proto")],
        [(b":status", b"20")],
        [(b":status", b"abc")],
        [(b":status", b"200"), (b":path", b"/")],
        [(b":status", b"200"), (b":status", b"200")],
        [(b":status", b"200"), (b"Upper", b"x")],
        [(b":status", b"200"), (b"connection", b"close")],
    ],
    ids=["no status", "short status", "letters", "request pseudo", "two statuses", "upper", "conn"],
)
def test_malformed_response(headers: Headers) -> None:
    connection = client()
    sid = response_to(connection)
    stream_error(connection, headers_frame(sid, headers), sid, _E.PROTOCOL_ERROR)


def test_informational_response_then_final() -> None:
    connection = client()
    sid = response_to(connection)
    events = connection.receive(
        headers_frame(sid, [(b":status", b"103"), (b"link", b"</a>")])
        + headers_frame(sid, RESPONSE)
        + data_frame(sid, b"ok", end_stream=True)
    )
    informational, final = events_of(events, HeadersReceived)
    assert informational.pseudo == {b":status": b"103"}
    assert final.pseudo == {b":status": b"200"} and not final.trailers


def test_informational_response_ending_the_stream() -> None:
    connection = client()
    sid = response_to(connection)
    data = headers_frame(sid, [(b":status", b"100")], end_stream=True)
    stream_error(connection, data, sid, _E.PROTOCOL_ERROR)


def test_response_content_length_mismatch() -> None:
    connection = client()
    sid = response_to(connection)
    connection.receive(headers_frame(sid, [*RESPONSE, (b"content-length", b"10")]))
    stream_error(connection, data_frame(sid, b"short", end_stream=True), sid, _E.PROTOCOL_ERROR)


def test_data_before_the_response_head() -> None:
    connection = client()
    sid = response_to(connection)
    stream_error(connection, data_frame(sid, b"early", end_stream=True), sid, _E.PROTOCOL_ERROR)


def test_data_after_an_informational_response_before_the_final_one() -> None:
    connection = client()
    sid = response_to(connection)
    connection.receive(headers_frame(sid, [(b":status", b"100")]))
    stream_error(connection, data_frame(sid, b"early"), sid, _E.PROTOCOL_ERROR)
