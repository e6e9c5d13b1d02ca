"""The server's reader: requests as bytes in, heads, body pieces and END out.

Well-formed requests (framing, pipelining, any split), the consumer's side of
the state machine, declined upgrades, EOF, and the requests it must refuse:
each refusal is an H1ProtocolError with the status a server answers it with,
raised once the events before it were taken, and again on every later call.
"""

from __future__ import annotations

import pytest

from trioplugin.transport._http1 import (
    CLOSED,
    END,
    NEED_DATA,
    H1ProtocolError,
    RequestHead,
)

from ._helpers import (
    SIMPLE_GET,
    feed_bytewise,
    protocol_error,
    server,
    take,
    take_request,
)

POST = (
    b"POST /echo.Echo/Say HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"Content-Type: application/proto\r\n"
    b"X-Custom-Thing: Mixed Case Value\r\n"
    b"Content-Length: 11\r\n"
    b"\r\n"
    b"hello world"
)
CHUNKED_POST = (
    b"POST /upload HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"5\r\nhello\r\n"
    b"6;name=value\r\n world\r\n"
    b"0\r\n"
    b"X-Checksum: abc\r\n"
    b"\r\n"
)


def post(body: bytes, *fields: bytes, target: bytes = b"/p") -> bytes:
    """A POST with ``body`` counted by Content-Length, ``fields`` before it."""
    head = [b"POST " + target + b" HTTP/1.1", b"Host: example.com", *fields]
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def head_fields(head: RequestHead) -> tuple[object, ...]:
    """Every attribute of ``head``, to compare two heads."""
    return (
        head.method,
        head.target,
        head.version,
        head.headers,
        head.content_length,
        head.chunked,
        head.keep_alive,
        head.expects_continue,
    )


# A simple request and the consumer's state machine.


def test_post_with_content_length() -> None:
    reader = server()
    reader.feed(POST)
    head = reader.next_event()
    assert isinstance(head, RequestHead)
    assert head.method == "POST"
    assert head.target == "/echo.Echo/Say"
    assert head.version == "1.1"
    assert head.headers == [
        ("host", "example.com"),
        ("content-type", "application/proto"),
        ("x-custom-thing", "Mixed Case Value"),
        ("content-length", "11"),
    ]
    assert head.content_length == 11
    assert head.chunked is False
    assert head.keep_alive is True
    assert head.expects_continue is False
    assert reader.next_event() == b"hello world"
    assert reader.next_event() is END


def test_next_event_after_end_raises_until_start_next() -> None:
    reader = server()
    reader.feed(POST)
    assert take(reader)[-1] is END
    for _ in range(2):
        with pytest.raises(RuntimeError, match="start_next"):
            reader.next_event()
    reader.start_next()
    assert reader.next_event() is NEED_DATA
    assert reader.next_event() is NEED_DATA


def test_start_next_before_end_raises() -> None:
    reader = server()
    with pytest.raises(RuntimeError, match="not ended"):
        reader.start_next()
    reader.feed(POST)
    assert isinstance(reader.next_event(), RequestHead)
    with pytest.raises(RuntimeError, match="not ended"):
        reader.start_next()


def test_states_through_one_message() -> None:
    reader = server()
    assert (reader.message_ended, reader.in_message, reader.buffered()) == (False, False, False)
    assert reader.next_event() is NEED_DATA
    reader.feed(POST)
    assert (reader.message_ended, reader.in_message, reader.buffered()) == (False, False, True)
    assert isinstance(reader.next_event(), RequestHead)
    assert (reader.message_ended, reader.in_message) == (False, True)
    assert reader.next_event() == b"hello world"
    assert (reader.message_ended, reader.in_message, reader.buffered()) == (False, True, True)
    assert reader.next_event() is END
    assert (reader.message_ended, reader.in_message, reader.buffered()) == (True, False, False)
    reader.start_next()
    assert (reader.message_ended, reader.in_message, reader.buffered()) == (False, False, False)


