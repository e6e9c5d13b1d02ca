"""The HTTP/2 client transport when the server misbehaves: resets, GOAWAY, dead peers, garbage.

A scripted server drives the server end of each connection frame by frame
(with h2), so each fault happens exactly when the test says.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import h2.errors
import h2.events
import pytest
import trio
import trio.testing
import trustme
from hyperframe.frame import GoAwayFrame

from tests.transport.h2_fault_servers import (
    H2Peer,
    RawConnection,
    call,
    concurrently,
    failing_call,
    fault_server,
)
from trioplugin.protocol import Code, ConnectError
from trioplugin.transport import ServerExchange
from trioplugin.transport._http2_client import HTTP2Transport, open_http2_transport
from trioplugin.transport._limits import ClientLimits, ServerLimits
from trioplugin.transport._server import open_server

PeerScript = Callable[[H2Peer, int], Awaitable[None]]


@asynccontextmanager
async def scripted_server(
    script: PeerScript,
    *,
    validate: bool = True,
    handshake: bool = True,
    max_concurrent_streams: int | None = None,
) -> AsyncIterator[tuple[str, list[H2Peer]]]:
    """Serve each connection with ``script(peer, index)``; yields the URL and the peers."""
    peers: list[H2Peer] = []

    async def run(connection: RawConnection) -> None:
        peer = H2Peer(connection, validate=validate)
        peers.append(peer)
        if handshake:
            await peer.handshake(max_concurrent_streams)
        await script(peer, connection.index)

    async with fault_server(run) as server:
        yield server.url, peers


@pytest.mark.parametrize(
    ("error_code", "code", "words"),
    [
        (h2.errors.ErrorCodes.REFUSED_STREAM, Code.UNAVAILABLE, "safe to retry"),
        (h2.errors.ErrorCodes.CANCEL, Code.CANCELED, "canceled"),
        (h2.errors.ErrorCodes.INTERNAL_ERROR, Code.INTERNAL, "INTERNAL_ERROR"),
        (h2.errors.ErrorCodes.PROTOCOL_ERROR, Code.INTERNAL, "PROTOCOL_ERROR"),
        (h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, Code.RESOURCE_EXHAUSTED, "ENHANCE_YOUR_CALM"),
        (0x77, Code.INTERNAL, "0x77"),
    ],
)
async def test_stream_reset_by_the_server(error_code: int, code: Code, words: str) -> None:
    async def script(peer: H2Peer, index: int) -> None:
        peer.h2.reset_stream(await peer.expect_request(), error_code)
        await peer.flush()
        await peer.respond(await peer.expect_request(), b"second")
        await peer.drain()

    async with scripted_server(script) as (url, peers), open_http2_transport(url) as transport:
        with pytest.raises(ConnectError) as info:
            await call(transport)
        assert info.value.code is code
        assert words in info.value.message
        assert await call(transport) == (200, b"second")  # same connection
        assert len(peers) == 1


async def test_goaway_finishes_earlier_streams_and_refuses_later_ones() -> None:
    async def script(peer: H2Peer, index: int) -> None:
        if index > 0:
            await peer.respond(await peer.expect_request(), b"new connection")
            await peer.drain()
            return
        first = await peer.expect_request()
        second = await peer.expect_request()
        assert (first, second) == (1, 3)
        # A graceful GOAWAY that promises to finish stream 1 only. (Written by
        # hand: h2 would close its own state and refuse to answer stream 1.)
        await peer.send_raw(GoAwayFrame(0, last_stream_id=1, error_code=0).serialize())
        await peer.respond(first, b"finished after GOAWAY")
        await peer.drain()

    async with scripted_server(script) as (url, peers), open_http2_transport(url) as transport:
        async with (
            transport.exchange("POST", "/a", [], body=b"") as first,
            transport.exchange("POST", "/b", [], body=b"") as second,
        ):
            with pytest.raises(ConnectError) as info:
                await second.receive_head()
            assert info.value.code is Code.UNAVAILABLE
            assert "did not process" in info.value.message
            assert (await first.receive_head())[0] == 200
            assert await first.receive_data() == b"finished after GOAWAY"
            assert await first.receive_data() == b""
        assert await call(transport) == (200, b"new connection")
        assert len(peers) == 2
        with trio.fail_after(5):  # the drained connection was closed by the client
            await peers[0].connection.closed_by_client.wait()


async def test_dead_connection_fails_every_stream_at_once() -> None:
    async def script(peer: H2Peer, index: int) -> None:
        if index == 0:
            for _ in range(3):
                await peer.expect_request()
            await peer.connection.stream.aclose()
            return
        await peer.respond(await peer.expect_request(), b"reconnected")
        await peer.drain()

    async with scripted_server(script) as (url, peers), open_http2_transport(url) as transport:
        with trio.fail_after(5):
            errors = await concurrently(3, lambda: failing_call(transport))
        assert [error.code for error in errors] == [Code.UNAVAILABLE] * 3
        assert all("lost" in error.message for error in errors)
        assert await call(transport) == (200, b"reconnected")
        assert len(peers) == 2


async def test_protocol_error_from_the_server() -> None:
    async def script(peer: H2Peer, index: int) -> None:
        await peer.expect_request()
        await peer.send_raw(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA on stream 0
        await peer.drain()

    async with scripted_server(script) as (url, _), open_http2_transport(url) as transport:
        with pytest.raises(ConnectError) as info:
            await call(transport)
    assert info.value.code is Code.INTERNAL
    assert "protocol error" in info.value.message


async def test_invalid_response_header_fails_only_that_stream() -> None:
    async def script(peer: H2Peer, index: int) -> None:
        stream_id = await peer.expect_request()
        peer.h2.send_headers(stream_id, [(b":status", b"200"), (b"Bad Name", b"x")])
        await peer.flush()
        await peer.respond(await peer.expect_request(), b"fine")
        await peer.drain()

    async with (
        scripted_server(script, validate=False) as (url, _),
        open_http2_transport(url) as transport,
    ):
        with pytest.raises(ConnectError) as info:
            await call(transport)
        assert info.value.code is Code.INTERNAL
        assert "invalid header" in info.value.message
        assert await call(transport) == (200, b"fine")


async def test_h2c_to_a_server_that_speaks_only_http1() -> None:
    async def script(peer: H2Peer, index: int) -> None:
        await peer.connection.read_some()
        await peer.send_raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    async with (
        scripted_server(script, handshake=False) as (url, _),
        open_http2_transport(url) as transport,
    ):
        with pytest.raises(ConnectError) as info:
            await call(transport)
    assert info.value.code is Code.UNAVAILABLE
    assert "does not speak HTTP/2" in info.value.message


async def test_tls_server_without_h2() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server_context.set_alpn_protocols(["http/1.1"])
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def handle(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, server_context, server_side=True)
        async with tls:
            await tls.do_handshake()
            await tls.receive_some(1024)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with open_http2_transport(
            f"https://127.0.0.1:{port}", ssl_context=client_context
        ) as transport:
            with pytest.raises(ConnectError) as info:
                await call(transport)
        nursery.cancel_scope.cancel()
    assert info.value.code is Code.UNAVAILABLE
    assert "does not speak HTTP/2" in info.value.message
    assert client_context.get_ca_certs()


async def test_connect_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async def script(peer: H2Peer, index: int) -> None:
        await peer.drain()  # accepts, but never says SETTINGS

    async with (
        scripted_server(script, handshake=False) as (url, _),
        open_http2_transport(url, limits=ClientLimits(connect_timeout=3)) as transport,
    ):
        start = trio.current_time()
        with pytest.raises(ConnectError) as info:
            await call(transport)
        assert trio.current_time() - start == pytest.approx(3)
    assert info.value.code is Code.UNAVAILABLE
    assert "timed out" in info.value.message


async def test_aclose_while_connecting() -> None:
    async def script(peer: H2Peer, index: int) -> None:
        await peer.drain()  # never says SETTINGS

    async with (
        scripted_server(script, handshake=False) as (url, _),
        open_http2_transport(url) as transport,
    ):
        async with trio.open_nursery() as nursery:

            async def caller() -> None:
                with pytest.raises(ConnectError, match="transport is closed"):
                    await call(transport)

            nursery.start_soon(caller)
            await trio.testing.wait_all_tasks_blocked()
            await transport.aclose()


async def test_server_ends_the_response_before_the_request() -> None:
    async def script(peer: H2Peer, index: int) -> None:
        while True:
            event = await peer.next_event()
            if isinstance(event, h2.events.RequestReceived):
                break
        stream_id = event.stream_id or 0
        await peer.respond(stream_id, b"early answer")
        peer.h2.reset_stream(stream_id, h2.errors.ErrorCodes.NO_ERROR)
        await peer.flush()
        await peer.drain()

    async with scripted_server(script) as (url, _), open_http2_transport(url) as transport:
        async with transport.exchange("POST", "/upload", []) as exchange:
            await exchange.send_data(b"first part")
            assert (await exchange.receive_head())[0] == 200
            assert await exchange.receive_data() == b"early answer"
            assert await exchange.receive_data() == b""
            await exchange.send_data(b"ignored: the server is done")
            await exchange.end_request()


async def test_cancelled_wait_for_a_stream_slot_does_not_leak_it() -> None:
    release = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        if exchange.path == "/hold":
            await release.wait()
        await exchange.send_response(200, [], b"done")

    limits = ServerLimits(max_concurrent_streams=1)
    async with (
        open_server(app, limits=limits) as server,
        open_http2_transport(server.url) as transport,
    ):
        async with transport.exchange("POST", "/hold", [], body=b"") as held:
            waiting = trio.CancelScope()

            async def wait_for_the_slot() -> None:
                with waiting:
                    await call(transport)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(wait_for_the_slot)
                await trio.testing.wait_all_tasks_blocked()
                assert transport.statistics().open_streams == 1
                waiting.cancel()
            assert waiting.cancelled_caught
            release.set()
            assert (await held.receive_head())[0] == 200
        with trio.fail_after(5):
            assert await call(transport) == (200, b"done")


async def test_abandoned_responses_give_the_connection_window_back() -> None:
    window = 64 * 1024

    async def flood(exchange: ServerExchange) -> None:
        await exchange.send_head(200, [])
        for _ in range(8):
            await exchange.send_data(b"z" * (window // 4))
        await exchange.end()

    async with (
        open_server(flood) as server,
        open_http2_transport(
            server.url, limits=ClientLimits(stream_window=window, connection_window=2 * window)
        ) as t,
    ):
        with trio.fail_after(10):
            for _ in range(6):  # each leaves up to a window of unread data behind
                async with t.exchange("GET", "/flood", [], body=b"") as exchange:
                    await exchange.receive_head()
                    await trio.testing.wait_all_tasks_blocked()
            status, body = await call(t, b"")
        assert (status, len(body)) == (200, 2 * window)


async def test_misuse_is_reported() -> None:
    async def script(peer: H2Peer, index: int) -> None:
        await peer.respond(await peer.expect_request())
        await peer.respond(await peer.expect_request(), b"slot still free")
        await peer.drain()

    async with (
        scripted_server(script, max_concurrent_streams=1) as (url, _),
        open_http2_transport(url) as transport,
    ):
        exchange = transport.exchange("POST", "/m", [], body=b"")
        with pytest.raises(RuntimeError, match="async context manager"):
            await exchange.receive_head()
        async with exchange:
            with pytest.raises(RuntimeError, match="already ended"):
                await exchange.send_data(b"late")
            await exchange.receive_head()
        with pytest.raises(RuntimeError, match="only once"):
            async with exchange:
                pass
        with pytest.raises(RuntimeError, match="closed"):
            await exchange.receive_data()
        with pytest.raises(UnicodeEncodeError):
            await call_path(transport, "/caf\u00e9")
        assert await call(transport) == (200, b"slot still free")


async def call_path(transport: HTTP2Transport, path: str) -> None:
    async with transport.exchange("GET", path, [], body=b""):
        pass
