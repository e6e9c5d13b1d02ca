"""Canaries: what the transport counts on hpack, llhttp (httptools) and httpx for, pinned.

Each test is named after an entry of ``trioplugin/transport/_upstream/__init__.py``
(H1 ... H7, L1 ... L11, X1 ... X6) and calls the library itself, not our code:
it fails the day upstream changes the behaviour, and the entry says what to
do then (often: drop a workaround that became unnecessary). The behaviour our
code builds on it is tested where that code is (``http1/``, ``http2/``,
``test_httpx_client.py``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import ssl
from collections.abc import Awaitable, Callable

import hpack
import httptools
import httpx
import pytest
import trio
from hpack.table import HeaderTable
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement

from tests.transport._server_helpers import read_body
from trioplugin.transport import ServerExchange
from trioplugin.transport._server import open_server

# -- hpack ------------------------------------------------------------------------------------

RFC_7541_STATIC_TABLE = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
]


def literal(name: bytes, value: bytes, *, indexing: bool = False, huffman: bool = False) -> bytes:
    """A literal field with a literal name (short strings only), added to the table or not."""
    assert len(name) < 127 and len(value) < 127
    return (
        (b"\x40" if indexing else b"\x00")
        + bytes((len(name),))
        + name
        + bytes(((0x80 if huffman else 0) | len(value),))
        + value
    )


def test_h1_static_table_is_rfc_7541s() -> None:
    table = [(name.decode(), value.decode()) for name, value in HeaderTable.STATIC_TABLE]
    assert table == RFC_7541_STATIC_TABLE


def test_h2_dynamic_entries_show_what_a_block_added() -> None:
    decoder = hpack.Decoder()
    assert not decoder.header_table.dynamic_entries
    decoder.decode(literal(b"x-a", b"1"), raw=True)  # without indexing
    assert not decoder.header_table.dynamic_entries
    decoder.decode(literal(b"x-a", b"1", indexing=True), raw=True)
    assert list(decoder.header_table.dynamic_entries) == [(b"x-a", b"1")]
    decoder.decode(b"\x20\x3f\xe1\x1f", raw=True)  # size updates: to 0, then back to 4096
    assert not decoder.header_table.dynamic_entries
    assert decoder.header_table_size == decoder.header_table.maxsize == 4096


def test_h3_header_list_size_is_rfcs_and_checked_field_by_field() -> None:
    field = literal(b"a", b"x" * 67)  # 32 + 1 + 67 = 100 bytes of header list
    assert hpack.Decoder(max_header_list_size=100).decode(field, raw=True) == [(b"a", b"x" * 67)]
    with pytest.raises(hpack.OversizedHeaderListError):
        hpack.Decoder(max_header_list_size=99).decode(field, raw=True)
    # Refused at the first field over the limit: what follows is never decoded.
    with pytest.raises(hpack.OversizedHeaderListError):
        hpack.Decoder(max_header_list_size=99).decode(field + b"\xff", raw=True)
    assert issubclass(hpack.OversizedHeaderListError, hpack.HPACKDecodingError)


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(literal(b"a", b"\xff\xff", huffman=True), id="huffman-padding-too-long"),
        pytest.param(literal(b"a", b"\x18", huffman=True), id="huffman-padding-not-ones"),
        pytest.param(literal(b"a", b"\xff\xff\xff\xff", huffman=True), id="huffman-eos"),
        pytest.param(b"\x80", id="index-0"),
        pytest.param(b"\xbe", id="index-past-the-tables"),
        pytest.param(b"\x0f\x40\x01x", id="name-index-past-the-tables"),
        pytest.param(b"\x00\x01a\x05ab", id="truncated-string"),
        pytest.param(b"\xff", id="truncated-integer"),
        pytest.param(b"\xff" + b"\xff" * 10 + b"\x01", id="integer-too-long"),
        pytest.param(b"\x3f\xe2\x1f", id="table-size-over-the-maximum"),
    ],
)
def test_h4_a_malformed_block_raises_an_hpack_error(block: bytes) -> None:
    with pytest.raises(hpack.HPACKError):
        hpack.Decoder().decode(block, raw=True)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=48))
def test_h4_random_blocks_raise_nothing_but_hpack_errors(block: bytes) -> None:
    with contextlib.suppress(hpack.HPACKError):
        hpack.Decoder(max_header_list_size=256).decode(block, raw=True)


def test_h5_a_table_size_update_after_a_field_is_refused() -> None:
    with pytest.raises(hpack.HPACKDecodingError):
        hpack.Decoder().decode(b"\x82\x20", raw=True)
    decoded = hpack.Decoder().decode(b"\x20\x3f\xe1\x1f\x82", raw=True)  # first: allowed
    assert decoded == [(b":method", b"GET")]


def test_h6_the_table_may_be_4096_bytes_and_no_more() -> None:
    decoder = hpack.Decoder()
    assert decoder.max_allowed_table_size == decoder.header_table_size == 4096
    decoder.decode(b"\x3f\xe1\x1f", raw=True)  # a size update to 4096
    with pytest.raises(hpack.InvalidTableSizeError):
        decoder.decode(b"\x3f\xe2\x1f", raw=True)  # to 4097


def test_h7_raw_decode_is_a_list_of_byte_pairs_and_checks_no_utf8() -> None:
    decoded = hpack.Decoder().decode(b"\x82" + literal(b"x-bin", b"\xff\xfe"), raw=True)
    assert type(decoded) is list
    assert decoded == [(b":method", b"GET"), (b"x-bin", b"\xff\xfe")]
    assert all(isinstance(field, tuple) and len(field) == 2 for field in decoded)


# -- llhttp, through httptools ------------------------------------------------------------


class Recorder:
    """A parser protocol that writes down every callback."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.parser: httptools.HttpRequestParser | httptools.HttpResponseParser | None = None
        self.keep_alive_at_head: bool | None = None

    def on_message_begin(self) -> None:
        self.events.append("begin")

    def on_url(self, url: bytes) -> None:
        self.events.append(("url", url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.events.append((name, value))

    def on_headers_complete(self) -> None:
        self.events.append("head")
        assert self.parser is not None
        self.keep_alive_at_head = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.events.append(("body", body))

    def on_message_complete(self) -> None:
        self.events.append("end")


def parse(data: bytes, *, response: bool = False, bytewise: bool = False) -> Recorder:
    recorder = Recorder()
    kind = httptools.HttpResponseParser if response else httptools.HttpRequestParser
    parser = recorder.parser = kind(recorder)
    for piece in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
        parser.feed_data(piece)
    return recorder


def test_l1_llhttp_knows_four_versions_and_refuses_http_1_2() -> None:
    for version in ("0.9", "1.0", "1.1", "2.0"):
        recorder = parse(b"GET / HTTP/" + version.encode() + b"\r\nHost: a\r\n\r\n")
        assert recorder.parser is not None
        assert recorder.parser.get_http_version() == version
    for refused in (b"1.2", b"1.9", b"3.0"):
        # RFC 9112 §2.3: a server SHOULD read HTTP/1.2 as 1.1. llhttp refuses it.
        with pytest.raises(httptools.HttpParserError, match="version"):
            parse(b"GET / HTTP/" + refused + b"\r\nHost: a\r\n\r\n")


@pytest.mark.parametrize(
    "head",
    [
        b"POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Length: 5\r\n\r\n",
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 5\r\n\r\n",
    ],
)
def test_l2_an_upgrade_ends_at_its_head_and_hands_back_the_rest(head: bytes) -> None:
    recorder = Recorder()
    parser = recorder.parser = httptools.HttpRequestParser(recorder)
    with pytest.raises(httptools.HttpParserUpgrade) as info:
        parser.feed_data(head + b"hello")
    assert not isinstance(info.value, httptools.HttpParserError)
    assert info.value.args == (len(head),)
    assert recorder.events[-2:] == ["head", "end"]  # the body was skipped
    assert not any(isinstance(event, tuple) and event[0] == "body" for event in recorder.events)
    # The same parser takes what follows for a new message, not for the body.
    with pytest.raises(httptools.HttpParserError):
        parser.feed_data(b"hello")


def test_l2_a_fresh_parser_primed_with_the_framing_reads_the_body() -> None:
    recorder = parse(b"POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\n" + b"hel")
    assert recorder.parser is not None
    recorder.parser.feed_data(b"lo")
    assert recorder.events[-3:] == [("body", b"hel"), ("body", b"lo"), "end"]


def test_l3_a_callback_exception_is_only_the_context() -> None:
    class Refusing(Recorder):
        def on_header(self, name: bytes, value: bytes) -> None:
            raise KeyError(name)

    parser = httptools.HttpRequestParser(Refusing())
    with pytest.raises(httptools.HttpParserCallbackError) as info:
        parser.feed_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(info.value.__context__, KeyError)
    assert info.value.__cause__ is None


def test_l4_whitespace_is_dropped_before_a_value_but_not_after() -> None:
    recorder = parse(b"GET / HTTP/1.1\r\nHost:  \ta \t\r\nX: \t\r\n\r\n")
    assert (b"Host", b"a \t") in recorder.events
    assert (b"X", b"") in recorder.events


def test_l5_a_tab_after_chunked_makes_a_response_read_until_close() -> None:
    chunks = b"5\r\nhello\r\n0\r\n\r\n"
    recorder = parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n" + chunks, response=True
    )
    assert recorder.events[-1] == ("body", chunks)  # the framing as body, no end
    spaced = parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \r\n\r\n" + chunks, response=True
    )
    assert spaced.events[-2:] == [("body", b"hello"), "end"]
    with pytest.raises(httptools.HttpParserError):
        parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n" + chunks)