def test_buffered_once_a_head_has_begun() -> None:
    reader = server()
    reader.feed(b"GET / HTTP/1.1\r\nHo")
    assert reader.next_event() is NEED_DATA
    assert reader.buffered()
    assert not reader.in_message
    reader.feed(b"st: a\r\n\r\n")
    head, body = take_request(reader)
    assert (head.target, head.headers, body) == ("/", [("host", "a")], b"")
    assert not reader.buffered()


def test_in_message_while_the_body_is_awaited() -> None:
    reader = server()
    reader.feed(post(b"abcdef")[:-4])
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() == b"ab"
    assert reader.next_event() is NEED_DATA
    assert reader.in_message
    assert not reader.buffered()
    reader.feed(b"cdef")
    assert take(reader) == [b"cdef", END]


def test_bytewise_gives_the_same_events() -> None:
    whole = server()
    whole.feed(POST)
    expected_head, expected_body = take_request(whole)
    reader = server()
    feed_bytewise(reader, POST)
    head = reader.next_event()
    assert isinstance(head, RequestHead)
    assert head_fields(head) == head_fields(expected_head)
    pieces = take(reader)
    assert pieces[-1] is END
    body = pieces[:-1]
    assert all(isinstance(piece, bytes) for piece in body)
    assert len(body) > 1  # it came as it was fed
    assert b"".join(p for p in body if isinstance(p, bytes)) == expected_body == b"hello world"


def test_bytewise_chunked_gives_the_same_body() -> None:
    reader = server()
    feed_bytewise(reader, CHUNKED_POST)
    head, body = take_request(reader)
    assert head.chunked
    assert body == b"hello world"


def test_a_body_split_anywhere() -> None:
    data = post(b"0123456789")
    for cut in range(1, len(data)):
        reader = server()
        reader.feed(data[:cut])
        reader.feed(data[cut:])
        head, body = take_request(reader)
        assert (head.content_length, body) == (10, b"0123456789"), cut


# Pipelining.


def test_pipelined_requests_queue_in_order() -> None:
    reader = server()
    reader.feed(post(b"first", target=b"/1") + SIMPLE_GET + post(b"third!", target=b"/3"))
    head = reader.next_event()
    assert isinstance(head, RequestHead)
    assert head.target == "/1"
    assert take(reader) == [b"first", END]
    assert reader.buffered()  # the next requests came
    with pytest.raises(RuntimeError):
        reader.next_event()  # the second head only after start_next()
    reader.start_next()
    second, body = take_request(reader)
    assert (second.method, second.target, body) == ("GET", "/ping", b"")
    assert second.content_length is None
    third, body = take_request(reader)
    assert (third.target, body) == ("/3", b"third!")
    assert not reader.buffered()
    assert reader.next_event() is NEED_DATA


def test_pipelined_requests_fed_bytewise() -> None:
    reader = server()
    feed_bytewise(reader, post(b"one", target=b"/1") + SIMPLE_GET)
    assert [(h.target, b) for h, b in (take_request(reader), take_request(reader))] == [
        ("/1", b"one"),
        ("/ping", b""),
    ]
    assert reader.next_event() is NEED_DATA


# Framing and the flags of the head.


def test_chunked_body_and_its_trailer_dropped() -> None:
    reader = server()
    reader.feed(CHUNKED_POST + SIMPLE_GET)
    head, body = take_request(reader)
    assert head.chunked is True
    assert head.content_length is None
    assert head.headers == [("host", "example.com"), ("transfer-encoding", "chunked")]
    assert body == b"hello world"
    after, _ = take_request(reader)
    assert after.target == "/ping"
    assert ("x-checksum", "abc") not in after.headers


def test_chunked_pieces_come_as_they_are_fed() -> None:
    reader = server()
    reader.feed(CHUNKED_POST[: CHUNKED_POST.index(b"6;")])
    assert isinstance(reader.next_event(), RequestHead)
    assert take(reader) == [b"hello", NEED_DATA]
    reader.feed(CHUNKED_POST[CHUNKED_POST.index(b"6;") :])
    assert take(reader) == [b" world", END]


