"""The HTTP/2 client transport when the server misbehaves: resets, GOAWAY, dead peers, garbage.

A scripted server drives the server end of each connection frame by frame
(with h2), so each fault happens exactly when the test says.
"""

from __future__ import annotations

import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest
import trio
import trio.testing
import trustme
from hyperframe.frame import GoAwayFrame

from trioplugin.protocol import Code, ConnectError
from trioplugin.transport import ServerExchange
from trioplugin.transport._h2_client import H2Transport, open_h2_transport
from trioplugin.transport._limits import ClientLimits, ServerLimits
from trioplugin.transport._server import open_server


class RawPeer:
    """The server end of one HTTP/2 connection, moved step by step by a test script."""

    def __init__(self, stream: trio.abc.Stream, *, validate: bool = True) -> None:
        self.stream = stream
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=validate,
            normalize_outbound_headers=validate,
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.pending: deque[h2.events.Event] = deque()
        self.eof = trio.Event()

    async def handshake(self, max_concurrent_streams: int | None = None) -> None:
        if max_concurrent_streams is not None:
            self.h2.local_settings.max_concurrent_streams = max_concurrent_streams
        self.h2.initiate_connection()
        await self.flush()

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def next_event(self) -> h2.events.Event | None:
        while not self.pending:
            data = await self.stream.receive_some(65536)
            if not data:
                self.eof.set()
                return None
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    self.h2.acknowledge_received_data(
                        event.flow_controlled_length or 0, event.stream_id or 0
                    )
                self.pending.append(event)
            await self.flush()
        return self.pending.popleft()

    async def request(self) -> int:
        """Wait for the next complete request (headers and body); its stream id."""
        while True:
            event = await self.next_event()
            assert event is not None, "the client closed the connection"
            if isinstance(event, h2.events.StreamEnded):
                return event.stream_id or 0

    async def respond(self, stream_id: int, body: bytes = b"ok") -> None:
        self.h2.send_headers(stream_id, [(b":status", b"200")])
        self.h2.send_data(stream_id, body, end_stream=True)
        await self.flush()

    async def drain(self) -> None:
        """Read (and ignore) until the client closes the connection."""
        while await self.next_event() is not None:
            pass


Script = Callable[[RawPeer, int], Awaitable[None]]


@asynccontextmanager
async def scripted_server(
    script: Script,
    *,
    validate: bool = True,
    handshake: bool = True,
    max_concurrent_streams: int | None = None,
) -> AsyncIterator[tuple[str, list[RawPeer]]]:
    """Serve each connection with ``script(peer, index)``; yields the URL and the peers."""
    peers: list[RawPeer] = []

    async def handle(stream: trio.SocketStream) -> None:
        peer = RawPeer(stream, validate=validate)
        peers.append(peer)
        async with stream:
            if handshake:
                await peer.handshake(max_concurrent_streams)
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await script(peer, len(peers) - 1)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield f"http://127.0.0.1:{port}", peers
        nursery.cancel_scope.cancel()


async def call(transport: H2Transport, body: bytes = b"req") -> tuple[int, bytes]:
    async with transport.exchange("POST", "/m", [], body=body) as exchange:
        status, _ = await exchange.receive_head()
        received = b""
        while chunk := await exchange.receive_data():
            received += chunk
        return status, received


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
    async def script(peer: RawPeer, index: int) -> None:
        peer.h2.reset_stream(await peer.request(), error_code)
        await peer.flush()
        await peer.respond(await peer.request(), b"second")
        await peer.drain()

    async with scripted_server(script) as (url, peers), open_h2_transport(url) as transport:
        with pytest.raises(ConnectError) as info:
            await call(transport)
        assert info.value.code is code
        assert words in info.value.message
        assert await call(transport) == (200, b"second")  # same connection
        assert len(peers) == 1


async def test_goaway_finishes_earlier_streams_and_refuses_later_ones() -> None:
    async def script(peer: RawPeer, index: int) -> None:
        if index > 0:
            await peer.respond(await peer.request(), b"new connection")
            await peer.drain()
            return
        first = await peer.request()
        second = await peer.request()
        assert (first, second) == (1, 3)
        # A graceful GOAWAY that promises to finish stream 1 only. (Written by
        # hand: h2 would close its own state and refuse to answer stream 1.)
        await peer.stream.send_all(GoAwayFrame(0, last_stream_id=1, error_code=0).serialize())
        await peer.respond(first, b"finished after GOAWAY")
        await peer.drain()

    async with scripted_server(script) as (url, peers), open_h2_transport(url) as transport:
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
            await peers[0].eof.wait()


