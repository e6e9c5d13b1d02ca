"""The httpx client transport against the real server: HTTP/1.1, h2c, TLS, streaming, failures."""

from __future__ import annotations

import gzip
import ssl
from functools import partial

import httpx
import pytest
import trio
import trio.testing
import trustme

from tests.tls import client_context, server_context
from tests.transport._server_helpers import read_body
from trioplugin.protocol import Code, ConnectError
from trioplugin.transport import ServerExchange
from trioplugin.transport._httpx_client import HttpxTransport, open_httpx_transport
from trioplugin.transport._server import open_server


async def echo(exchange: ServerExchange) -> None:
    body = await read_body(exchange)
    headers = [
        ("x-path", exchange.path),
        ("x-accept-encoding", exchange.headers.get("accept-encoding", "<none>")),
    ]
    await exchange.send_response(200, headers, body)


async def call(transport: HttpxTransport, body: bytes, path: str = "/echo") -> tuple[int, bytes]:
    async with transport.exchange("POST", path, [("content-type", "x")], body=body) as exchange:
        status, _ = await exchange.receive_head()
        received = b""
        while chunk := await exchange.receive_data():
            received += chunk
        return status, received


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    return server_context(ca)


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    return client_context(ca)


@pytest.mark.parametrize(("http1", "http2", "version"), [(True, False, "1.1"), (False, True, "2")])
async def test_unary(http1: bool, http2: bool, version: str) -> None:
    async with (
        open_server(echo) as server,
        open_httpx_transport(server.url + "/base", http1=http1, http2=http2) as transport,
    ):
        assert not transport.full_duplex
        async with transport.exchange("POST", "/svc/M", [], body=b"hello") as exchange:
            status, metadata = await exchange.receive_head()
            assert status == 200
            assert metadata["x-path"] == "/base/svc/M"
            assert metadata["x-accept-encoding"] == "<none>"  # httpx added none of its own
            assert await exchange.receive_data() == b"hello"
            assert await exchange.receive_data() == b""
            peer = exchange.peer
            assert peer is not None
            assert peer.http_version == version
            assert peer.address == ("127.0.0.1", server.port)


async def test_accept_encoding_only_when_asked_and_bodies_stay_encoded() -> None:
    compressed = gzip.compress(b"payload")

    async def gzipped(exchange: ServerExchange) -> None:
        await read_body(exchange)
        asked = exchange.headers.get("accept-encoding", "<none>")
        await exchange.send_response(
            200, [("content-encoding", "gzip"), ("x-asked", asked)], compressed
        )

    async with open_server(gzipped) as server, open_httpx_transport(server.url) as transport:
        headers = [("accept-encoding", "gzip")]
        async with transport.exchange("POST", "/m", headers, body=b"") as exchange:
            _, metadata = await exchange.receive_head()
            assert metadata["x-asked"] == "gzip"
            assert metadata["content-encoding"] == "gzip"
            assert await exchange.receive_data() == compressed  # not decoded by httpx


async def test_tls_and_mtls(
    ca: trustme.CA, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server_tls.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_tls)
    ca.issue_cert("host@example.org").configure_cert(client_tls)
    seen: list[object] = []

    async def whoami(exchange: ServerExchange) -> None:
        assert exchange.peer.tls is not None
        seen.append(exchange.peer.tls.peer_certificate)
        await exchange.send_response(200, [], b"")

    async with (
        open_server(whoami, ssl_context=server_tls) as server,
        open_httpx_transport(server.url, ssl_context=client_tls, http2=True) as transport,
    ):
        async with transport.exchange("GET", "/", [], body=b"") as exchange:
            assert (await exchange.receive_head())[0] == 200
            peer = exchange.peer
            assert peer is not None and peer.tls is not None
            assert peer.tls.alpn_protocol in ("h2", "http/1.1")
    assert "host@example.org" in repr(seen[0])


