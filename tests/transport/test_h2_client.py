"""The HTTP/2 client transport against the real server, on loopback: h2c, TLS, mTLS, streaming."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio
import trio.testing
import trustme

from tests.tls import client_context, server_context
from tests.transport._server_helpers import read_body
from trioplugin import ClientLimits
from trioplugin.protocol import Code, ConnectError
from trioplugin.transport import ServerExchange
from trioplugin.transport._http2_client import HTTP2Transport, open_http2_transport
from trioplugin.transport._limits import ServerLimits
from trioplugin.transport._server import Server, open_server

App = Callable[[ServerExchange], Awaitable[None]]


async def echo(exchange: ServerExchange) -> None:
    body = await read_body(exchange)
    await exchange.send_response(
        200,
        [("content-type", "application/octet-stream"), ("x-path", exchange.path)],
        body,
    )


async def call(transport: HTTP2Transport, body: bytes, path: str = "/echo") -> tuple[int, bytes]:
    async with transport.exchange("POST", path, [("content-type", "x")], body=body) as exchange:
        status, _ = await exchange.receive_head()
        parts = []
        while chunk := await exchange.receive_data():
            parts.append(chunk)
        return status, b"".join(parts)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    return server_context(ca)


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    return client_context(ca)


@pytest.fixture
async def h2c_server() -> AsyncIterator[Server]:
    async with open_server(echo) as server:
        yield server


async def test_unary_over_h2c(h2c_server: Server) -> None:
    async with open_http2_transport(h2c_server.url) as transport:
        assert transport.full_duplex
        headers = [("content-type", "application/proto"), ("X-Mixed-Case", "v")]
        async with transport.exchange("POST", "/svc/Method", headers, body=b"hello") as exchange:
            status, metadata = await exchange.receive_head()
            assert status == 200
            assert metadata["content-type"] == "application/octet-stream"
            assert metadata["x-path"] == "/svc/Method"
            assert await exchange.receive_data() == b"hello"
            assert await exchange.receive_data() == b""
            assert await exchange.receive_data() == b""
            peer = exchange.peer
            assert peer is not None
            assert peer.http_version == "2"
            assert peer.address == ("127.0.0.1", h2c_server.port)
            assert peer.tls is None
        statistics = transport.statistics()
        assert (statistics.connections, statistics.open_streams) == (1, 0)


async def test_empty_body_and_path_prefix(h2c_server: Server) -> None:
    async with open_http2_transport(h2c_server.url + "/prefix/") as transport:
        assert transport.base_url == h2c_server.url + "/prefix"
        assert await call(transport, b"", "/a/b") == (200, b"")
        async with transport.exchange("POST", "/c", []) as exchange:
            await exchange.end_request()
            _, metadata = await exchange.receive_head()
            assert metadata["x-path"] == "/prefix/c"


async def test_unary_over_tls(server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    async with (
        open_server(echo, ssl_context=server_tls) as server,
        open_http2_transport(server.url, ssl_context=client_tls) as transport,
    ):
        async with transport.exchange("POST", "/x", [], body=b"secret") as exchange:
            assert (await exchange.receive_head())[0] == 200
            assert await exchange.receive_data() == b"secret"
            peer = exchange.peer
            assert peer is not None and peer.tls is not None
            assert peer.tls.alpn_protocol == "h2"
            assert peer.tls.version is not None and peer.tls.version.startswith("TLS")
            assert peer.tls.peer_certificate_der
        assert client_tls.get_ca_certs()  # the caller's context was used


async def test_mtls_client_certificate_reaches_the_server(
    ca: trustme.CA, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server_tls.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_tls)
    ca.issue_cert("plugin-host@example.org").configure_cert(client_tls)
    seen: list[object] = []

    async def whoami(exchange: ServerExchange) -> None:
        assert exchange.peer.tls is not None
        seen.append(exchange.peer.tls.peer_certificate)
        await exchange.send_response(200, [], b"")

    async with (
        open_server(whoami, ssl_context=server_tls) as server,
        open_http2_transport(server.url, ssl_context=client_tls) as transport,
    ):
        assert await call(transport, b"") == (200, b"")
    assert seen and seen[0] is not None
    assert "plugin-host@example.org" in repr(seen[0])


async def test_many_concurrent_exchanges_share_one_connection() -> None:
    limit = 8
    in_flight = 0
    peak = 0

    async def slowish(exchange: ServerExchange) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        body = await read_body(exchange)
        await trio.lowlevel.checkpoint()
        in_flight -= 1
        await exchange.send_response(200, [], body)

    limits = ServerLimits(max_concurrent_streams=limit)
    async with (
        open_server(slowish, limits=limits) as server,
        open_http2_transport(server.url) as transport,
    ):
        results: dict[int, tuple[int, bytes]] = {}

        async def one(i: int) -> None:
            results[i] = await call(transport, b"%d" % i * 100)

        async with trio.open_nursery() as nursery:
            for i in range(200):
                nursery.start_soon(one, i)
        assert results == {i: (200, b"%d" % i * 100) for i in range(200)}
        assert transport.statistics().connections == 1
        assert server.statistics().connections_accepted == 1
    assert peak <= limit


async def test_full_duplex_ping_pong() -> None:
    async def pong(exchange: ServerExchange) -> None:
        await exchange.send_head(200, [("content-type", "application/connect+proto")])
        while chunk := await exchange.receive_data():
            await exchange.send_data(b"pong:" + chunk)
        await exchange.end()

    async with open_server(pong) as server, open_http2_transport(server.url) as transport:
        async with transport.exchange("POST", "/bidi", []) as exchange:
            await exchange.send_data(b"0")
            assert (await exchange.receive_head())[0] == 200
            assert await exchange.receive_data() == b"pong:0"
            for i in range(1, 20):
                await exchange.send_data(b"%d" % i)
                assert await exchange.receive_data() == b"pong:%d" % i
            await exchange.end_request()
            assert await exchange.receive_data() == b""


async def test_large_bodies_cross_flow_control_windows() -> None:
    size = 6 * 1024 * 1024 + 123

    async def digest(exchange: ServerExchange) -> None:
        body = await read_body(exchange)
        await exchange.send_head(200, [])
        for offset in range(0, len(body), 1 << 20):
            await exchange.send_data(body[offset : offset + (1 << 20)][::-1])
        await exchange.end()

    pattern = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    expected = b"".join(
        pattern[offset : offset + (1 << 20)][::-1] for offset in range(0, size, 1 << 20)
    )
    async with (
        open_server(digest) as server,
        open_http2_transport(
            server.url, limits=ClientLimits(stream_window=256 * 1024)
        ) as transport,
    ):
        # The whole body at once (more than the server's windows allow at once) ...
        assert await call(transport, pattern) == (200, expected)
        # ... and streamed in uneven pieces.
        async with transport.exchange("POST", "/stream", []) as exchange:
            for offset in range(0, size, 700_001):
                await exchange.send_data(pattern[offset : offset + 700_001])
            await exchange.end_request()
            await exchange.receive_head()
            received = bytearray()
            while chunk := await exchange.receive_data():
                received += chunk
            assert received == expected


async def test_leaving_early_resets_the_stream_and_the_connection_lives_on() -> None:
    reset_seen = trio.Event()

    async def endless(exchange: ServerExchange) -> None:
        if exchange.path == "/echo":
            await echo(exchange)
            return
        await exchange.send_head(200, [])
        try:
            while True:
                await exchange.send_data(b"x" * 1000)
        finally:  # StreamClosed, or the server cancels the handler of a reset stream
            reset_seen.set()

    async with open_server(endless) as server, open_http2_transport(server.url) as transport:
        async with transport.exchange("GET", "/endless", [], body=b"") as exchange:
            await exchange.receive_head()
            assert await exchange.receive_data()
        with trio.fail_after(5):
            await reset_seen.wait()
        assert await call(transport, b"again") == (200, b"again")
        assert server.statistics().connections_accepted == 1


async def test_cancelled_exchange_resets_the_stream() -> None:
    reset_seen = trio.Event()
    started = trio.Event()

    async def hang(exchange: ServerExchange) -> None:
        if exchange.path == "/echo":
            await echo(exchange)
            return
        started.set()
        try:
            assert await exchange.receive_data() == b"partial"
            await exchange.receive_data()
        finally:
            reset_seen.set()

    async with open_server(hang) as server, open_http2_transport(server.url) as transport:
        async with trio.open_nursery() as nursery:

            async def caller() -> None:
                async with transport.exchange("POST", "/hang", []) as exchange:
                    await exchange.send_data(b"partial")
                    await exchange.receive_head()

            nursery.start_soon(caller)
            await started.wait()
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        with trio.fail_after(5):
            await reset_seen.wait()
        assert await call(transport, b"still fine") == (200, b"still fine")


async def test_a_transport_closed_by_cancellation_does_not_wait_its_close_timeout() -> None:
    # The connection's task is cancelled with its transport; closing its socket then
    # raises Cancelled, and the connection must still count as done: else the
    # transport's close waited its whole close_timeout for it.
    started = trio.Event()

    async def hang(exchange: ServerExchange) -> None:
        await exchange.send_head(200, [("content-type", "x")])
        started.set()
        await trio.sleep_forever()

    limits = ClientLimits(close_timeout=20)
    async with open_server(hang) as server:
        with trio.fail_after(5):  # well under the close timeout (which is shielded)
            async with trio.open_nursery() as nursery:

                async def caller() -> None:
                    async with (
                        open_http2_transport(server.url, limits=limits) as transport,
                        transport.exchange("POST", "/hang", [], body=b"") as exchange,
                    ):
                        await exchange.receive_head()
                        await exchange.receive_data()

                nursery.start_soon(caller)
                await started.wait()
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()


async def test_slow_reader_backpressures_the_server() -> None:
    window = 64 * 1024
    total = 40 * window
    sent = 0
    done = trio.Event()

    async def firehose(exchange: ServerExchange) -> None:
        nonlocal sent
        await exchange.send_head(200, [])
        for _ in range(total // 4096):
            await exchange.send_data(b"y" * 4096)
            sent += 4096
        await exchange.end()
        done.set()

    async with (
        open_server(firehose) as server,
        open_http2_transport(server.url, limits=ClientLimits(stream_window=window)) as transport,
    ):
        async with transport.exchange("GET", "/firehose", [], body=b"") as exchange:
            await exchange.receive_head()
            await trio.testing.wait_all_tasks_blocked()
            # The server is stuck on the stream window, well short of the whole body.
            assert 0 < sent <= 2 * window
            assert not done.is_set()
            received = 0
            while chunk := await exchange.receive_data():
                received += len(chunk)
            assert received == total
        assert done.is_set()


async def test_exchange_after_aclose_fails(h2c_server: Server) -> None:
    async with open_http2_transport(h2c_server.url) as transport:
        assert await call(transport, b"1") == (200, b"1")
        await transport.aclose()
        await trio.lowlevel.checkpoint()  # closing does not cancel the block around it
        with pytest.raises(ConnectError) as info:
            await call(transport, b"2")
        assert info.value.code is Code.UNAVAILABLE
        assert "closed" in info.value.message


async def test_aclose_fails_exchanges_in_flight() -> None:
    started = trio.Event()

    async def hang(exchange: ServerExchange) -> None:
        started.set()
        await trio.sleep_forever()

    async with open_server(hang, limits=ServerLimits(grace_period=0)) as server:
        async with open_http2_transport(server.url) as transport:
            async with transport.exchange("POST", "/hang", [], body=b"") as exchange:
                await started.wait()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(transport.aclose)
                    with pytest.raises(ConnectError) as info:
                        await exchange.receive_head()
                assert info.value.code is Code.UNAVAILABLE


async def test_reconnects_after_the_server_goes_idle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = ServerLimits(idle_timeout=5)
    async with open_server(echo, limits=limits) as server:
        async with open_http2_transport(server.url) as transport:
            assert await call(transport, b"a") == (200, b"a")
            await trio.sleep(10)  # the server says GOAWAY and closes the idle connection
            assert transport.statistics().connections == 0
            assert await call(transport, b"b") == (200, b"b")
        assert server.statistics().connections_accepted == 2
        assert transport.statistics().connections_opened == 2


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_connection_refused(scheme: str) -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with open_http2_transport(f"{scheme}://127.0.0.1:{port}") as transport:
        with pytest.raises(ConnectError) as info:
            await call(transport, b"")
    assert info.value.code is Code.UNAVAILABLE
    assert f"127.0.0.1:{port}" in info.value.message
    assert "refused" in info.value.message


async def test_untrusted_server_certificate(server_tls: ssl.SSLContext) -> None:
    async with (
        open_server(echo, ssl_context=server_tls) as server,
        open_http2_transport(server.url) as transport,  # default context: trustme CA unknown
    ):
        with pytest.raises(ConnectError) as info:
            await call(transport, b"")
    assert info.value.code is Code.UNAVAILABLE
    assert "TLS handshake" in info.value.message
    assert "certificate" in info.value.message


async def test_server_demands_a_client_certificate(
    ca: trustme.CA, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server_tls.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_tls)
    async with (
        open_server(echo, ssl_context=server_tls) as server,
        open_http2_transport(server.url, ssl_context=client_tls) as transport,
    ):
        with pytest.raises(ConnectError) as info:
            await call(transport, b"")
    assert info.value.code is Code.UNAVAILABLE
    assert "client certificate" in info.value.message


async def test_invalid_base_urls() -> None:
    for url in ("ftp://x", "http://", "http://h/?q=1"):
        with pytest.raises(ValueError, match="base_url"):
            async with open_http2_transport(url):
                pass


async def test_request_headers_are_checked_and_cleaned() -> None:
    seen: list[list[tuple[str, str]]] = []

    async def record(exchange: ServerExchange) -> None:
        seen.append(list(exchange.headers.items()))
        await exchange.send_response(200, [], b"")

    async with open_server(record) as server, open_http2_transport(server.url) as transport:
        headers = [
            ("Connection", "keep-alive"),
            ("Host", "elsewhere"),
            ("TE", "trailers"),
            ("X-Padded", "  value\t"),
        ]
        assert await call(transport, b"", "/ok") == (200, b"")
        async with transport.exchange("GET", "/ok", headers, body=b"") as exchange:
            await exchange.receive_head()
        assert ("te", "trailers") in seen[-1]
        assert ("x-padded", "value") in seen[-1]
        assert not {"connection", "host"} & {name for name, _ in seen[-1]}
        for bad in ([("bad name", "v")], [("x-ok", "a\r\nb")]):
            with pytest.raises(ValueError, match="header"):
                async with transport.exchange("GET", "/ok", bad, body=b""):
                    pass
        for path in ("relative", "/with space"):
            with pytest.raises(ValueError, match="path"):
                async with transport.exchange("GET", path, [], body=b""):
                    pass
        assert await call(transport, b"", "/ok") == (200, b"")
        assert server.statistics().connections_accepted == 1