@pytest.mark.parametrize(
    ("head", "at_head", "after"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", False, True),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True, False),
    ],
)
def test_l6_keep_alive_is_only_right_until_the_message_ends(
    head: bytes, at_head: bool, after: bool
) -> None:
    recorder = parse(head)
    assert recorder.parser is not None
    assert recorder.keep_alive_at_head is at_head
    assert recorder.parser.should_keep_alive() is after  # the flags were reset


@pytest.mark.parametrize(
    "fields",
    [
        b"Content-Length: +5\r\n",
        b"Content-Length: 5_0\r\n",
        b"Content-Length: 0x5\r\n",
        b"Content-Length: 5, 5\r\n",
        b"Content-Length: 5 5\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: \r\n",
        b"Content-Length: 99999999999999999999999\r\n",
        b"Content-Length: 5\r\nContent-Length: 5\r\n",
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"X\xffY: 1\r\n",
        b"X Y: 1\r\n",
    ],
)
def test_l7_llhttp_lets_only_plain_lengths_and_token_names_through(fields: bytes) -> None:
    with pytest.raises(httptools.HttpParserError):
        parse(b"POST / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\nhello")


def test_l8_whole_fields_however_split_and_trailers_after_the_head() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nA-Long-Name: a long value\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    recorder = parse(data, bytewise=True)
    fields = [event for event in recorder.events if isinstance(event, tuple) and event[0] != "url"]
    assert fields[:3] == [
        (b"Host", b"a"),
        (b"A-Long-Name", b"a long value"),
        (b"Transfer-Encoding", b"chunked"),
    ]
    assert recorder.events[-2:] == [(b"X-Trailer", b"t"), "end"]
    assert recorder.events.index("head") < recorder.events.index((b"X-Trailer", b"t"))


