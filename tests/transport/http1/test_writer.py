"""The writing side: heads as exact bytes, the fields it refuses, bodies framed.

What we are asked to send that HTTP/1.1 cannot carry is an H1UsageError (a
ValueError), raised before any byte is built.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from trioplugin.transport._http1 import (
    LAST_CHUNK,
    BodyFramer,
    H1UsageError,
    check_fields,
    request_head,
    request_lines,
    response_head,
    response_lines,
)

FIELDS = [("Host", "example.com"), ("content-type", "application/proto"), ("X-A", "1")]


# Heads, byte for byte.


def test_request_head_bytes() -> None:
    assert request_head("POST", "/echo.Echo/Say?x=1", FIELDS) == (
        b"POST /echo.Echo/Say?x=1 HTTP/1.1\r\n"
        b"Host: example.com\r\n"
        b"content-type: application/proto\r\n"
        b"X-A: 1\r\n"
        b"\r\n"
    )


def test_request_head_without_fields() -> None:
    assert request_head("GET", "/", []) == b"GET / HTTP/1.1\r\n\r\n"


def test_request_lines_leave_the_head_open() -> None:
    lines = request_lines("POST", "/p", FIELDS)
    assert lines == request_head("POST", "/p", FIELDS)[:-2]
    assert lines.endswith(b"X-A: 1\r\n")
    assert lines + b"content-length: 0\r\n\r\n" == request_head(
        "POST", "/p", [*FIELDS, ("content-length", "0")]
    )


def test_fields_keep_their_order_and_case_and_repeats() -> None:
    fields = [("B", "2"), ("a", "1"), ("B", "3"), ("Set-Cookie", "x=1; Path=/")]
    assert response_head(200, fields) == (
        b"HTTP/1.1 200 OK\r\nB: 2\r\na: 1\r\nB: 3\r\nSet-Cookie: x=1; Path=/\r\n\r\n"
    )


def test_fields_from_a_generator() -> None:
    head = request_head("GET", "/", ((name, value) for name, value in FIELDS))
    assert head == request_head("GET", "/", FIELDS)


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (200, b"HTTP/1.1 200 OK\r\n"),
        (100, b"HTTP/1.1 100 Continue\r\n"),
        (204, b"HTTP/1.1 204 No Content\r\n"),
        (404, b"HTTP/1.1 404 Not Found\r\n"),
        (415, b"HTTP/1.1 415 Unsupported Media Type\r\n"),
        (431, b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        (503, b"HTTP/1.1 503 Service Unavailable\r\n"),
        (599, b"HTTP/1.1 599 \r\n"),  # no standard phrase: empty, the space kept
        (999, b"HTTP/1.1 999 \r\n"),
    ],
)
def test_status_line_with_reason_phrase(status: int, line: bytes) -> None:
    assert response_head(status, []) == line + b"\r\n"


def test_response_head_bytes() -> None:
    assert response_head(200, [("content-type", "application/json"), ("content-length", "2")]) == (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"
    )


def test_response_lines_leave_the_head_open() -> None:
    fields = [("content-type", "application/json")]
    assert (
        response_lines(404, fields)
        == b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
    )
    assert response_lines(404, fields) + b"\r\n" == response_head(404, fields)


def test_values_go_out_as_latin_1() -> None:
    head = response_head(200, [("x-name", "caf\xe9\tau lait\xff"), ("x-empty", "")])
    assert head == b"HTTP/1.1 200 OK\r\nx-name: caf\xe9\tau lait\xff\r\nx-empty: \r\n\r\n"


# Fields refused.


def test_check_fields_accepts_valid_fields() -> None:
    check_fields(
        [
            ("x-a", "1"),
            ("!#$%&'*+-.^_`|~09azAZ", "v"),
            ("x-tab", "a\tb"),
            ("x-empty", ""),
            ("x-latin", "\xa0\xe9\xff"),
            ("x-printable", "".join(map(chr, range(0x21, 0x7F)))),
        ]
    )


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("x a", id="space"),
        pytest.param("x:a", id="colon"),
        pytest.param("x\r\nInjected", id="crlf"),
        pytest.param("x\x00", id="nul"),
        pytest.param("x(a)", id="separator"),
        pytest.param("x\u00e9", id="non-ascii"),
        pytest.param("x\n", id="trailing-lf"),
        pytest.param(" x", id="leading-space"),
    ],
)
def test_check_fields_rejects_bad_names(name: str) -> None:
    with pytest.raises(H1UsageError, match="name"):
        check_fields([(name, "v")])


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("a\rb", id="cr"),
        pytest.param("a\nb", id="lf"),
        pytest.param("a\r\nX-Injected: 1", id="crlf"),
        pytest.param("a\n", id="trailing-lf"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("a\x01b", id="soh"),
        pytest.param("a\x08b", id="backspace"),
        pytest.param("a\x0bb", id="vertical-tab"),
        pytest.param("a\x1fb", id="unit-separator"),
        pytest.param("a\x7fb", id="del"),
        pytest.param(" a", id="leading-space"),
        pytest.param("\ta", id="leading-tab"),
        pytest.param("a ", id="trailing-space"),
        pytest.param("a\t", id="trailing-tab"),
        pytest.param(" ", id="only-space"),
        pytest.param("\u20ac", id="euro-not-latin-1"),
        pytest.param("a\u0100", id="beyond-latin-1"),
        pytest.param("\U0001f600", id="emoji"),
    ],
)
def test_check_fields_rejects_bad_values(value: str) -> None:
    with pytest.raises(H1UsageError) as info:
        check_fields([("x-ok", "fine"), ("x-field", value)])
    assert isinstance(info.value, ValueError)
    assert "x-field" in str(info.value)


def test_a_refused_field_is_refused_again() -> None:
    for _ in range(2):  # nothing remembered from the first refusal
        with pytest.raises(H1UsageError):
            check_fields([("x-again", "a\r\nb")])


def test_a_checked_field_stays_valid() -> None:
    check_fields([("x-cached", "v")])
    check_fields([("x-cached", "v")])
    with pytest.raises(H1UsageError):
        check_fields([("x-cached", "v"), ("x-cached", "v\n")])


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda f: request_head("GET", "/", f), id="request_head"),
        pytest.param(lambda f: request_lines("GET", "/", f), id="request_lines"),
        pytest.param(lambda f: response_head(200, f), id="response_head"),
        pytest.param(lambda f: response_lines(200, f), id="response_lines"),
    ],
)
def test_heads_check_their_fields(build: Callable[[list[tuple[str, str]]], bytes]) -> None:
    with pytest.raises(H1UsageError):
        build([("x-a", "1"), ("x-b", "2\r\nX-Injected: 1")])
    with pytest.raises(H1UsageError):
        build([("bad name", "1")])


@pytest.mark.parametrize(
    "method",
    [
        pytest.param("", id="empty"),
        pytest.param("GE T", id="space"),
        pytest.param("GET\r\n", id="crlf"),
        pytest.param("GET /x HTTP/1.1\r\nHost: evil\r\n\r\nGET", id="smuggled"),
        pytest.param("G\u00c9T", id="non-ascii"),
    ],
)
def test_request_head_rejects_a_bad_method(method: str) -> None:
    with pytest.raises(H1UsageError, match="method"):
        request_head(method, "/", [])


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("", id="empty"),
        pytest.param("/a b", id="space"),
        pytest.param("/a HTTP/1.1\r\nHost: evil\r\n\r\n", id="smuggled"),
        pytest.param("/a\r", id="cr"),
        pytest.param("/a\nb", id="lf"),
        pytest.param("/a\x00", id="nul"),
        pytest.param("/a\x7f", id="del"),
        pytest.param(" /a", id="leading-space"),
        pytest.param("/a ", id="trailing-space"),
    ],
)
def test_request_head_rejects_a_bad_target(target: str) -> None:
    with pytest.raises(H1UsageError, match="target"):
        request_head("GET", target, [])


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/a\tb", id="tab"),
        pytest.param("/caf\u00e9", id="latin-1"),
        pytest.param("/\u20ac", id="not-latin-1"),
    ],
)
def test_request_head_rejects_a_target_that_is_not_visible_ascii(target: str) -> None:
    with pytest.raises(H1UsageError):
        request_head("GET", target, [])


@pytest.mark.parametrize("status", [-1, 0, 99, 1000, 2000])
def test_response_head_rejects_a_bad_status(status: int) -> None:
    with pytest.raises(H1UsageError, match="status"):
        response_head(status, [])
    with pytest.raises(H1UsageError, match="status"):
        response_lines(status, [])


def test_usage_error_is_a_value_error() -> None:
    assert issubclass(H1UsageError, ValueError)


# Bodies.


def test_chunked_framing() -> None:
    framer = BodyFramer(None, chunked=True)
    assert not framer.until_close
    assert framer.data(b"hello") == b"5\r\nhello\r\n"
    assert framer.data(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert framer.data(b"y" * 4096) == b"1000\r\n" + b"y" * 4096 + b"\r\n"
    assert framer.data(b"\r\n0\r\n\r\n") == b"7\r\n\r\n0\r\n\r\n\r\n"  # bytes, not framing
    assert not framer.ended
    assert framer.end() == b"0\r\n\r\n" == LAST_CHUNK
    assert framer.ended


def test_chunked_empty_data_is_nothing() -> None:
    # An empty chunk would be the last chunk: it must not go out.
    framer = BodyFramer(None, chunked=True)
    assert framer.data(b"") == b""
    assert framer.data(b"a") == b"1\r\na\r\n"


def test_chunked_empty_body() -> None:
    assert BodyFramer(None, chunked=True).end() == LAST_CHUNK


def test_length_counted_exact() -> None:
    framer = BodyFramer(10, chunked=False)
    assert not framer.until_close
    assert framer.data(b"01234") == b"01234"
    assert framer.data(b"") == b""
    assert framer.data(b"56789") == b"56789"
    assert framer.end() == b""
    assert framer.ended


def test_length_counted_too_many_bytes() -> None:
    framer = BodyFramer(4, chunked=False)
    assert framer.data(b"ab") == b"ab"
    with pytest.raises(H1UsageError, match="Content-Length"):
        framer.data(b"cde")
    # Nothing of the refused data was counted: the rest still fits.
    assert framer.data(b"cd") == b"cd"
    assert framer.end() == b""


def test_length_counted_end_short() -> None:
    framer = BodyFramer(4, chunked=False)
    framer.data(b"abc")
    with pytest.raises(H1UsageError, match="1 bytes short"):
        framer.end()
    assert not framer.ended
    framer.data(b"d")
    assert framer.end() == b""


def test_length_zero() -> None:
    framer = BodyFramer(0, chunked=False)
    assert not framer.until_close
    with pytest.raises(H1UsageError):
        framer.data(b"x")
    assert framer.data(b"") == b""
    assert framer.end() == b""


def test_until_close_passes_bytes_through() -> None:
    framer = BodyFramer(None, chunked=False)
    assert framer.until_close
    assert framer.data(b"a" * 100_000) == b"a" * 100_000
    assert framer.end() == b""
    assert framer.until_close


@pytest.mark.parametrize(
    ("length", "chunked", "until_close"),
    [(None, False, True), (None, True, False), (0, False, False), (5, False, False)],
)
def test_until_close_property(length: int | None, chunked: bool, until_close: bool) -> None:
    assert BodyFramer(length, chunked=chunked).until_close is until_close


@pytest.mark.parametrize(
    ("length", "chunked"),
    [(None, True), (3, False), (0, False), (None, False)],
    ids=["chunked", "counted", "empty", "until-close"],
)
def test_data_or_end_after_end(length: int | None, chunked: bool) -> None:
    framer = BodyFramer(length, chunked=chunked)
    if length:
        framer.data(b"x" * length)
    framer.end()
    with pytest.raises(H1UsageError, match="ended"):
        framer.data(b"more")
    with pytest.raises(H1UsageError, match="ended"):
        framer.data(b"")
    with pytest.raises(H1UsageError, match="ended"):
        framer.end()
    assert framer.ended