async def test_dead_connection_fails_every_stream_at_once() -> None:
    async def script(peer: RawPeer, index: int) -> None:
        if index == 0:
            for _ in range(3):
                await peer.request()
            await peer.stream.aclose()
            return
        await peer.respond(await peer.request(), b"reconnected")
        await peer.drain()

    async with scripted_server(script) as (url, peers), open_h2_transport(url) as transport:
        errors: list[ConnectError] = []

        async def doomed() -> None:
            with pytest.raises(ConnectError) as info:
                await call(transport)
            errors.append(info.value)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(doomed)
        assert [error.code for error in errors] == [Code.UNAVAILABLE] * 3
        assert all("lost" in error.message for error in errors)
        assert await call(transport) == (200, b"reconnected")
        assert len(peers) == 2


async def test_protocol_error_from_the_server() -> None:
    async def script(peer: RawPeer, index: int) -> None:
        await peer.request()
        await peer.stream.send_all(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA on stream 0
        await peer.drain()

    async with scripted_server(script) as (url, _), open_h2_transport(url) as transport:
        with pytest.raises(ConnectError) as info:
            await call(transport)
    assert info.value.code is Code.INTERNAL
    assert "protocol error" in info.value.message


async def test_invalid_response_header_fails_only_that_stream() -> None:
    async def script(peer: RawPeer, index: int) -> None:
        stream_id = await peer.request()
        peer.h2.send_headers(stream_id, [(b":status", b"200"), (b"Bad Name", b"x")])
        await peer.flush()
        await peer.respond(await peer.request(), b"fine")
        await peer.drain()

    async with (
        scripted_server(script, validate=False) as (url, _),
        open_h2_transport(url) as transport,
    ):
        with pytest.raises(ConnectError) as info:
            await call(transport)
        assert info.value.code is Code.INTERNAL
        assert "invalid header" in info.value.message
        assert await call(transport) == (200, b"fine")


async def test_h2c_to_a_server_that_speaks_only_http1() -> None:
    async def script(peer: RawPeer, index: int) -> None:
        await peer.stream.receive_some(1024)
        await peer.stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    async with (
        scripted_server(script, handshake=False) as (url, _),
        open_h2_transport(url) as transport,
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
        async with open_h2_transport(
            f"https://127.0.0.1:{port}", ssl_context=client_context
        ) as transport:
            with pytest.raises(ConnectError) as info:
                await call(transport)
        nursery.cancel_scope.cancel()
    assert info.value.code is Code.UNAVAILABLE
    assert "does not speak HTTP/2" in info.value.message
    assert client_context.get_ca_certs()


async def test_connect_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async def script(peer: RawPeer, index: int) -> None:
        await peer.drain()  # accepts, but never says SETTINGS

    async with (
        scripted_server(script, handshake=False) as (url, _),
        open_h2_transport(url, limits=ClientLimits(connect_timeout=3)) as transport,
    ):
        start = trio.current_time()
        with pytest.raises(ConnectError) as info:
            await call(transport)
        assert trio.current_time() - start == pytest.approx(3)
    assert info.value.code is Code.UNAVAILABLE
    assert "timed out" in info.value.message


async def test_aclose_while_connecting() -> None:
    async def script(peer: RawPeer, index: int) -> None:
        await peer.drain()  # never says SETTINGS

    async with (
        scripted_server(script, handshake=False) as (url, _),
        open_h2_transport(url) as transport,
    ):
        async with trio.open_nursery() as nursery:

            async def caller() -> None:
                with pytest.raises(ConnectError, match="transport is closed"):
                    await call(transport)

            nursery.start_soon(caller)
            await trio.testing.wait_all_tasks_blocked()
            await transport.aclose()


async def test_server_ends_the_response_before_the_request() -> None:
    async def script(peer: RawPeer, index: int) -> None:
        while True:
            event = await peer.next_event()
            if isinstance(event, h2.events.RequestReceived):
                break
        stream_id = event.stream_id or 0
        await peer.respond(stream_id, b"early answer")
        peer.h2.reset_stream(stream_id, h2.errors.ErrorCodes.NO_ERROR)
        await peer.flush()
        await peer.drain()

    async with scripted_server(script) as (url, _), open_h2_transport(url) as transport:
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
        open_h2_transport(server.url) as transport,
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
        open_h2_transport(server.url, stream_window=window, connection_window=2 * window) as t,
    ):
        with trio.fail_after(10):
            for _ in range(6):  # each leaves up to a window of unread data behind
                async with t.exchange("GET", "/flood", [], body=b"") as exchange:
                    await exchange.receive_head()
                    await trio.testing.wait_all_tasks_blocked()
            status, body = await call(t, b"")
        assert (status, len(body)) == (200, 2 * window)


async def test_misuse_is_reported() -> None:
    async def script(peer: RawPeer, index: int) -> None:
        await peer.respond(await peer.request())
        await peer.respond(await peer.request(), b"slot still free")
        await peer.drain()

    async with (
        scripted_server(script, max_concurrent_streams=1) as (url, _),
        open_h2_transport(url) as transport,
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


async def call_path(transport: H2Transport, path: str) -> None:
    async with transport.exchange("GET", path, [], body=b""):
        pass