def test_expect_100_continue() -> None:
    reader = server()
    reader.feed(post(b"", b"Expect: 100-continue"))
    head, _ = take_request(reader)
    assert head.expects_continue is True
    assert head.keep_alive is True


def test_expect_is_case_insensitive() -> None:
    reader = server()
    reader.feed(post(b"", b"expect: 100-Continue"))
    head, _ = take_request(reader)
    assert head.expects_continue is True


def test_http10_is_not_keep_alive_and_needs_no_host() -> None:
    reader = server()
    reader.feed(b"GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n")
    head, body = take_request(reader)
    assert (head.version, head.keep_alive, head.content_length, body) == ("1.0", False, None, b"")
    assert head.headers == [("user-agent", "x")]


def test_connection_close_is_not_keep_alive() -> None:
    reader = server()
    reader.feed(post(b"x", b"Connection: close"))
    head, body = take_request(reader)
    assert (head.version, head.keep_alive, body) == ("1.1", False, b"x")


def test_values_are_latin_1_text() -> None:
    reader = server()
    reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\tau lait\r\nX-Empty:\r\n\r\n")
    head, _ = take_request(reader)
    assert head.headers[1:] == [("x-name", "caf\xe9\tau lait"), ("x-empty", "")]


@pytest.mark.parametrize("bytewise", [False, True])
def test_whitespace_around_values_is_not_part_of_them(bytewise: bool) -> None:
    # RFC 9110 §5.5: a parser MUST exclude it; llhttp drops it only before a value.
    data = (
        b"POST / HTTP/1.1\r\nHost: a \r\nContent-Type:\t application/proto \t\r\n"
        b"X-Inner: a \t b\t\r\nX-Blank: \t \r\nContent-Length: 2 \r\n\r\nhi"
    )
    reader = server()
    if bytewise:
        feed_bytewise(reader, data)
    else:
        reader.feed(data)
    head, body = take_request(reader)
    assert head.headers == [
        ("host", "a"),
        ("content-type", "application/proto"),
        ("x-inner", "a \t b"),
        ("x-blank", ""),
        ("content-length", "2"),
    ]
    assert (head.content_length, body) == (2, b"hi")


def test_target_keeps_its_query() -> None:
    reader = server()
    reader.feed(b"GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: a\r\n\r\n")
    head, _ = take_request(reader)
    assert head.target == "/a/b?c=d&e=%20"


# Requests refused (400, 505).


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="garbage-line"),
        pytest.param(b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", id="unknown-method"),
        pytest.param(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", id="space-in-target"),
        pytest.param(b"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", id="tab-in-target"),
        pytest.param(b"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", id="non-ascii-target"),
        pytest.param(b"GET / XTTP/1.1\r\nHost: a\r\n\r\n", id="bad-protocol"),
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00", id="tls-client-hello"),
    ],
)
def test_bad_request_line(data: bytes) -> None:
    reader = server()
    reader.feed(data)
    protocol_error(reader, 400)