def test_l2_l9_the_parsers_offer_no_more_than_we_work_around() -> None:
    # No resuming an upgrade's body (L2), no end of input, no head size limit (L9):
    # a new method here may make a workaround unnecessary.
    common = {
        "feed_data",
        "get_http_version",
        "set_dangerous_leniencies",
        "should_keep_alive",
        "should_upgrade",
    }
    for kind, own in (
        (httptools.HttpRequestParser, "get_method"),
        (httptools.HttpResponseParser, "get_status_code"),
    ):
        assert {name for name in dir(kind) if not name.startswith("_")} == common | {own}


def test_l9_a_body_without_length_never_ends_and_heads_are_unbounded() -> None:
    recorder = parse(b"HTTP/1.1 200 OK\r\n\r\nuntil close", response=True)
    assert recorder.events[-1] == ("body", b"until close")  # and no end: only EOF tells
    big = parse(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 1_000_000 + b"\r\n\r\n")
    assert big.events[-1] == "end"


def test_l10_a_1xx_response_ends_at_its_head() -> None:
    recorder = parse(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        response=True,
    )
    assert recorder.events.count("begin") == 2
    first_end = recorder.events.index("end")
    assert recorder.events[first_end - 1] == "head" and recorder.events[first_end + 1] == "begin"
    for status in (b"100", b"102", b"103"):
        early = parse(b"HTTP/1.1 %s X\r\nContent-Length: 1\r\n\r\n" % status, response=True)
        assert early.events[-2:] == ["head", "end"]
    for framing in (b"Content-Length: 1", b"Transfer-Encoding: gzip"):
        late = parse(b"HTTP/1.1 150 X\r\n%s\r\n\r\nx" % framing, response=True)
        assert ("body", b"x") in late.events  # where RFC 9112 §6.3 says none
    assert parse(b"HTTP/1.1 150 X\r\n\r\n", response=True).events[-2:] == ["head", "end"]
    below = parse(b"HTTP/1.1 099 X\r\n\r\nuntil close", response=True)
    assert below.events[-1] == ("body", b"until close")  # a final response


