"""The HTTP/1.1 client transport (trio + h11, keep-alive pool) against real servers on loopback.

The project's own server for the ordinary paths (plain, TLS, mTLS, streaming,
64 calls on 8 connections), small raw servers for what a well-behaved server
never does (closing a keep-alive connection, ``Connection: close``, closing
instead of answering, cutting a body short), and the TLS blackhole of
tests/fault_servers.py for the connect timeout under ``MockClock``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import h11
import pytest
import trio
import trio.testing
import trustme

from tests.fault_servers import blackhole
from tests.tasks import live_tasks
from tests.tls import client_context, server_context
from tests.transport._server_helpers import echo, read_body
from trioplugin.protocol import Code, ConnectError
from trioplugin.transport import (
    ClientLimits,
    HTTP1Transport,
    ServerExchange,
    UnprocessedError,
    open_http1_transport,
    open_server,
)

GUARD = 10.0
"""The bound on every wait of these tests."""


async def call(
    transport: HTTP1Transport, body: bytes = b"", *, method: str = "POST", path: str = "/echo"
) -> tuple[int, bytes]:
    async with transport.exchange(method, path, [("content-type", "x")], body=body) as exchange:
        status, _ = await exchange.receive_head()
        parts = []
        while chunk := await exchange.receive_data():
            parts.append(chunk)
        return status, b"".join(parts)


def assert_empty(transport: HTTP1Transport) -> None:
    stats = transport.statistics()
    assert (stats.connections, stats.idle_connections, stats.in_use) == (0, 0, 0), stats
    assert (stats.connecting, stats.waiting) == (0, 0), stats


async def wait_idle_closed_by_server(transport: HTTP1Transport) -> None:
    """Wait until the EOF the server sent has reached the pooled connection's socket."""
    [conn] = transport._pool._idle
    with trio.fail_after(GUARD):
        await trio.lowlevel.wait_readable(conn._socket)


# -- raw servers --------------------------------------------------------------------------

RawHandler = Callable[["RawServer", trio.SocketStream, int], Awaitable[None]]