@pytest.mark.parametrize(
    "field",
    [
        pytest.param(b"Bad Name: 1", id="space-in-name"),
        pytest.param(b"X-A : 1", id="space-before-colon"),
        pytest.param(b": 1", id="empty-name"),
        pytest.param(b"X-A", id="no-colon"),
        pytest.param(b"X(A): 1", id="separator-in-name"),
        pytest.param(b"X-\xe9: 1", id="non-ascii-name"),
    ],
)
def test_invalid_header_name(field: bytes) -> None:
    reader = server()
    reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\n" + field + b"\r\n\r\n")
    protocol_error(reader, 400)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\rX-B: 2\r\n\r\n", id="bare-cr-in-value"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\nX-B: 2\r\n\r\n", id="bare-lf-in-value"),
        pytest.param(b"GET / HTTP/1.1\nHost: a\n\n", id="bare-lf-line-ends"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", id="cr-cr-lf-ending"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", id="nul-in-value"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", id="control-in-value"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb\r\n\r\n", id="del-in-value"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", id="obs-fold"),
        pytest.param(b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", id="cr-in-target"),
    ],
)
def test_cr_lf_injection(data: bytes) -> None:
    reader = server()
    reader.feed(data)
    protocol_error(reader, 400)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(
            b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", id="content-length-and-chunked"
        ),
        pytest.param(
            b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", id="chunked-and-content-length"
        ),
        pytest.param(b"Content-Length: 3\r\nContent-Length: 3\r\n", id="duplicate-same-length"),
        pytest.param(b"Content-Length: 3\r\nContent-Length: 4\r\n", id="duplicate-other-length"),
        pytest.param(b"Content-Length: 3, 3\r\n", id="length-list"),
        pytest.param(b"Content-Length: -3\r\n", id="negative-length"),
        pytest.param(b"Content-Length: 0x3\r\n", id="hex-length"),
        pytest.param(b"Transfer-Encoding: chunked, gzip\r\n", id="chunked-not-last"),
        pytest.param(b"Transfer-Encoding: gzip\r\n", id="not-chunked"),
    ],
)
def test_ambiguous_framing(fields: bytes) -> None:
    reader = server()
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\nabc\r\n0\r\n\r\n")
    for _ in range(3):  # llhttp refuses at the head or just after it
        try:
            event = reader.next_event()
        except H1ProtocolError as error:
            assert error.status == 400, str(error)
            break
        assert isinstance(event, RequestHead), event  # no body, no END, no NEED_DATA
    protocol_error(reader, 400)


def test_bad_chunk_size_after_the_head() -> None:
    reader = server()
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n")
    head = reader.next_event()
    assert isinstance(head, RequestHead)
    assert head.chunked
    protocol_error(reader, 400)


def test_bad_chunk_after_good_chunks() -> None:
    reader = server()
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    reader.feed(b"3\r\nabc\r\n")
    reader.feed(b"2\r\nxyz\r\n")  # one byte more than announced
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() == b"abc"
    assert reader.next_event() == b"xy"
    protocol_error(reader, 400)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(b"", id="no-host"),
        pytest.param(b"Host: a\r\nHost: b\r\n", id="two-hosts"),
        pytest.param(b"Host: a\r\nHost: a\r\n", id="two-same-hosts"),
    ],
)
def test_http11_needs_exactly_one_host(fields: bytes) -> None:
    reader = server()
    reader.feed(b"GET / HTTP/1.1\r\n" + fields + b"\r\n")
    error = protocol_error(reader, 400)
    assert "Host" in str(error)


def test_http10_with_two_hosts() -> None:
    reader = server()
    reader.feed(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n")
    protocol_error(reader, 400)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n", id="http2"),
        pytest.param(b"GET / HTTP/0.9\r\n", id="http0.9"),
        pytest.param(b"GET /\r\n", id="http0.9-style-line"),
    ],
)
def test_unsupported_versions(line: bytes) -> None:
    reader = server()
    reader.feed(line + b"\r\n")
    error = protocol_error(reader, 505)
    assert isinstance(error, H1ProtocolError)


