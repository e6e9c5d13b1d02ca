"""Starting and stopping the server: the API, graceful shutdown, the grace period, cancellation."""

from __future__ import annotations

import dataclasses
from functools import partial

import hpack
import httpx
import pytest
import trio
import trio.testing
import trustme
from h2.errors import ErrorCodes
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    RstStreamFrame,
    SettingsFrame,
)

from tests.tls import client_context, server_context
from trioplugin import ServerLimits
from trioplugin.transport import Server, ServerExchange, open_server, serve

from ._server_helpers import (
    H2_PREFACE,
    TIMEOUT,
    RawH2,
    RawH11,
    echo,
    read_frames,
    read_frames_until_eof,
)


async def refuses_connections(server_port: int) -> bool:
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", server_port)
    except OSError:
        return True
    await stream.aclose()
    return False


class Gate:
    """An app whose requests wait at a gate; it tells when they arrive and how they end."""

    def __init__(self) -> None:
        self.arrived = trio.Event()
        self.release = trio.Event()
        self.cancelled = trio.Event()
        self.finished = trio.Event()

    async def __call__(self, exchange: ServerExchange) -> None:
        if exchange.path == "/quick":
            await echo(exchange)
            return
        self.arrived.set()
        try:
            await self.release.wait()
        except trio.Cancelled:
            self.cancelled.set()
            raise
        await exchange.send_response(200, [], b"finished")
        self.finished.set()


async def test_open_server_binds_a_free_port_and_reports_it() -> None:
    async with open_server(echo) as server:
        assert server.port > 0
        assert server.address == ("127.0.0.1", server.port)
        assert server.url == f"http://127.0.0.1:{server.port}"
        before = server.statistics()
        async with httpx.AsyncClient() as client:
            assert (await client.post(server.url, content=b"x")).content == b"x"
        after = server.statistics()
        assert (before.requests_served, after.requests_served) == (0, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            after.requests_served = 5  # type: ignore[misc]
    assert await refuses_connections(server.port)


async def test_serve_under_nursery_start_until_aclose() -> None:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, echo)
        async with httpx.AsyncClient() as client:
            assert (await client.post(server.url, content=b"y")).content == b"y"
        with trio.fail_after(TIMEOUT):
            await server.aclose()
        assert await refuses_connections(server.port)
        await server.aclose()  # idempotent


async def test_serve_stops_when_cancelled() -> None:
    with trio.move_on_after(TIMEOUT) as scope:
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(
                partial(serve, echo, limits=ServerLimits(grace_period=100))
            )
            client = await RawH11.connect(server.port)
            await client.request("POST", "/", b"z")
            assert (await client.response())[1] == b"z"
            nursery.cancel_scope.cancel()
    assert not scope.cancelled_caught
    assert await client.at_eof()
    assert await refuses_connections(server.port)


async def test_listeners_can_be_handed_in() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with open_server(echo, listeners=listeners) as server:
        assert server.port == listeners[0].socket.getsockname()[1]
        async with httpx.AsyncClient() as client:
            assert (await client.post(server.url, content=b"l")).content == b"l"
    assert listeners[0].socket.fileno() == -1  # the server closed it


async def test_graceful_shutdown_lets_http1_requests_finish() -> None:
    gate = Gate()
    closed = trio.Event()
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, gate)
        busy = await RawH11.connect(server.port)
        idle = await RawH11.connect(server.port)
        await idle.request("POST", "/quick", b"q")
        assert (await idle.response())[1] == b"q"
        await busy.request()

        async def close_server() -> None:
            await server.aclose()
            closed.set()

        with trio.fail_after(TIMEOUT):
            await gate.arrived.wait()
            nursery.start_soon(close_server)
            # The idle keep-alive connection goes at once; no new ones come in.
            assert await idle.at_eof()
            assert await refuses_connections(server.port)
            assert not closed.is_set()
            gate.release.set()
            head, body = await busy.response()
            assert (head.status_code, body) == (200, b"finished")
            assert (b"connection", b"close") in list(head.headers)
            assert await busy.at_eof()
            await closed.wait()
    assert not gate.cancelled.is_set()
    assert server.statistics().open_connections == 0


