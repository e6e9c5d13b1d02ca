"""The client's reader: responses as bytes in, heads, body pieces and END out.

Framing by length, by chunks and by the end of the connection; 1xx
responses skipped; the switch nobody asked for (101) and the other
responses a client must refuse.
"""

from __future__ import annotations

import pytest

from trioplugin.transport._http1 import (
    CLOSED,
    END,
    NEED_DATA,
    ResponseHead,
)

from ._helpers import client, feed_bytewise, protocol_error, take, take_response

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/proto\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"5\r\nhello\r\n"
    b"1;ext\r\n!\r\n"
    b"0\r\n"
    b"Grpc-Status: 0\r\n"
    b"\r\n"
)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def test_200_with_content_length() -> None:
    reader = client()
    reader.feed(OK)
    head = reader.next_event()
    assert isinstance(head, ResponseHead)
    assert head.status == 200
    assert head.version == "1.1"
    assert head.headers == [("content-type", "application/proto"), ("content-length", "5")]
    assert head.keep_alive is True
    assert head.until_close is False
    assert reader.in_message
    assert take(reader) == [b"hello", END]
    assert reader.message_ended
    reader.start_next()
    assert reader.next_event() is NEED_DATA


def test_bytewise_gives_the_same_response() -> None:
    reader = client()
    feed_bytewise(reader, OK)
    head, body = take_response(reader)
    assert (head.status, head.headers, head.keep_alive, body) == (
        200,
        [("content-type", "application/proto"), ("content-length", "5")],
        True,
        b"hello",
    )


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_chunked_response(bytewise: bool) -> None:
    reader = client()
    if bytewise:
        feed_bytewise(reader, CHUNKED + OK)
    else:
        reader.feed(CHUNKED + OK)
    head, body = take_response(reader)
    assert (head.status, head.keep_alive, head.until_close) == (200, True, False)
    assert head.headers == [("transfer-encoding", "chunked")]  # the trailer is dropped
    assert body == b"hello!"
    assert take_response(reader)[1] == b"hello"