def test_a_later_minor_version_is_refused() -> None:
    # RFC 9112 §2.3 says to read HTTP/1.2 as 1.1 (a SHOULD); llhttp refuses it.
    reader = server()
    reader.feed(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n")
    error = protocol_error(reader, 400)
    assert "version" in str(error)


def test_error_after_a_good_pipelined_request() -> None:
    reader = server()
    reader.feed(post(b"ok") + b"GARBAGE\r\n\r\n")
    head, body = take_request(reader)  # the good request's events come first
    assert (head.target, body) == ("/p", b"ok")
    protocol_error(reader, 400)


def test_an_error_counts_as_buffered() -> None:
    reader = server()
    reader.feed(b"GARBAGE\r\n\r\n")
    assert reader.buffered()
    protocol_error(reader, 400)
    assert reader.buffered()


def test_bytes_after_an_error_are_ignored() -> None:
    reader = server()
    reader.feed(b"GARBAGE\r\n\r\n")
    reader.feed(SIMPLE_GET)
    protocol_error(reader, 400)
    reader.feed(b"")
    protocol_error(reader, 400)


# Limits on the head (431).


def big_head(size: int) -> bytes:
    """A GET whose one field makes the head ``size`` bytes or a little more."""
    return b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * size + b"\r\n\r\n"


def test_head_too_large_whole() -> None:
    reader = server(max_head_size=1000)
    reader.feed(big_head(2000))
    error = protocol_error(reader, 431)
    assert "1000" in str(error)


def test_head_too_large_trickling() -> None:
    reader = server(max_head_size=1000)
    data = big_head(2000)
    for index in range(1001):
        reader.feed(data[index : index + 1])
    # Refused before its end came.
    protocol_error(reader, 431)


def test_head_too_large_in_pieces() -> None:
    reader = server(max_head_size=1000)
    data = big_head(2000)
    for start in range(0, 1200, 300):
        reader.feed(data[start : start + 300])
    protocol_error(reader, 431)


def test_head_never_ending_is_refused() -> None:
    reader = server(max_head_size=1000)
    start = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: "
    reader.feed(start)
    for _ in range((1000 - len(start)) // 10):
        reader.feed(b"0123456789")
        assert reader.next_event() is NEED_DATA  # 1000 bytes are allowed
    reader.feed(b"0123456789")
    protocol_error(reader, 431)


def test_many_fields_too_large() -> None:
    reader = server(max_head_size=1000)
    fields = b"".join(b"X-%d: value\r\n" % index for index in range(200))
    reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n")
    protocol_error(reader, 431)


def test_long_target_without_fields_too_large() -> None:
    reader = server(max_head_size=1000)
    reader.feed(b"GET /" + b"a" * 2000 + b" HTTP/1.0\r\n\r\n")
    protocol_error(reader, 431)


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_head_at_the_limit_passes(bytewise: bool) -> None:
    data = big_head(900)
    reader = server(max_head_size=len(data))
    if bytewise:
        feed_bytewise(reader, data)
    else:
        reader.feed(data)
    head, _ = take_request(reader)
    assert head.headers[-1] == ("x-big", "v" * 900)


def test_limit_is_per_head() -> None:
    one = big_head(600)
    reader = server(max_head_size=len(one))
    reader.feed(one * 3)
    for _ in range(3):
        head, _ = take_request(reader)
        assert head.headers[-1][0] == "x-big"
    feed_bytewise(reader, one * 2)
    for _ in range(2):
        take_request(reader)
    assert reader.next_event() is NEED_DATA


def test_body_does_not_count_against_the_head() -> None:
    reader = server(max_head_size=200)
    reader.feed(post(b"b" * 5000) + post(b"c" * 5000))
    assert take_request(reader)[1] == b"b" * 5000
    assert take_request(reader)[1] == b"c" * 5000


def test_too_large_after_a_good_pipelined_request() -> None:
    reader = server(max_head_size=1000)
    reader.feed(SIMPLE_GET + big_head(2000))
    head, _ = take_request(reader)
    assert head.target == "/ping"
    protocol_error(reader, 431)


def test_too_large_trickling_after_a_good_pipelined_request() -> None:
    reader = server(max_head_size=1000)
    reader.feed(SIMPLE_GET)
    feed_bytewise(reader, big_head(2000)[:1100])
    head, _ = take_request(reader)
    assert head.target == "/ping"
    protocol_error(reader, 431)


def test_too_large_partial_head_after_a_good_pipelined_request() -> None:
    reader = server(max_head_size=1000)
    reader.feed(SIMPLE_GET + big_head(50_000)[:40_000])  # a 40 KB head, still unfinished
    head, _ = take_request(reader)
    assert head.target == "/ping"
    protocol_error(reader, 431)


def test_trailer_trickling_past_the_limit() -> None:
    reader = server(max_head_size=1000)
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    reader.feed(b"0\r\nX-Trailer: ")
    for _ in range(50):
        reader.feed(b"t" * 100)  # 5 KB of one trailer field, never ended
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() == b"abc"
    protocol_error(reader, 431)


def test_trailer_too_large_whole() -> None:
    reader = server(max_head_size=1000)
    reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    reader.feed(b"0\r\nX-Trailer: " + b"t" * 5000 + b"\r\n\r\n")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() == b"abc"
    protocol_error(reader, 431)


def test_head_just_over_the_limit_refused_whole() -> None:
    data = big_head(900)
    trickled = server(max_head_size=len(data) - 2)
    feed_bytewise(trickled, data)
    protocol_error(trickled, 431)
    whole = server(max_head_size=len(data) - 2)
    whole.feed(data)
    protocol_error(whole, 431)


# EOF.


def test_eof_before_any_request() -> None:
    reader = server()
    reader.feed(b"")
    assert reader.next_event() is CLOSED
    assert reader.next_event() is CLOSED
    assert not reader.buffered()


def test_eof_between_messages() -> None:
    reader = server()
    reader.feed(post(b"abc") + SIMPLE_GET)
    reader.feed(b"")
    assert take_request(reader)[1] == b"abc"
    assert take_request(reader)[0].target == "/ping"
    assert reader.next_event() is CLOSED


def test_eof_after_the_end_taken() -> None:
    reader = server()
    reader.feed(SIMPLE_GET)
    assert take(reader)[-1] is END
    reader.feed(b"")
    with pytest.raises(RuntimeError):
        reader.next_event()
    reader.start_next()
    assert reader.next_event() is CLOSED


def test_bytes_after_eof_are_ignored() -> None:
    reader = server()
    reader.feed(b"")
    reader.feed(SIMPLE_GET)
    assert reader.next_event() is CLOSED


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"G", id="one-byte"),
        pytest.param(b"GET / HTTP/1.1\r\nHo", id="in-the-fields"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n", id="before-the-blank-line"),
    ],
)
def test_eof_mid_head(data: bytes) -> None:
    reader = server()
    reader.feed(data)
    assert reader.next_event() is NEED_DATA
    reader.feed(b"")
    error = protocol_error(reader, 400)
    assert "closed" in str(error)