async def test_graceful_shutdown_sends_goaway_and_finishes_http2_streams() -> None:
    # Raw frames: h2's own client state machine (and so httpx) cannot take a
    # response after a GOAWAY, however graceful.
    gate = Gate()
    encoder = hpack.Encoder()

    def request(stream_id: int) -> bytes:
        block = encoder.encode(
            [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "t")]
        )
        return HeadersFrame(stream_id, data=block, flags=["END_STREAM", "END_HEADERS"]).serialize()

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, gate)
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        await stream.send_all(H2_PREFACE + SettingsFrame(0).serialize() + request(1))
        with trio.fail_after(TIMEOUT):
            await gate.arrived.wait()
            nursery.start_soon(server.aclose)
            frames: list[Frame] = []
            while not any(isinstance(frame, GoAwayFrame) for frame in frames):
                frames += await read_frames(stream)
            (goaway,) = [frame for frame in frames if isinstance(frame, GoAwayFrame)]
            assert (goaway.last_stream_id, goaway.error_code) == (1, ErrorCodes.NO_ERROR)
            # A stream opened after the GOAWAY is refused...
            await stream.send_all(request(3))
            while not any(isinstance(frame, RstStreamFrame) for frame in frames):
                frames += await read_frames(stream)
            (reset,) = [frame for frame in frames if isinstance(frame, RstStreamFrame)]
            assert (reset.stream_id, reset.error_code) == (3, ErrorCodes.REFUSED_STREAM)
            # ... while the one in flight completes, and then the connection closes.
            gate.release.set()
            frames += await read_frames_until_eof(stream)
        answer = [f for f in frames if isinstance(f, DataFrame) and f.stream_id == 1]
        assert b"".join(f.data for f in answer) == b"finished"
        assert "END_STREAM" in answer[-1].flags
        await stream.aclose()
    assert not gate.cancelled.is_set()


async def test_requests_beyond_the_grace_period_are_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = Gate()
    async with open_server(gate, limits=ServerLimits(grace_period=2)) as server:
        h1 = await RawH11.connect(server.port)
        await h1.request()
        h2_client = await RawH2.connect(server.port)
        await h2_client.request()
        with trio.fail_after(TIMEOUT):
            await gate.arrived.wait()
            start = trio.current_time()
            await server.aclose()
        assert 2 <= trio.current_time() - start < 3
    assert gate.cancelled.is_set()
    assert not gate.finished.is_set()
    assert server.statistics().open_connections == 0
    assert await h1.at_eof()
    await h2_client.until_closed()


async def test_cancelling_the_surrounding_scope_stops_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = Gate()
    start = trio.current_time()
    with trio.CancelScope() as scope:
        async with open_server(gate, limits=ServerLimits(grace_period=100)) as server:
            client = await RawH11.connect(server.port)
            await client.request()
            await gate.arrived.wait()
            scope.cancel()
    assert trio.current_time() - start < 1
    assert gate.cancelled.is_set()
    assert await client.at_eof()


async def test_cancelled_aclose_still_stops_the_server(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = Gate()
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(
            partial(serve, gate, limits=ServerLimits(grace_period=100))
        )
        client = await RawH11.connect(server.port)
        await client.request()
        await gate.arrived.wait()
        with trio.move_on_after(1) as scope:
            await server.aclose()
        assert scope.cancelled_caught
        assert gate.cancelled.is_set()
        assert server.statistics().open_connections == 0


async def test_an_error_in_the_block_stops_the_server_and_comes_out_as_is() -> None:
    gate = Gate()
    with pytest.raises(KeyError, match="oops") as info:
        async with open_server(gate, limits=ServerLimits(grace_period=100)) as server:
            client = await RawH11.connect(server.port)
            await client.request()
            await gate.arrived.wait()
            raise KeyError("oops")
    assert type(info.value) is KeyError
    assert gate.cancelled.is_set()
    assert await refuses_connections(server.port)


async def test_a_bad_grace_period_is_refused() -> None:
    with pytest.raises(ValueError, match="grace_period"):
        async with open_server(echo, limits=ServerLimits(grace_period=-1)):
            pass  # pragma: no cover


async def test_a_port_in_use_is_reported_as_is() -> None:
    async with open_server(echo) as server:
        with pytest.raises(OSError, match="in use"):
            async with open_server(echo, port=server.port):
                pass  # pragma: no cover


async def test_shutdown_does_not_wait_for_connections_that_sent_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ca = trustme.CA()
    async with open_server(echo, limits=ServerLimits(grace_period=100)) as plain:
        silent = await trio.open_tcp_stream("127.0.0.1", plain.port)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        await plain.aclose()
        assert trio.current_time() - start < 1
        assert await silent.receive_some() == b""
    async with open_server(
        echo, ssl_context=server_context(ca), limits=ServerLimits(grace_period=100)
    ) as tls:
        in_handshake = await trio.open_tcp_stream("127.0.0.1", tls.port)
        # ALPN said http/1.1, and then nothing came.
        context = client_context(ca)
        context.set_alpn_protocols(["http/1.1"])
        after_handshake = trio.SSLStream(
            await trio.open_tcp_stream("127.0.0.1", tls.port),
            context,
            server_hostname="127.0.0.1",
            https_compatible=True,
        )
        await after_handshake.do_handshake()
        await trio.testing.wait_all_tasks_blocked()
        assert tls.statistics().open_connections == 2
        start = trio.current_time()
        await tls.aclose()
        assert trio.current_time() - start < 1
        assert await in_handshake.receive_some() == b""
        assert await after_handshake.receive_some() == b""
        assert tls.statistics().open_connections == 0