def test_pipelined_responses() -> None:
    reader = client()
    reader.feed(OK + b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" + CHUNKED)
    head = reader.next_event()
    assert isinstance(head, ResponseHead)
    assert take(reader) == [b"hello", END]
    assert reader.buffered()
    with pytest.raises(RuntimeError):
        reader.next_event()
    reader.start_next()
    head, body = take_response(reader)
    assert (head.status, body) == (404, b"")
    head, body = take_response(reader)
    assert (head.status, body) == (200, b"hello!")
    assert not reader.buffered()


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_100_continue_is_skipped(bytewise: bool) -> None:
    reader = client()
    if bytewise:
        feed_bytewise(reader, CONTINUE + OK)
    else:
        reader.feed(CONTINUE + OK)
    head, body = take_response(reader)
    assert (head.status, body) == (200, b"hello")
    assert reader.next_event() is NEED_DATA


def test_100_continue_alone_gives_no_event() -> None:
    reader = client()
    reader.feed(CONTINUE)
    assert reader.next_event() is NEED_DATA
    assert not reader.in_message
    reader.feed(OK)
    head, _ = take_response(reader)
    assert head.status == 200


def test_several_informational_responses_are_skipped() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n" + CONTINUE + OK)
    head, body = take_response(reader)
    assert (head.status, body) == (200, b"hello")
    assert head.headers == [("content-type", "application/proto"), ("content-length", "5")]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_a_status_below_100_is_a_final_response(bytewise: bool) -> None:
    # RFC 9110 §15: outside 100..599 is invalid, to be read as a 5xx; llhttp reads
    # it as a final response (L10), and so does the reader, not as a 1xx.
    data = b"HTTP/1.1 099 \r\nContent-Length: 1\r\n\r\n\x00" + OK
    reader = client()
    if bytewise:
        feed_bytewise(reader, data)
    else:
        reader.feed(data)
    head, body = take_response(reader)
    assert (head.status, head.keep_alive, body) == (99, True, b"\x00")
    assert take_response(reader)[1] == b"hello"


def test_a_status_below_100_without_framing_is_read_until_close() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 000 \r\n\r\nsome")
    reader.feed(b"")
    head, body = take_response(reader)
    assert (head.status, head.until_close, body) == (0, True, b"some")
    assert reader.next_event() is CLOSED


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: 1\r\n\r\nx", b"Transfer-Encoding: gzip\r\n\r\nx"],
    ids=["length", "until-close"],
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_a_1xx_with_content_is_refused(framing: bytes, bytewise: bool) -> None:
    # RFC 9112 §6.3: a 1xx ends at its head whatever its fields; llhttp reads a
    # body for one past 103 that has Content-Length or Transfer-Encoding (L10).
    data = OK + b"HTTP/1.1 150 Something\r\n" + framing + OK
    reader = client()
    if bytewise:
        feed_bytewise(reader, data)
    else:
        reader.feed(data)
    assert take_response(reader)[1] == b"hello"
    error = protocol_error(reader, 400)
    assert "1xx" in str(error)


def test_a_1xx_past_103_without_framing_is_skipped() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 150 Something\r\nX: y\r\n\r\n" + OK)
    head, body = take_response(reader)
    assert (head.status, body) == (200, b"hello")


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 %d Whatever\r\n\r\n" % status + OK)
    head = reader.next_event()
    assert isinstance(head, ResponseHead)
    assert (head.status, head.keep_alive, head.until_close) == (status, True, False)
    assert reader.next_event() is END
    reader.start_next()
    assert take_response(reader)[1] == b"hello"


def test_body_until_close() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome")
    head = reader.next_event()
    assert isinstance(head, ResponseHead)
    assert (head.until_close, head.keep_alive) == (True, False)
    assert take(reader) == [b"some", NEED_DATA]
    reader.feed(b" more")
    assert take(reader) == [b" more", NEED_DATA]
    reader.feed(b"")
    assert reader.next_event() is END
    reader.start_next()
    assert reader.next_event() is CLOSED


def test_body_until_close_empty() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 200 OK\r\n\r\n")
    reader.feed(b"")
    head, body = take_response(reader)
    assert (head.until_close, body) == (True, b"")
    assert reader.next_event() is CLOSED


def test_until_close_in_http10() -> None:
    reader = client()
    reader.feed(b"HTTP/1.0 200 OK\r\n\r\nold")
    reader.feed(b"")
    head, body = take_response(reader)
    assert (head.version, head.until_close, head.keep_alive, body) == ("1.0", True, False, b"old")


def test_http10_response_is_not_keep_alive() -> None:
    reader = client()
    reader.feed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    head, body = take_response(reader)
    assert (head.version, head.keep_alive, head.until_close, body) == ("1.0", False, False, b"ok")


def test_connection_close_response() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    head, body = take_response(reader)
    assert (head.keep_alive, head.until_close, body) == (False, False, b"ok")


def test_unknown_status_and_empty_reason() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n")
    head, _ = take_response(reader)
    assert head.status == 599


def test_upgrade_fields_on_a_200_are_no_switch() -> None:
    reader = client()
    reader.feed(
        b"HTTP/1.1 200 OK\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nok"
    )
    head, body = take_response(reader)
    assert (head.status, body) == (200, b"ok")


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_101_switching_protocols_is_refused(bytewise: bool) -> None:
    reader = client()
    data = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
    if bytewise:
        feed_bytewise(reader, data)
    else:
        reader.feed(data + b"\x00\x00\x12\x04\x00\x00\x00\x00\x00")  # h2 frames after it
    error = protocol_error(reader, 400)
    assert "switched protocols" in str(error)


def test_101_after_a_good_response() -> None:
    reader = client()
    reader.feed(
        OK + b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"
    )
    assert take_response(reader)[1] == b"hello"
    protocol_error(reader, 400)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"XTTP/1.1 200 OK\r\n\r\n", id="bad-protocol"),
        pytest.param(b"HTTP/1.1 2000 OK\r\n\r\n", id="four-digit-status"),
        pytest.param(b"HTTP/1.1 abc OK\r\n\r\n", id="non-numeric-status"),
        pytest.param(b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n", id="bad-field-name"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", id="bare-cr"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", id="two-lengths"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            id="length-and-chunked",
        ),
    ],
)
def test_malformed_responses(data: bytes) -> None:
    reader = client()
    reader.feed(data)
    protocol_error(reader, 400)


