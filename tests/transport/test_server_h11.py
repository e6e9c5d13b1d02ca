"""The server over HTTP/1.1: keep-alive, streaming both ways, errors, disconnects, bad clients."""

from __future__ import annotations

import logging

import h11
import httpx
import pytest
import trio
import trio.testing

from trioplugin.transport import ServerExchange, ServerLimits, StreamClosed, open_server

from ._server_helpers import TIMEOUT, RawH11, echo, read_body


async def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async with open_server(echo) as server, httpx.AsyncClient(base_url=server.url) as client:
        for i in range(5):
            response = await client.post(
                f"/svc/M?i={i}", content=b"body%d" % i, headers={"X-Custom": "v"}
            )
            assert response.status_code == 200
            assert response.content == b"body%d" % i
            assert response.headers["x-path"] == "/svc/M"
            assert response.headers["x-query"] == f"i={i}"
            assert response.headers["x-method"] == "POST"
            assert response.headers["x-version"] == "1.1"
            assert response.headers["x-custom"] == "v"
        response = await client.get("/get")
        assert (response.status_code, response.content) == (200, b"")
        stats = server.statistics()
    assert stats.connections_accepted == 1
    assert stats.requests_served == 6
    assert stats.requests_in_flight == 0


async def test_peer_and_headers_reach_the_app() -> None:
    seen: list[ServerExchange] = []

    async def app(exchange: ServerExchange) -> None:
        seen.append(exchange)
        await exchange.send_response(204, [], b"")

    async with open_server(app) as server:
        client = await RawH11.connect(server.port)
        await client.request("PUT", "/a%20b?x=1&y", headers=[("X-Multi", "1"), ("x-multi", "2")])
        head, _ = await client.response()
        assert head.status_code == 204
        await client.aclose()
    (exchange,) = seen
    assert exchange.method == "PUT"
    assert (exchange.path, exchange.query) == ("/a%20b", "x=1&y")
    assert exchange.headers.get_all("x-multi") == ["1", "2"]
    assert exchange.peer.http_version == "1.1"
    assert exchange.peer.tls is None
    assert isinstance(exchange.peer.address, tuple)
    assert exchange.peer.address[0] == "127.0.0.1"


async def test_request_body_streams_to_the_app_as_it_arrives() -> None:
    first_chunk_seen = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        first = await exchange.receive_data()
        first_chunk_seen.set()
        rest = await read_body(exchange)
        await exchange.send_response(200, [], first + b"|" + rest)

    async with open_server(app) as server:
        client = await RawH11.connect(server.port)
        await client.send(
            h11.Request(
                method="POST",
                target="/",
                headers=[("host", "t"), ("transfer-encoding", "chunked")],
            ),
            h11.Data(data=b"part one"),
        )
        # The rest of the body is only sent once the app has the first part:
        # a server that buffered the whole body first would hang here.
        with trio.fail_after(TIMEOUT):
            await first_chunk_seen.wait()
        await client.send(h11.Data(data=b"part two"), h11.EndOfMessage())
        head, body = await client.response()
        assert head.status_code == 200
        assert body == b"part one|part two"
        await client.aclose()


async def test_streaming_response_flushes_each_chunk() -> None:
    received_first = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        await exchange.send_head(200, [("content-type", "text/plain")])
        await exchange.send_data(b"first")
        with trio.fail_after(TIMEOUT):
            await received_first.wait()
        await exchange.send_data(b"second")
        await exchange.end()

    async with open_server(app) as server, httpx.AsyncClient() as client:
        async with client.stream("GET", server.url) as response:
            assert response.headers["transfer-encoding"] == "chunked"
            chunks = response.aiter_raw()
            assert await chunks.__anext__() == b"first"
            received_first.set()
            assert await chunks.__anext__() == b"second"


async def test_large_bodies_both_ways() -> None:
    payload = bytes(range(256)) * 8000  # 2 MB

    async with open_server(echo) as server, httpx.AsyncClient() as client:
        response = await client.post(server.url, content=payload)
        assert response.content == payload


async def test_connection_close_is_honoured() -> None:
    async with open_server(echo) as server:
        client = await RawH11.connect(server.port)
        await client.request(headers=[("connection", "close")], body=b"x")
        head, body = await client.response()
        assert (head.status_code, body) == (200, b"x")
        assert (b"connection", b"close") in list(head.headers)
        with trio.fail_after(TIMEOUT):
            assert await client.at_eof()


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with open_server(echo) as server:
        client = await RawH11.connect(server.port)
        await client.request(body=b"one")
        await client.request(body=b"two")
        for expected in (b"one", b"two"):
            _, body = await client.response()
            assert body == expected
        await client.aclose()
        assert server.statistics().requests_served == 2