def test_eof_mid_head_of_a_pipelined_request() -> None:
    reader = server()
    reader.feed(SIMPLE_GET + b"GET /2 HTTP/1.1\r\n")
    reader.feed(b"")
    take_request(reader)
    protocol_error(reader, 400)


def test_eof_mid_body() -> None:
    reader = server()
    reader.feed(post(b"abcdef")[:-3])
    reader.feed(b"")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() == b"abc"
    protocol_error(reader, 400)


def test_eof_mid_chunked_body() -> None:
    reader = server()
    reader.feed(CHUNKED_POST[: CHUNKED_POST.index(b" world") + 3])
    reader.feed(b"")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() == b"hello"
    assert reader.next_event() == b" wo"
    protocol_error(reader, 400)


def test_eof_in_the_trailer() -> None:
    reader = server()
    reader.feed(CHUNKED_POST[:-5])
    reader.feed(b"")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() == b"hello"
    assert reader.next_event() == b" world"
    protocol_error(reader, 400)


# Upgrades are declined: the request is read as HTTP/1.1, body and all.

UPGRADE = (
    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAA\r\n"
)


def upgrade_post(body: bytes, *, chunked: bool = False) -> bytes:
    """A POST asking to switch to h2c, with ``body`` (Content-Length or chunked)."""
    head = b"POST /up HTTP/1.1\r\nHost: a\r\n" + UPGRADE
    if chunked:
        return head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
    return head + b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