def test_l11_a_last_coding_other_than_chunked() -> None:
    with pytest.raises(httptools.HttpParserError):
        parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n")
    recorder = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw", response=True)
    assert recorder.events[-1] == ("body", b"raw")  # read until close


# -- httpx and httpcore ---------------------------------------------------------------------


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception in its ``__cause__`` and ``__context__`` chain."""
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is not None and current not in chain:
            chain.append(current)
            pending += [current.__cause__, current.__context__]
    return chain


async def silent_server(
    nursery: trio.Nursery, handle: Callable[[trio.SocketStream], Awaitable[object]]
) -> int:
    """A TCP listener on loopback that passes each connection to ``handle``; its port."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    nursery.start_soon(trio.serve_listeners, handle, listeners)
    return int(listeners[0].socket.getsockname()[1])


async def test_x1_the_os_error_is_in_the_chain_of_a_refused_connect() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # nobody listens there now
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(f"http://127.0.0.1:{port}/")
    assert any(isinstance(exc, OSError) for exc in causes(info.value))


async def test_x1_the_ssl_error_is_in_the_chain_of_a_failed_handshake(
    nursery: trio.Nursery,
) -> None:
    async def not_tls(stream: trio.SocketStream) -> None:
        await stream.send_all(b"HTTP/1.1 400 Not TLS\r\n\r\n")
        await stream.aclose()

    port = await silent_server(nursery, not_tls)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(f"https://127.0.0.1:{port}/")
    assert any(isinstance(exc, ssl.SSLError) for exc in causes(info.value))
    assert not hasattr(httpx, "SSLError")  # encode/httpx#3350: map it directly once it exists


async def ok(exchange: ServerExchange) -> None:
    await read_body(exchange)
    await exchange.send_response(200, [], b"x" * 1_000_000)


async def test_x2_the_network_stream_tells_the_server_address() -> None:
    async with open_server(ok) as server, httpx.AsyncClient() as client:
        response = await client.get(server.url)
        stream = response.extensions["network_stream"]
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", server.port)
        assert stream.get_extra_info("ssl_object") is None
        assert response.http_version == "HTTP/1.1"


async def test_x3_the_default_accept_encoding_is_added_when_built() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        request = client.build_request("POST", "http://a/", content=b"")
        assert "accept-encoding" in request.headers
        request.headers.pop("accept-encoding")
        await client.send(request)
    assert "accept-encoding" not in sent[0].headers


async def test_x4_closing_in_a_cancelled_scope_releases_the_connection() -> None:
    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(None, pool=5.0)
    async with (
        open_server(ok) as server,
        httpx.AsyncClient(limits=limits, timeout=timeout) as client,
    ):
        response = await client.send(client.build_request("GET", server.url), stream=True)
        with trio.CancelScope() as scope:
            scope.cancel()
            await response.aclose()  # the body unread: the connection is closed
        assert not scope.cancelled_caught  # httpcore shielded the close
        again = await client.get(server.url)  # the only connection was given back
        assert again.status_code == 200


async def test_x5_the_connect_timeout_bounds_the_tls_handshake(nursery: trio.Nursery) -> None:
    async def mute(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    port = await silent_server(nursery, mute)
    timeout = httpx.Timeout(None, connect=0.2)
    with trio.fail_after(10):
        async with httpx.AsyncClient(timeout=timeout) as client:
            with pytest.raises(httpx.ConnectTimeout):
                await client.get(f"https://127.0.0.1:{port}/")


def test_x6_httpx_http2_is_the_h2_package() -> None:
    requires = [Requirement(spec) for spec in importlib.metadata.requires("httpx") or []]
    http2 = [req.name for req in requires if req.marker and req.marker.evaluate({"extra": "http2"})]
    assert http2 == ["h2"]
