"""The server's limits: slow clients, idle connections, connection caps, and the settings."""

from __future__ import annotations

import contextlib
import math

import httpx
import pytest
import trio
import trio.testing

from trioplugin.transport import ServerExchange, ServerLimits, open_server

from ._server_helpers import TIMEOUT, RawH2, RawH11, echo


def elapsed_since(start: float) -> float:
    return trio.current_time() - start


async def test_slowloris_head_is_cut_off(autojump_clock: trio.testing.MockClock) -> None:
    limits = ServerLimits(header_read_timeout=5)
    async with open_server(echo, limits=limits) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        start = trio.current_time()
        with trio.fail_after(TIMEOUT):
            # One header line a second: never a complete head.
            await stream.send_all(b"GET / HTTP/1.1\r\n")
            for i in range(20):
                try:
                    await stream.send_all(b"x-slow-%d: 1\r\n" % i)
                    with trio.move_on_after(1):
                        if await stream.receive_some() == b"":
                            break
                except trio.BrokenResourceError:
                    break  # closed with our bytes unread: a reset
        assert 5 <= elapsed_since(start) < 7
        assert server.statistics().connections_closed_timeout == 1
        await stream.aclose()


async def test_silent_connection_is_cut_off(autojump_clock: trio.testing.MockClock) -> None:
    limits = ServerLimits(header_read_timeout=5)
    async with open_server(echo, limits=limits) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        start = trio.current_time()
        with trio.fail_after(TIMEOUT):
            assert await stream.receive_some() == b""
        assert 5 <= elapsed_since(start) < 6
        assert server.statistics().connections_closed_timeout == 1
        await stream.aclose()


async def test_head_timeout_restarts_for_each_keep_alive_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = ServerLimits(header_read_timeout=5, idle_timeout=100)
    async with open_server(echo, limits=limits) as server:
        client = await RawH11.connect(server.port)
        with trio.fail_after(60):
            for _ in range(3):
                await trio.sleep(4)  # idle, well within idle_timeout
                await client.request(body=b"ok")
                assert (await client.response())[1] == b"ok"
        assert server.statistics().connections_accepted == 1
        await client.aclose()


async def test_idle_http1_connection_is_closed(autojump_clock: trio.testing.MockClock) -> None:
    limits = ServerLimits(idle_timeout=30)
    async with open_server(echo, limits=limits) as server:
        client = await RawH11.connect(server.port)
        await client.request(body=b"ok")
        assert (await client.response())[1] == b"ok"
        start = trio.current_time()
        with trio.fail_after(60):
            assert await client.at_eof()
        assert 30 <= elapsed_since(start) < 31
        assert server.statistics().connections_closed_idle == 1
        await client.aclose()


async def test_a_long_request_is_not_idle(autojump_clock: trio.testing.MockClock) -> None:
    async def slow(exchange: ServerExchange) -> None:
        await trio.sleep(100)
        await exchange.send_response(200, [], b"late")

    limits = ServerLimits(idle_timeout=10, header_read_timeout=5)
    async with open_server(slow, limits=limits) as server:
        client = await RawH11.connect(server.port)
        await client.request()
        with trio.fail_after(200):
            assert (await client.response())[1] == b"late"
        await client.aclose()
        h2_client = await RawH2.connect(server.port)
        with trio.fail_after(200):
            stream_id = await h2_client.request()
            assert bytes((await h2_client.response(stream_id)).body) == b"late"
        await h2_client.aclose()


async def test_idle_http2_connection_gets_goaway_then_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = ServerLimits(idle_timeout=30)
    async with open_server(echo, limits=limits) as server:
        client = await RawH2.connect(server.port)
        stream_id = await client.request(body=b"ok")
        assert bytes((await client.response(stream_id)).body) == b"ok"
        start = trio.current_time()
        with trio.fail_after(60):
            await client.until_closed()
        assert 30 <= elapsed_since(start) < 32
        assert client.terminated is not None
        assert client.terminated.error_code == 0
        assert client.terminated.last_stream_id == stream_id
        assert server.statistics().connections_closed_idle == 1
        await client.aclose()


async def test_max_connections(autojump_clock: trio.testing.MockClock) -> None:
    async with open_server(echo, limits=ServerLimits(max_connections=2)) as server:
        first = await RawH11.connect(server.port)
        second = await RawH11.connect(server.port)
        for client in (first, second):
            await client.request(body=b"in")
            assert (await client.response())[1] == b"in"
        third = await trio.open_tcp_stream("127.0.0.1", server.port)
        with trio.fail_after(TIMEOUT):
            with contextlib.suppress(trio.BrokenResourceError):  # closed, perhaps with a reset
                assert await third.receive_some() == b""
        await third.aclose()
        stats = server.statistics()
        assert stats.connections_refused == 1
        assert stats.open_connections == 2
        await first.aclose()
        # Once a slot is free, connections are served again.
        with trio.fail_after(TIMEOUT):
            await trio.testing.wait_all_tasks_blocked()  # the server has seen the EOF
            assert server.statistics().open_connections == 1
            async with httpx.AsyncClient() as http:
                assert (await http.post(server.url, content=b"again")).content == b"again"
        await second.aclose()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_header_size": 10},
        {"max_concurrent_streams": 0},
        {"header_read_timeout": 0},
        {"idle_timeout": -1},
        {"idle_timeout": math.nan},
        {"max_connections": 0},
    ],
)
def test_limits_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ServerLimits(**kwargs)  # type: ignore[arg-type]


def test_limits_defaults_are_sane() -> None:
    limits = ServerLimits()
    assert limits.max_header_size == 64 * 1024
    assert limits.max_concurrent_streams == 100
    assert limits.header_read_timeout == 10
    assert limits.idle_timeout == 60
    assert limits.max_connections is None