def assert_upgrade_head(head: RequestHead) -> None:
    assert (head.method, head.target) == ("POST", "/up")
    assert ("upgrade", "h2c") in head.headers
    assert head.keep_alive is True


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_upgrade_declined_with_a_counted_body(bytewise: bool) -> None:
    reader = server()
    data = upgrade_post(b"hello") + SIMPLE_GET
    if bytewise:
        feed_bytewise(reader, data)
    else:
        reader.feed(data)
    head, body = take_request(reader)
    assert_upgrade_head(head)
    assert (head.content_length, head.chunked) == (5, False)
    assert body == b"hello"
    after, body = take_request(reader)
    assert (after.method, after.target, after.headers, body) == (
        "GET",
        "/ping",
        [("host", "example.com")],
        b"",
    )
    assert reader.next_event() is NEED_DATA


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_upgrade_declined_with_a_chunked_body(bytewise: bool) -> None:
    reader = server()
    data = upgrade_post(b"hello", chunked=True) + SIMPLE_GET
    if bytewise:
        feed_bytewise(reader, data)
    else:
        reader.feed(data)
    head, body = take_request(reader)
    assert_upgrade_head(head)
    assert (head.content_length, head.chunked) == (None, True)
    assert body == b"hello"
    after, body = take_request(reader)
    assert (after.target, body) == ("/ping", b"")
    assert reader.next_event() is NEED_DATA


def test_upgrade_declined_body_in_a_later_feed() -> None:
    data = upgrade_post(b"hello")
    reader = server()
    reader.feed(data[:-5])
    head = reader.next_event()
    assert isinstance(head, RequestHead)
    assert reader.next_event() is NEED_DATA
    assert reader.in_message
    reader.feed(b"hel")
    reader.feed(b"lo" + SIMPLE_GET)
    assert take(reader) == [b"hel", b"lo", END]
    reader.start_next()
    assert take_request(reader)[0].target == "/ping"


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_upgrade_declined_without_a_body(bytewise: bool) -> None:
    reader = server()
    data = b"GET /up HTTP/1.1\r\nHost: a\r\n" + UPGRADE + b"\r\n" + post(b"next")
    if bytewise:
        feed_bytewise(reader, data)
    else:
        reader.feed(data)
    head, body = take_request(reader)
    assert (head.method, head.content_length, head.chunked, body) == ("GET", None, False, b"")
    assert ("upgrade", "h2c") in head.headers
    after, body = take_request(reader)
    assert (after.method, body) == ("POST", b"next")


def test_upgrade_declined_with_an_empty_body() -> None:
    reader = server()
    reader.feed(upgrade_post(b"") + SIMPLE_GET)
    head, body = take_request(reader)
    assert (head.content_length, body) == (0, b"")
    assert take_request(reader)[0].target == "/ping"


def test_upgrades_declined_back_to_back() -> None:
    reader = server()
    reader.feed(upgrade_post(b"one") + upgrade_post(b"two", chunked=True) + upgrade_post(b"3"))
    assert [take_request(reader)[1] for _ in range(3)] == [b"one", b"two", b"3"]
    assert reader.next_event() is NEED_DATA


def test_upgrade_declined_then_eof_mid_body() -> None:
    reader = server()
    reader.feed(upgrade_post(b"hello")[:-2])
    reader.feed(b"")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() == b"hel"
    protocol_error(reader, 400)


def test_upgrade_declined_then_garbage() -> None:
    reader = server()
    reader.feed(upgrade_post(b"abc") + b"GARBAGE\r\n\r\n")
    assert take_request(reader)[1] == b"abc"
    protocol_error(reader, 400)


def test_upgrade_declined_still_checks_host() -> None:
    reader = server()
    reader.feed(b"GET / HTTP/1.1\r\n" + UPGRADE + b"\r\n")
    protocol_error(reader, 400)


def test_a_reader_is_independent_of_others() -> None:
    first, second = server(), server()
    first.feed(POST[:30])
    second.feed(SIMPLE_GET)
    assert take_request(second)[0].target == "/ping"
    first.feed(POST[30:])
    assert take_request(first)[1] == b"hello world"