async def test_untrusted_server_certificate(server_tls: ssl.SSLContext) -> None:
    async with (
        open_server(echo, ssl_context=server_tls) as server,
        open_httpx_transport(server.url) as transport,
    ):
        with pytest.raises(ConnectError) as info:
            await call(transport, b"")
    assert info.value.code is Code.UNAVAILABLE
    assert "certificate" in info.value.message


async def test_streamed_request_body() -> None:
    async def count(exchange: ServerExchange) -> None:
        body = await read_body(exchange)
        await exchange.send_response(200, [], b"%d" % len(body))

    async with open_server(count) as server, open_httpx_transport(server.url) as transport:
        async with transport.exchange("POST", "/upload", []) as exchange:
            for _ in range(50):
                await exchange.send_data(b"x" * 100_000)
            await exchange.end_request()
            await exchange.end_request()
            assert (await exchange.receive_head())[0] == 200
            assert await exchange.receive_data() == b"5000000"
            with pytest.raises(RuntimeError, match="already ended"):
                await exchange.send_data(b"late")


async def test_leaving_early_closes_the_response() -> None:
    gone = trio.Event()

    async def endless(exchange: ServerExchange) -> None:
        if exchange.path == "/echo":
            await echo(exchange)
            return
        await exchange.send_head(200, [])
        try:
            while True:
                await exchange.send_data(b"x" * 1000)
        finally:
            gone.set()

    async with open_server(endless) as server, open_httpx_transport(server.url) as transport:
        async with transport.exchange("GET", "/endless", [], body=b"") as exchange:
            await exchange.receive_head()
            assert await exchange.receive_data()
        with trio.fail_after(5):
            await gone.wait()
        assert await call(transport, b"next") == (200, b"next")


async def test_cancelled_while_streaming_the_request() -> None:
    started = trio.Event()

    async def slow(exchange: ServerExchange) -> None:
        started.set()
        await read_body(exchange)
        await exchange.send_response(200, [], b"")

    async with open_server(slow) as server, open_httpx_transport(server.url) as transport:
        with trio.move_on_after(5) as scope:
            async with transport.exchange("POST", "/upload", []) as exchange:
                await exchange.send_data(b"first")
                await started.wait()
                scope.cancel()
                await exchange.send_data(b"never")
        assert scope.cancelled_caught
        assert await call(transport, b"") == (200, b"")


async def test_connection_refused() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with open_httpx_transport(f"http://127.0.0.1:{port}") as transport:
        with pytest.raises(ConnectError) as info:
            await call(transport, b"")
        assert info.value.code is Code.UNAVAILABLE
        assert f"127.0.0.1:{port}" in info.value.message
        # A streaming request reports the failure when the head is awaited.
        async with transport.exchange("POST", "/m", []) as exchange:
            with pytest.raises(ConnectError):
                await exchange.send_data(b"x")
                await exchange.end_request()
                await exchange.receive_head()


async def test_connection_lost_mid_body() -> None:
    async def handle(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with open_httpx_transport(f"http://127.0.0.1:{port}") as transport:
            async with transport.exchange("GET", "/", [], body=b"") as exchange:
                assert (await exchange.receive_head())[0] == 200
                with pytest.raises(ConnectError) as info:
                    while await exchange.receive_data():
                        pass
        nursery.cancel_scope.cancel()
    assert info.value.code is Code.UNAVAILABLE


async def test_callers_client_is_left_open() -> None:
    async with open_server(echo) as server:
        async with httpx.AsyncClient() as client:
            async with open_httpx_transport(server.url, client=client) as transport:
                assert transport.client is client
                assert await call(transport, b"mine") == (200, b"mine")
            assert not client.is_closed
            await transport.aclose()
            with pytest.raises(ConnectError, match="closed"):
                await call(transport, b"")


async def test_needs_some_http_version() -> None:
    with pytest.raises(ValueError, match="http1"):
        async with open_httpx_transport("http://x", http1=False, http2=False):
            pass