async def test_app_exception_gives_a_bare_500_and_the_server_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(exchange: ServerExchange) -> None:
        if exchange.path == "/boom":
            raise RuntimeError("secret detail")
        await echo(exchange)

    async with open_server(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        with caplog.at_level(logging.ERROR, logger="trioplugin.server"):
            response = await client.post("/boom", content=b"x")
        assert response.status_code == 500
        assert b"secret" not in response.content
        assert len(response.content) < 100
        assert "secret detail" in caplog.text  # logged for the operator, not sent
        # The same keep-alive connection keeps serving.
        response = await client.post("/ok", content=b"fine")
        assert (response.status_code, response.content) == (200, b"fine")
        assert server.statistics().connections_accepted == 1


async def test_app_exception_after_the_head_truncates_the_response() -> None:
    async def app(exchange: ServerExchange) -> None:
        await exchange.send_head(200, [("content-length", "100")])
        await exchange.send_data(b"0123456789")
        raise RuntimeError("half way")

    async with open_server(app) as server:
        client = await RawH11.connect(server.port)
        await client.request(body=b"")
        event = await client.next_event()
        assert isinstance(event, h11.Response)
        assert event.status_code == 200
        data = await client.next_event()
        assert isinstance(data, h11.Data)
        assert bytes(data.data) == b"0123456789"
        with trio.fail_after(TIMEOUT), pytest.raises(h11.RemoteProtocolError):
            await client.next_event()  # EOF in the middle of the body


async def test_app_without_a_response_gives_500() -> None:
    async def app(exchange: ServerExchange) -> None:
        pass

    async with open_server(app) as server, httpx.AsyncClient() as client:
        assert (await client.get(server.url)).status_code == 500


async def test_app_that_starts_but_does_not_end_is_ended_for_it() -> None:
    async def app(exchange: ServerExchange) -> None:
        await exchange.send_head(200, [])
        await exchange.send_data(b"partial")

    async with open_server(app) as server, httpx.AsyncClient() as client:
        response = await client.get(server.url)
        assert (response.status_code, response.content) == (200, b"partial")


async def test_misuse_of_the_exchange_raises_runtime_error() -> None:
    errors: list[BaseException] = []

    async def app(exchange: ServerExchange) -> None:
        for call in (exchange.send_data(b"x"), exchange.end()):
            try:
                await call
            except RuntimeError as exc:
                errors.append(exc)
        await exchange.send_response(200, [], b"ok")
        try:
            await exchange.send_head(200, [])
        except RuntimeError as exc:
            errors.append(exc)

    async with open_server(app) as server, httpx.AsyncClient() as client:
        assert (await client.get(server.url)).content == b"ok"
    assert len(errors) == 3


async def test_early_answer_drains_a_small_unread_body_and_keeps_the_connection() -> None:
    async def app(exchange: ServerExchange) -> None:
        await exchange.send_response(401, [], b"no")

    async with open_server(app) as server, httpx.AsyncClient() as client:
        for _ in range(3):
            response = await client.post(server.url, content=b"x" * 100_000)
            assert (response.status_code, response.content) == (401, b"no")
        assert server.statistics().connections_accepted == 1


async def test_early_answer_reaches_a_client_that_reads_only_after_sending_its_body() -> None:
    """The close is staged: no reset destroys the answer the client has not read yet."""

    async def app(exchange: ServerExchange) -> None:
        await exchange.send_response(429, [], b"slow down")

    async with open_server(app) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        client = RawH11(stream)
        size = 5 * 1024 * 1024
        with trio.fail_after(TIMEOUT):
            await client.send(
                h11.Request(
                    method="POST",
                    target="/",
                    headers=[("host", "t"), ("content-length", str(size))],
                ),
                h11.Data(data=b"x" * size),
                h11.EndOfMessage(),
            )
            await stream.send_eof()
            head, body = await client.response()
            assert (head.status_code, body) == (429, b"slow down")
            assert (b"connection", b"close") in head.headers
            assert await client.at_eof()
        await client.aclose()


async def test_early_answer_to_a_huge_body_closes_the_connection() -> None:
    async def app(exchange: ServerExchange) -> None:
        await exchange.send_response(413, [], b"too big")

    async with open_server(app) as server:
        client = await RawH11.connect(server.port)
        size = 50 * 1024 * 1024
        await client.send(
            h11.Request(
                method="POST", target="/", headers=[("host", "t"), ("content-length", str(size))]
            ),
            h11.Data(data=b"x" * 65536),
        )
        head, body = await client.response()
        assert (head.status_code, body) == (413, b"too big")
        # RFC 9112 §9.6: a server that will close says so on the response.
        assert (b"connection", b"close") in head.headers

        async def keep_sending() -> None:
            chunk = b"x" * 65536
            try:
                for _ in range(size // len(chunk)):
                    await client.stream.send_all(chunk)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(keep_sending)
                assert await client.at_eof()
        await client.aclose()


async def test_expect_100_continue() -> None:
    async with open_server(echo) as server:
        client = await RawH11.connect(server.port)
        await client.send(
            h11.Request(
                method="POST",
                target="/",
                headers=[("host", "t"), ("content-length", "5"), ("expect", "100-continue")],
            )
        )
        event = await client.next_event()
        assert isinstance(event, h11.InformationalResponse)
        assert event.status_code == 100
        await client.send(h11.Data(data=b"hello"), h11.EndOfMessage())
        _, body = await client.response()
        assert body == b"hello"
        await client.aclose()


async def test_client_disconnect_cancels_the_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started = trio.Event()
    cancelled = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        await read_body(exchange)
        started.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.set()
            raise

    async with open_server(app) as server:
        client = await RawH11.connect(server.port)
        await client.request(body=b"work")
        with trio.fail_after(TIMEOUT):
            await started.wait()
            await client.aclose()
            await cancelled.wait()
        assert server.statistics().requests_served == 1


async def test_bytes_read_while_watching_for_eof_are_kept(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first_started = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        body = await read_body(exchange)
        if body == b"slow":
            first_started.set()
            await trio.sleep(1)  # long enough that the server watches the socket
        await exchange.send_response(200, [], body)

    async with open_server(app) as server:
        client = await RawH11.connect(server.port)
        await client.request(body=b"slow")
        with trio.fail_after(TIMEOUT):
            await first_started.wait()
            await trio.sleep(0.5)  # virtual time: the watcher is reading by now
            await client.request(body=b"pipelined")
            assert (await client.response())[1] == b"slow"
            assert (await client.response())[1] == b"pipelined"
        await client.aclose()
        assert server.statistics().connections_accepted == 1


async def test_read_after_disconnect_raises_stream_closed() -> None:
    got_part = trio.Event()
    closed = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        await exchange.receive_data()
        got_part.set()
        try:
            await read_body(exchange)
        except StreamClosed:
            closed.set()
            raise

    async with open_server(app) as server:
        client = await RawH11.connect(server.port)
        await client.send(
            h11.Request(
                method="POST", target="/", headers=[("host", "t"), ("content-length", "100")]
            ),
            h11.Data(data=b"12345"),
        )
        with trio.fail_after(TIMEOUT):
            await got_part.wait()
            await client.aclose()
            await closed.wait()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02\x03garbage\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),  # a TLS hello
    ],
)
async def test_garbage_gets_400_and_the_server_goes_on(garbage: bytes) -> None:
    async with open_server(echo) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        await stream.send_all(garbage)
        received = b""
        with trio.fail_after(TIMEOUT):
            while data := await stream.receive_some():
                received += data
        assert received.startswith(b"HTTP/1.1 400 ")
        await stream.aclose()
        async with httpx.AsyncClient() as client:
            assert (await client.post(server.url, content=b"ok")).content == b"ok"
        assert server.statistics().connections_closed_protocol_error == 1


async def test_oversized_head_gets_431() -> None:
    async with open_server(echo, limits=ServerLimits(max_header_size=4096)) as server:
        client = await RawH11.connect(server.port)
        await client.stream.send_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
        )
        with trio.fail_after(TIMEOUT):
            head, _ = await client.response()
            assert head.status_code == 431
            assert await client.at_eof()
        assert server.statistics().connections_closed_limit == 1
        async with httpx.AsyncClient() as http:
            big_but_fine = {"x-big": "a" * 3000}
            assert (await http.get(server.url, headers=big_but_fine)).status_code == 200


async def test_head_requests_get_the_length_but_no_body() -> None:
    async with open_server(echo) as server, httpx.AsyncClient() as client:
        response = await client.head(server.url)
        assert response.status_code == 200
        assert response.headers["content-length"] == "0"
        response = await client.request("HEAD", server.url, content=b"12345")
        assert (response.headers["content-length"], response.content) == ("5", b"")
        assert (await client.post(server.url, content=b"after")).content == b"after"
        assert server.statistics().connections_accepted == 1