@dataclass
class RawServer:
    """A raw HTTP/1.1 server on loopback, and what it has seen."""

    port: int
    requests: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    """(connection number, method, target) of each request read whole."""
    connections: int = 0
    closed: trio.Event = field(default_factory=trio.Event)
    """Set when a handler closed a connection on purpose."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def read_request(stream: trio.SocketStream, conn: h11.Connection) -> h11.Request | None:
    """The next request, read whole (its body dropped); None if the client closed."""
    request = None
    for _ in range(1000):  # bounded: a test request takes a few reads
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif isinstance(event, h11.ConnectionClosed):
            return None
    raise AssertionError("the request never ended")


async def respond(
    stream: trio.SocketStream, conn: h11.Connection, body: bytes, headers: list[tuple[str, str]]
) -> None:
    response = h11.Response(status_code=200, headers=[("content-length", str(len(body))), *headers])
    await stream.send_all(
        b"".join(
            part
            for part in (
                conn.send(response),
                conn.send(h11.Data(data=body)),
                conn.send(h11.EndOfMessage()),
            )
            if part
        )
    )


@asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[RawServer]:
    async with trio.open_nursery() as nursery:
        server = RawServer(0)

        async def handle(stream: trio.SocketStream) -> None:
            server.connections += 1
            number = server.connections
            try:
                await handler(server, stream, number)
            except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
                pass
            finally:
                await trio.aclose_forcefully(stream)

        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        server.port = listeners[0].socket.getsockname()[1]
        yield server
        nursery.cancel_scope.cancel()


def serve_requests(*, answer: Callable[[int, int], str]) -> RawHandler:
    """A handler that answers requests on each connection as ``answer(conn, n)`` says.

    ``answer`` gets the connection's number and the request's number on it,
    and says ``"keep"`` (answer, keep the connection), ``"close-after"``
    (answer with ``Connection: close``), ``"answer-then-drop"`` (answer, then
    close without a word) or ``"drop"`` (close instead of answering).
    """

    async def handler(server: RawServer, stream: trio.SocketStream, number: int) -> None:
        conn = h11.Connection(h11.SERVER)
        for n in range(1, 100):  # bounded: a test sends a few requests per connection
            request = await read_request(stream, conn)
            if request is None:
                return
            server.requests.append((number, request.method, request.target))
            what = answer(number, n)
            if what == "drop":
                break
            headers = [("connection", "close")] if what == "close-after" else []
            await respond(stream, conn, b"reply %d.%d" % (number, n), headers)
            if what != "keep":
                break
            conn.start_next_cycle()
        await stream.aclose()
        server.closed.set()

    return handler


# -- the ordinary paths -------------------------------------------------------------------


async def test_unary_path_prefix_peer_and_keep_alive() -> None:
    async with (
        open_server(echo) as server,
        open_http1_transport(server.url + "/base/") as transport,
    ):
        assert not transport.full_duplex
        assert transport.base_url == server.url + "/base"
        for n in range(3):
            async with transport.exchange("POST", "/svc/M", [("X-Custom", "v")], body=b"hi") as ex:
                status, metadata = await ex.receive_head()
                assert status == 200
                assert metadata["x-path"] == "/base/svc/M"
                assert metadata["x-version"] == "1.1"
                assert metadata["x-custom"] == "v"
                assert await ex.receive_data() == b"hi"
                assert await ex.receive_data() == b""
                assert await ex.receive_data() == b""
                peer = ex.peer
                assert peer is not None
                assert peer.address == ("127.0.0.1", server.port)
                assert peer.http_version == "1.1"
                assert peer.tls is None
            stats = transport.statistics()
            assert stats.connections_opened == 1, n  # one connection, kept alive
            assert (stats.idle_connections, stats.in_use) == (1, 0)
    assert_empty(transport)


async def test_streamed_request_body_is_chunked() -> None:
    async def count(exchange: ServerExchange) -> None:
        body = await read_body(exchange)
        headers = [("x-te", exchange.headers.get("transfer-encoding", "<none>"))]
        await exchange.send_response(200, headers, b"%d" % len(body))

    async with open_server(count) as server, open_http1_transport(server.url) as transport:
        for _ in range(2):
            async with transport.exchange("POST", "/upload", []) as exchange:
                for _ in range(50):
                    await exchange.send_data(b"x" * 100_000)
                await exchange.send_data(b"")
                await exchange.end_request()
                await exchange.end_request()
                status, metadata = await exchange.receive_head()
                assert (status, metadata["x-te"]) == (200, "chunked")
                assert await exchange.receive_data() == b"5000000"
                assert await exchange.receive_data() == b""
                with pytest.raises(RuntimeError, match="already ended"):
                    await exchange.send_data(b"late")
        assert transport.statistics().connections_opened == 1


async def test_empty_get_and_whole_body_cannot_be_streamed() -> None:
    async with open_server(echo) as server, open_http1_transport(server.url) as transport:
        async with transport.exchange("GET", "/q?x=1", [], body=b"") as exchange:
            status, metadata = await exchange.receive_head()
            assert (status, metadata["x-method"], metadata["x-query"]) == (200, "GET", "x=1")
            with pytest.raises(RuntimeError, match="already ended"):
                await exchange.send_data(b"more")
            assert await exchange.receive_data() == b""


async def test_invalid_requests_are_refused_before_a_connection() -> None:
    async with open_server(echo) as server, open_http1_transport(server.url) as transport:
        for method, path, headers in [
            ("POST", "/m", [("bad name", "v")]),
            ("POST", "/m", [("x", "a\r\nb")]),
            ("POST", "no-slash", []),
            ("BAD METHOD", "/m", []),
        ]:
            with pytest.raises(ValueError, match=r"invalid|path"):
                async with transport.exchange(method, path, headers, body=b""):
                    pass
        assert transport.statistics().connections_opened == 0
        with pytest.raises(RuntimeError, match="context manager"):
            await transport.exchange("POST", "/m", []).receive_head()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def test_tls_with_alpn_and_mtls(ca: trustme.CA) -> None:
    server_tls = server_context(ca)
    server_tls.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_tls)
    client_tls = client_context(ca, cert_from=ca)
    seen: list[tuple[str, object]] = []

    async def whoami(exchange: ServerExchange) -> None:
        assert exchange.peer.tls is not None
        seen.append((exchange.peer.http_version, exchange.peer.tls.peer_certificate))
        await exchange.send_response(200, [], await read_body(exchange))

    async with (
        open_server(whoami, ssl_context=server_tls) as server,
        open_http1_transport(server.url, ssl_context=client_tls) as transport,
    ):
        assert server.url.startswith("https://")
        for _ in range(2):
            async with transport.exchange("POST", "/", [], body=b"secret") as exchange:
                assert (await exchange.receive_head())[0] == 200
                assert await exchange.receive_data() == b"secret"
                peer = exchange.peer
                assert peer is not None
                assert peer.tls is not None
                assert peer.tls.alpn_protocol == "http/1.1"
                assert peer.tls.version is not None
                assert peer.tls.peer_certificate is not None
        assert transport.statistics().connections_opened == 1
    assert seen[0][0] == "1.1"
    assert "plugin-host" in repr(seen[0][1])


async def test_untrusted_server_certificate(ca: trustme.CA) -> None:
    async with (
        open_server(echo, ssl_context=server_context(ca)) as server,
        open_http1_transport(server.url) as transport,  # the default context verifies
    ):
        with pytest.raises(UnprocessedError) as info:
            await call(transport)
        assert info.value.code is Code.UNAVAILABLE
        assert "certificate" in info.value.message
        assert_empty(transport)


async def test_connection_refused(refused_url: str) -> None:
    async with open_http1_transport(refused_url) as transport:
        with pytest.raises(UnprocessedError) as info:
            await call(transport)
        assert info.value.code is Code.UNAVAILABLE
        assert refused_url.removeprefix("http://") in info.value.message
        assert_empty(transport)


async def test_connect_timeout_covers_the_tls_handshake(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = ClientLimits(connect_timeout=5)
    with trio.fail_after(100):
        async with (
            blackhole(tls=True) as server,
            open_http1_transport(
                server.url, ssl_context=client_context(trustme.CA()), limits=limits
            ) as transport,
        ):
            start = trio.current_time()
            with pytest.raises(UnprocessedError) as info:
                await call(transport)
            elapsed = trio.current_time() - start
            assert_empty(transport)
    assert 5 <= elapsed <= 5.1
    assert "timed out after 5 s (the TLS handshake)" in info.value.message
    assert server.url.removeprefix("https://") in info.value.message


async def test_closed_transport_refuses_exchanges() -> None:
    async with open_server(echo) as server, open_http1_transport(server.url) as transport:
        assert await call(transport, b"x") == (200, b"x")
        await transport.aclose()
        assert_empty(transport)
        with pytest.raises(UnprocessedError, match="closed"):
            await call(transport)


async def test_a_url_of_another_scheme_is_refused() -> None:
    # Bad pool sizes and timeouts are refused where ClientLimits is made (tests/test_options.py).
    with pytest.raises(ValueError, match="base_url"):
        async with open_http1_transport("ftp://x"):
            pass


# -- the pool -----------------------------------------------------------------------------


async def test_64_concurrent_calls_on_8_connections() -> None:
    in_flight = 0
    most = 0
    clients: set[int] = set()

    async def app(exchange: ServerExchange) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        assert isinstance(exchange.peer.address, tuple)
        clients.add(exchange.peer.address[1])
        try:
            body = await read_body(exchange)
            for _ in range(3):
                await trio.lowlevel.checkpoint()
            await exchange.send_response(200, [], body)
        finally:
            in_flight -= 1

    results: dict[int, tuple[int, bytes]] = {}
    waiting_seen = 0

    async with (
        open_server(app) as server,
        open_http1_transport(server.url, limits=ClientLimits(max_connections=8)) as transport,
    ):

        async def one(n: int) -> None:
            nonlocal waiting_seen
            for round_ in range(3):
                stats = transport.statistics()
                assert stats.connections + stats.connecting <= 8, stats
                waiting_seen = max(waiting_seen, stats.waiting)
                results[n * 3 + round_] = await call(transport, b"%d" % n)

        with trio.fail_after(GUARD):
            async with trio.open_nursery() as nursery:
                for n in range(64):
                    nursery.start_soon(one, n)
        stats = transport.statistics()
    assert len(results) == 192
    assert all(results[n * 3 + r] == (200, b"%d" % n) for n in range(64) for r in range(3))
    assert most <= 8
    assert len(clients) <= 8
    assert stats.connections_opened == 8  # never more, and every one of them reused
    assert (stats.idle_connections, stats.in_use, stats.waiting) == (8, 0, 0)
    assert waiting_seen > 0  # calls did wait for a connection


async def test_waiters_are_served_in_order_and_a_cancelled_one_is_skipped() -> None:
    release = trio.Event()
    order: list[str] = []

    async def app(exchange: ServerExchange) -> None:
        body = await read_body(exchange)
        if body == b"hold":
            await release.wait()
        order.append(body.decode())
        await exchange.send_response(200, [], body)

    async with (
        open_server(app) as server,
        open_http1_transport(server.url, limits=ClientLimits(max_connections=1)) as transport,
    ):
        with trio.fail_after(GUARD):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, transport, b"hold")
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(call, transport, b"first")
                await trio.testing.wait_all_tasks_blocked()
                doomed_scope = trio.CancelScope()

                async def doomed() -> None:
                    with doomed_scope:
                        await call(transport, b"never")

                nursery.start_soon(doomed)
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(call, transport, b"second")
                await trio.testing.wait_all_tasks_blocked()
                assert transport.statistics().waiting == 3
                doomed_scope.cancel()
                await trio.testing.wait_all_tasks_blocked()
                assert transport.statistics().waiting == 2
                release.set()
        assert order == ["hold", "first", "second"]
        assert transport.statistics().connections_opened == 1


async def test_idle_connections_past_the_idle_timeout_are_not_reused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_server(echo) as server,
        open_http1_transport(server.url, limits=ClientLimits(idle_timeout=5)) as transport,
    ):
        assert await call(transport, b"a") == (200, b"a")
        await trio.sleep(4)  # virtual time: still fresh
        assert await call(transport, b"b") == (200, b"b")
        assert transport.statistics().connections_opened == 1
        await trio.sleep(5)  # virtual time: aged out
        assert await call(transport, b"c") == (200, b"c")
        stats = transport.statistics()
        assert (stats.connections_opened, stats.connections, stats.idle_connections) == (2, 1, 1)


async def test_a_keep_alive_connection_the_server_closed_is_not_reused() -> None:
    # The server answers one request per connection, then closes it without a word.
    async with (
        raw_server(serve_requests(answer=lambda conn, n: "answer-then-drop")) as server,
        open_http1_transport(server.url) as transport,
    ):
        assert await call(transport) == (200, b"reply 1.1")
        await wait_idle_closed_by_server(transport)
        assert await call(transport) == (200, b"reply 2.1")  # a POST: not resent, never sent
        assert [conn for conn, _, _ in server.requests] == [1, 2]
        assert transport.statistics().connections_opened == 2


async def test_connection_close_is_honoured() -> None:
    async with (
        raw_server(serve_requests(answer=lambda conn, n: "close-after")) as server,
        open_http1_transport(server.url) as transport,
    ):
        for n in range(1, 4):
            assert await call(transport) == (200, b"reply %d.1" % n)
            assert_empty(transport)  # not pooled: closed at once
        assert server.connections == 3


@pytest.mark.parametrize(("method", "resent"), [("GET", True), ("POST", False)])
async def test_a_reused_connection_closed_instead_of_an_answer(method: str, resent: bool) -> None:
    # The second request on the first connection is read and not answered: the server
    # may have processed it, so only an idempotent method is sent again (once, fresh).
    def answer(conn: int, n: int) -> str:
        return "drop" if (conn, n) == (1, 2) else "keep"

    async with (
        raw_server(serve_requests(answer=answer)) as server,
        open_http1_transport(server.url) as transport,
    ):
        assert await call(transport, method=method) == (200, b"reply 1.1")
        if resent:
            assert await call(transport, method=method) == (200, b"reply 2.1")
            assert [conn for conn, _, _ in server.requests] == [1, 1, 2]
        else:
            with pytest.raises(ConnectError) as info:
                await call(transport, method=method)
            assert not isinstance(info.value, UnprocessedError)  # it may have been processed
            assert info.value.code is Code.UNAVAILABLE
            assert "reused keep-alive connection" in info.value.message
            assert [conn for conn, _, _ in server.requests] == [1, 1]
            assert_empty(transport)
            assert await call(transport, method=method) == (200, b"reply 2.1")


async def test_a_fresh_connection_closed_instead_of_an_answer_is_not_retried() -> None:
    async with (
        raw_server(serve_requests(answer=lambda conn, n: "drop")) as server,
        open_http1_transport(server.url) as transport,
    ):
        with pytest.raises(ConnectError) as info:
            await call(transport, method="GET")
        assert not isinstance(info.value, UnprocessedError)
        assert info.value.code is Code.UNAVAILABLE
        assert len(server.requests) == 1
        assert_empty(transport)


async def test_connection_lost_mid_body() -> None:
    async def cut_short(server: RawServer, stream: trio.SocketStream, number: int) -> None:
        await read_request(stream, h11.Connection(h11.SERVER))
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")

    async with raw_server(cut_short) as server, open_http1_transport(server.url) as transport:
        async with transport.exchange("GET", "/", [], body=b"") as exchange:
            assert (await exchange.receive_head())[0] == 200
            assert await exchange.receive_data() == b"only ten b"
            with pytest.raises(ConnectError) as info:
                await exchange.receive_data()
            with pytest.raises(ConnectError):  # and it stays failed
                await exchange.receive_data()
        assert info.value.code is Code.UNAVAILABLE
        assert_empty(transport)


async def test_garbage_instead_of_a_response() -> None:
    async def garbage(server: RawServer, stream: trio.SocketStream, number: int) -> None:
        await read_request(stream, h11.Connection(h11.SERVER))
        await stream.send_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await trio.sleep_forever()

    async with raw_server(garbage) as server, open_http1_transport(server.url) as transport:
        with trio.fail_after(GUARD), pytest.raises(ConnectError) as info:
            await call(transport)
        assert info.value.code is Code.UNAVAILABLE
        assert "HTTP/1.1" in info.value.message
        assert_empty(transport)


# -- leaving early and cancellation -------------------------------------------------------


async def endless_app(gone: trio.Event, exchange: ServerExchange) -> None:
    if exchange.path == "/echo":
        await echo(exchange)
        return
    await exchange.send_head(200, [])
    try:
        while True:  # ends when the client goes away
            await exchange.send_data(b"x" * 1000)
    finally:
        gone.set()


async def test_leaving_before_the_end_closes_the_connection() -> None:
    gone = trio.Event()
    async with (
        open_server(partial(endless_app, gone)) as server,
        open_http1_transport(server.url) as transport,
    ):
        async with transport.exchange("GET", "/endless", [], body=b"") as exchange:
            await exchange.receive_head()
            assert await exchange.receive_data()
        assert_empty(transport)
        with trio.fail_after(GUARD):
            await gone.wait()
        assert await call(transport, b"next") == (200, b"next")
        assert transport.statistics().connections_opened == 2


async def test_cancelled_mid_response_leaves_no_task_and_no_connection() -> None:
    gone = trio.Event()
    async with (
        open_server(partial(endless_app, gone)) as server,
        open_http1_transport(server.url) as transport,
    ):
        assert await call(transport, b"warm") == (200, b"warm")
        tasks_before = live_tasks()
        with trio.move_on_after(GUARD) as scope:
            async with transport.exchange("GET", "/endless", [], body=b"") as exchange:
                await exchange.receive_head()
                for _ in range(3):
                    assert await exchange.receive_data()
                scope.cancel()
                await exchange.receive_data()
        assert scope.cancelled_caught
        assert live_tasks() == tasks_before
        assert_empty(transport)
        with trio.fail_after(GUARD):
            await gone.wait()
        assert await call(transport, b"next") == (200, b"next")


async def test_cancelled_while_streaming_the_request() -> None:
    started = trio.Event()

    async def slow(exchange: ServerExchange) -> None:
        started.set()
        await exchange.send_response(200, [], await read_body(exchange))

    async with open_server(slow) as server, open_http1_transport(server.url) as transport:
        with trio.move_on_after(GUARD) as scope:
            async with transport.exchange("POST", "/upload", []) as exchange:
                await exchange.send_data(b"first")
                await started.wait()
                scope.cancel()
                await exchange.send_data(b"never")
        assert scope.cancelled_caught
        assert_empty(transport)  # the half-sent request's connection was closed
        assert await call(transport, b"") == (200, b"")


async def test_cancelled_while_connecting_frees_the_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        blackhole(tls=True) as server,
        open_http1_transport(
            server.url,
            ssl_context=client_context(trustme.CA()),
            limits=ClientLimits(max_connections=1),
        ) as transport,
    ):
        with trio.move_on_after(1) as scope:
            await call(transport)
        assert scope.cancelled_caught
        assert_empty(transport)
        with pytest.raises(UnprocessedError, match="timed out"):
            await call(transport)  # the slot was given back: a new attempt, which times out


async def test_closing_the_transport_fails_exchanges_in_flight_and_in_line() -> None:
    started = trio.Event()

    async def stall(exchange: ServerExchange) -> None:
        started.set()
        await trio.sleep_forever()

    errors: list[ConnectError] = []

    async def failing_call(transport: HTTP1Transport) -> None:
        try:
            await call(transport)
        except ConnectError as exc:
            errors.append(exc)

    async with (
        open_server(stall) as server,
        open_http1_transport(server.url, limits=ClientLimits(max_connections=1)) as transport,
    ):
        with trio.fail_after(GUARD):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(failing_call, transport)
                await started.wait()
                nursery.start_soon(failing_call, transport)
                await trio.testing.wait_all_tasks_blocked()
                assert transport.statistics().waiting == 1
                await transport.aclose()
        assert len(errors) == 2
        assert all(error.code is Code.UNAVAILABLE for error in errors)
        assert all("closed" in str(error) for error in errors)
        assert_empty(transport)