def test_bad_chunk_in_a_response() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nq\r\n")
    assert isinstance(reader.next_event(), ResponseHead)
    assert reader.next_event() == b"ok"
    protocol_error(reader, 400)


def test_http2_response_line() -> None:
    reader = client()
    reader.feed(b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    protocol_error(reader, 505)


def test_response_head_too_large_whole() -> None:
    reader = client(max_head_size=1000)
    reader.feed(b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * 2000 + b"\r\nContent-Length: 0\r\n\r\n")
    error = protocol_error(reader, 431)
    assert "response head" in str(error)


def test_response_head_too_large_trickling() -> None:
    reader = client(max_head_size=1000)
    feed_bytewise(reader, b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * 1000)
    protocol_error(reader, 431)


def test_response_head_too_large_after_a_good_response() -> None:
    reader = client(max_head_size=1000)
    reader.feed(OK + b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * 2000 + b"\r\n\r\n")
    assert take_response(reader)[1] == b"hello"
    protocol_error(reader, 431)


def test_informational_heads_are_bounded_too() -> None:
    reader = client(max_head_size=1000)
    reader.feed(b"HTTP/1.1 103 Early Hints\r\nLink: " + b"l" * 2000 + b"\r\n\r\n" + OK)
    protocol_error(reader, 431)


def test_response_reason_phrase_too_large_whole() -> None:
    reader = client(max_head_size=1000)
    reader.feed(b"HTTP/1.1 200 " + b"r" * 5000 + b"\r\nContent-Length: 0\r\n\r\n")
    protocol_error(reader, 431)


def test_response_reason_phrase_too_large_trickling() -> None:
    reader = client(max_head_size=1000)
    feed_bytewise(reader, b"HTTP/1.1 200 " + b"r" * 1000)
    protocol_error(reader, 431)


def test_unknown_coding_ending_in_chunked_reads_until_close() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\nraw bytes")
    reader.feed(b"")
    head, body = take_response(reader)
    assert (head.until_close, head.keep_alive, body) == (True, False, b"raw bytes")


@pytest.mark.parametrize("space", [b" ", b"  "])
def test_spaces_after_chunked_are_still_chunked(space: bytes) -> None:
    reader = client()
    reader.feed(CHUNKED.replace(b"chunked\r\n", b"chunked" + space + b"\r\n"))
    head, body = take_response(reader)
    assert (head.until_close, head.keep_alive, body) == (False, True, b"hello!")


@pytest.mark.parametrize("space", [b"\t", b" \t", b"\t "])
def test_a_tab_after_chunked_is_refused(space: bytes) -> None:
    # llhttp would read the body until close and hand the chunk framing on as
    # body (nodejs/llhttp#876); RFC 9110 says the value is "chunked".
    reader = client()
    reader.feed(CHUNKED.replace(b"chunked\r\n", b"chunked" + space + b"\r\n"))
    error = protocol_error(reader, 400)
    assert "tab" in str(error)


def test_a_tab_after_another_last_coding_reads_until_close() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\t\r\n\r\nraw")
    reader.feed(b"")
    head, body = take_response(reader)
    assert (head.until_close, body) == (True, b"raw")


def test_eof_mid_counted_body() -> None:
    reader = client()
    reader.feed(OK[:-2])
    reader.feed(b"")
    assert isinstance(reader.next_event(), ResponseHead)
    assert reader.next_event() == b"hel"
    protocol_error(reader, 400)


def test_eof_mid_chunked_response() -> None:
    reader = client()
    reader.feed(CHUNKED[: CHUNKED.index(b"hello") + 2])
    reader.feed(b"")
    assert isinstance(reader.next_event(), ResponseHead)
    assert reader.next_event() == b"he"
    protocol_error(reader, 400)


def test_eof_mid_response_head() -> None:
    reader = client()
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-")
    reader.feed(b"")
    protocol_error(reader, 400)


def test_eof_after_a_100_continue_is_a_close() -> None:
    # The final response never came; the reader reports the close between messages
    # (the exchange, which is waiting for a response, decides it failed).
    reader = client()
    reader.feed(CONTINUE)
    reader.feed(b"")
    assert reader.next_event() is CLOSED
