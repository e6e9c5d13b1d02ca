"""The server over HTTP/2 (h2c): streams, flow control, resets, errors, limits and abuse."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import h2.events
import hpack
import httpx
import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import (
    ContinuationFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

from trioplugin.transport import ServerExchange, ServerLimits, StreamClosed, open_server

from ._server_helpers import H2_PREFACE, TIMEOUT, RawH2, echo, read_body, read_frames_until_eof


def h2c_client(**kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(http1=False, http2=True, **kwargs)  # type: ignore[arg-type]


async def test_h2c_with_prior_knowledge() -> None:
    async with open_server(echo) as server, h2c_client(base_url=server.url) as client:
        for i in range(3):
            response = await client.post(
                f"/svc/M?i={i}", content=b"hello%d" % i, headers={"X-Custom": "v"}
            )
            assert response.http_version == "HTTP/2"
            assert response.status_code == 200
            assert response.content == b"hello%d" % i
            assert response.headers["x-version"] == "2"
            assert response.headers["x-path"] == "/svc/M"
            assert response.headers["x-query"] == f"i={i}"
            assert response.headers["x-custom"] == "v"
        assert server.statistics().connections_accepted == 1
        assert server.statistics().requests_served == 3


async def test_concurrent_streams_run_concurrently_on_one_connection() -> None:
    count = 20
    arrived = 0
    all_arrived = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        nonlocal arrived
        body = await read_body(exchange)
        arrived += 1
        if arrived == count:
            all_arrived.set()
        # No handler answers before every one of them has started.
        await all_arrived.wait()
        await exchange.send_response(200, [], body)

    async with open_server(app) as server, h2c_client() as client:
        results: dict[int, bytes] = {}

        async def one(i: int) -> None:
            results[i] = (await client.post(server.url, content=b"%d" % i)).content

        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                for i in range(count):
                    nursery.start_soon(one, i)
        assert results == {i: b"%d" % i for i in range(count)}
        assert server.statistics().connections_accepted == 1


async def test_streaming_both_ways() -> None:
    first_part_seen = trio.Event()
    first_chunk_read = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        first = await exchange.receive_data()
        first_part_seen.set()
        rest = await read_body(exchange)
        await exchange.send_head(200, [])
        await exchange.send_data(first)
        with trio.fail_after(TIMEOUT):
            await first_chunk_read.wait()
        await exchange.send_data(rest)
        await exchange.end()

    async def body() -> object:
        yield b"one"
        with trio.fail_after(TIMEOUT):
            await first_part_seen.wait()
        yield b"two"

    async with open_server(app) as server, h2c_client() as client:
        async with client.stream("POST", server.url, content=body()) as response:  # type: ignore[arg-type]
            chunks = response.aiter_raw()
            assert await chunks.__anext__() == b"one"
            first_chunk_read.set()
            assert await chunks.__anext__() == b"two"


async def test_large_bodies_cross_the_windows() -> None:
    payload = bytes(range(256)) * 12_000  # 3 MB: many windows and frames
    async with open_server(echo) as server, h2c_client() as client:
        response = await client.post(server.url, content=payload)
        assert response.content == payload


async def test_a_slow_reader_gets_backpressure_not_buffering(
    autojump_clock: trio.testing.MockClock,
) -> None:
    read_more = trio.Event()
    first_read = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        if exchange.path == "/other":
            await exchange.send_response(200, [], b"%d" % len(await read_body(exchange)))
            return
        total = len(await exchange.receive_data())
        first_read.set()
        await read_more.wait()
        total += len(await read_body(exchange))
        await exchange.send_response(200, [], b"%d" % total)

    async with open_server(app) as server:
        client = await RawH2.connect(server.port)
        size = 1_000_000
        slow = client.start_request(end=False)
        await client.flush()

        sent = 0

        def window() -> int:
            return min(
                client.conn.local_flow_control_window(slow),
                client.conn.max_outbound_frame_size,
                size - sent,
            )

        async def send_what_the_window_allows() -> None:
            nonlocal sent
            while sent < size:
                await client.until(lambda: window() > 0)
                chunk = window()
                client.conn.send_data(slow, b"x" * chunk, end_stream=sent + chunk == size)
                sent += chunk
                await client.flush()

        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.read_forever)
                nursery.start_soon(send_what_the_window_allows)
                await first_read.wait()
                # Give the server all the (virtual) time it wants: the stream
                # window stays shut while the app does not read.
                await trio.sleep(5)
                assert sent == 65535
                # Another stream on the same connection is not held up.
                other = await client.request("/other", b"y" * 1000)
                assert (await client.response(other)).body == b"1000"
                read_more.set()
                response = await client.response(slow)
                assert bytes(response.body) == b"%d" % size
                nursery.cancel_scope.cancel()
        await client.aclose()


async def test_send_data_waits_for_the_client_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sent_all = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        await exchange.send_head(200, [])
        await exchange.send_data(b"z" * 5000)
        sent_all.set()
        await exchange.end()

    async with open_server(app) as server:
        client = await RawH2.connect(server.port, window=1000)
        stream_id = await client.request()
        # Read without handing the window back: the app must stall at 1000 bytes.
        with trio.move_on_after(5):
            while True:
                data = await client.stream.receive_some()
                for event in client.conn.receive_data(data):
                    client._record(event)  # records, and acknowledges DATA
                client.conn.data_to_send()  # ... but the WINDOW_UPDATEs are dropped
        assert not sent_all.is_set()
        assert len(client.responses[stream_id].body) == 1000
        # Now the client opens the window: the rest flows.
        client.conn.increment_flow_control_window(10_000, stream_id)
        client.conn.increment_flow_control_window(10_000)
        await client.flush()
        with trio.fail_after(TIMEOUT):
            response = await client.response(stream_id)
        assert bytes(response.body) == b"z" * 5000
        assert sent_all.is_set()
        await client.aclose()


async def test_client_reset_cancels_the_handler() -> None:
    started = trio.Event()
    cancelled = trio.Event()
    late_call: list[BaseException] = []

    async def app(exchange: ServerExchange) -> None:
        if exchange.path == "/other":
            await echo(exchange)
            return
        started.set()
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()
            with trio.CancelScope(shield=True):
                try:
                    await exchange.send_head(200, [])
                except StreamClosed as exc:
                    late_call.append(exc)

    async with open_server(app) as server:
        client = await RawH2.connect(server.port)
        stream_id = await client.request("/slow")
        with trio.fail_after(TIMEOUT):
            await started.wait()
            client.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
            await client.flush()
            await cancelled.wait()
            # The connection is fine: another stream is served.
            other = await client.request("/other", b"still here")
            assert (await client.response(other)).body == b"still here"
        assert len(late_call) == 1
        await client.aclose()


async def test_client_disconnect_cancels_every_handler() -> None:
    count = 5
    started = 0
    all_started = trio.Event()
    cancelled = 0
    all_cancelled = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        nonlocal started, cancelled
        started += 1
        if started == count:
            all_started.set()
        try:
            await trio.sleep_forever()
        finally:
            cancelled += 1
            if cancelled == count:
                all_cancelled.set()

    async with open_server(app) as server:
        client = await RawH2.connect(server.port)
        for _ in range(count):
            await client.request()
        with trio.fail_after(TIMEOUT):
            await all_started.wait()
            await client.aclose()
            await all_cancelled.wait()


async def test_app_exceptions_give_500_or_a_reset() -> None:
    async def app(exchange: ServerExchange) -> None:
        if exchange.path == "/before-head":
            raise RuntimeError("boom")
        if exchange.path == "/after-head":
            await exchange.send_head(200, [])
            await exchange.send_data(b"partial")
            raise RuntimeError("boom")
        if exchange.path == "/nothing":
            return
        await echo(exchange)

    async with open_server(app) as server:
        client = await RawH2.connect(server.port)
        with trio.fail_after(TIMEOUT):
            before = await client.response(await client.request("/before-head"))
            assert (before.status, bytes(before.body)) == (500, b"")
            after = await client.response(await client.request("/after-head"))
            assert after.status == 200
            assert after.reset_code == ErrorCodes.INTERNAL_ERROR
            nothing = await client.response(await client.request("/nothing"))
            assert nothing.status == 500
            fine = await client.response(await client.request("/fine", b"ok"))
            assert (fine.status, bytes(fine.body)) == (200, b"ok")
        await client.aclose()


async def test_early_answer_resets_the_rest_of_the_request() -> None:
    async def app(exchange: ServerExchange) -> None:
        await exchange.send_response(401, [], b"no")

    async with open_server(app) as server:
        client = await RawH2.connect(server.port)
        stream_id = client.start_request(end=False)
        client.conn.send_data(stream_id, b"x" * 1000)
        await client.flush()
        with trio.fail_after(TIMEOUT):
            response = await client.response(stream_id)
            await client.until(lambda: response.reset_code is not None)
        assert (response.status, bytes(response.body)) == (401, b"no")
        assert response.reset_code == ErrorCodes.NO_ERROR
        await client.aclose()


async def test_max_concurrent_streams_is_advertised_and_enforced() -> None:
    release = trio.Event()

    async def app(exchange: ServerExchange) -> None:
        await release.wait()
        await exchange.send_response(200, [], b"done")

    async with open_server(app, limits=ServerLimits(max_concurrent_streams=2)) as server:
        client = await RawH2.connect(server.port)
        # Opened before the client has read the server's SETTINGS.
        ids = [await client.request() for _ in range(3)]
        with trio.fail_after(TIMEOUT):
            third = client.responses[ids[2]]
            await client.until(lambda: third.reset_code is not None)
        assert third.reset_code == ErrorCodes.REFUSED_STREAM
        settings = [e for e in client.events if isinstance(e, h2.events.RemoteSettingsChanged)]
        advertised = settings[0].changed_settings
        assert advertised[SettingCodes.MAX_CONCURRENT_STREAMS].new_value == 2
        assert advertised[SettingCodes.MAX_HEADER_LIST_SIZE].new_value == 64 * 1024
        release.set()
        with trio.fail_after(TIMEOUT):
            for stream_id in ids[:2]:
                assert bytes((await client.response(stream_id)).body) == b"done"
            # The slots are free again.
            again = await client.request()
            assert bytes((await client.response(again)).body) == b"done"
        await client.aclose()


async def test_oversized_header_list_ends_the_connection_and_only_it() -> None:
    async with open_server(echo, limits=ServerLimits(max_header_size=4096)) as server:
        client = await RawH2.connect(server.port)
        client.start_request(headers=[("x-big", "a" * 5000)])
        await client.flush()
        with trio.fail_after(TIMEOUT):
            await client.until_closed()
        assert client.terminated is not None
        assert client.terminated.error_code == ErrorCodes.ENHANCE_YOUR_CALM
        async with h2c_client() as http:
            fine = {"x-big": "a" * 3000}
            assert (await http.post(server.url, content=b"ok", headers=fine)).content == b"ok"
        assert server.statistics().connections_closed_limit == 1


async def raw_h2_connection(port: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(H2_PREFACE + SettingsFrame(0).serialize())
    return stream


def headers_frame(stream_id: int, *, end_headers: bool = True) -> HeadersFrame:
    block = hpack.Encoder().encode(
        [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "t")]
    )
    flags = ["END_STREAM", "END_HEADERS"] if end_headers else ["END_STREAM"]
    return HeadersFrame(stream_id, data=block, flags=flags)


def goaway_of(frames: Sequence[Frame]) -> GoAwayFrame:
    goaways = [frame for frame in frames if isinstance(frame, GoAwayFrame)]
    assert goaways, frames
    return goaways[-1]


async def test_rapid_reset_gets_goaway(autojump_clock: trio.testing.MockClock) -> None:
    handled = 0

    async def app(exchange: ServerExchange) -> None:
        nonlocal handled
        handled += 1
        await trio.sleep_forever()

    async with open_server(app) as server:
        stream = await raw_h2_connection(server.port)
        # HEADERS then RST_STREAM, over and over, faster than any handler runs.
        burst = b"".join(
            headers_frame(stream_id).serialize()
            + RstStreamFrame(stream_id, error_code=ErrorCodes.CANCEL).serialize()
            for stream_id in range(1, 2 * 1000, 2)
        )
        with trio.fail_after(TIMEOUT):
            await stream.send_all(burst)
            frames = await read_frames_until_eof(stream)
        assert goaway_of(frames).error_code == ErrorCodes.ENHANCE_YOUR_CALM
        assert handled <= 500
        stats = server.statistics()
        assert stats.connections_closed_limit == 1
        assert stats.requests_in_flight == 0
        await stream.aclose()


async def test_ping_flood_gets_goaway(autojump_clock: trio.testing.MockClock) -> None:
    async with open_server(echo) as server:
        stream = await raw_h2_connection(server.port)
        with trio.fail_after(TIMEOUT):
            await stream.send_all(b"".join(PingFrame(0).serialize() for _ in range(1500)))
            frames = await read_frames_until_eof(stream)
        assert goaway_of(frames).error_code == ErrorCodes.ENHANCE_YOUR_CALM
        assert server.statistics().connections_closed_limit == 1
        await stream.aclose()


async def test_a_few_pings_are_fine() -> None:
    async with open_server(echo) as server:
        client = await RawH2.connect(server.port)
        for i in range(10):
            client.conn.ping(b"%08d" % i)
        await client.flush()
        with trio.fail_after(TIMEOUT):
            await client.until(
                lambda: sum(isinstance(e, h2.events.PingAckReceived) for e in client.events) == 10
            )
            stream_id = await client.request(body=b"ok")
            assert bytes((await client.response(stream_id)).body) == b"ok"
        await client.aclose()


async def test_continuation_flood_is_cut_off() -> None:
    async with open_server(echo) as server:
        stream = await raw_h2_connection(server.port)
        flood = headers_frame(1, end_headers=False).serialize() + b"".join(
            ContinuationFrame(1, data=b"\x00" * 1000).serialize() for _ in range(200)
        )
        with trio.fail_after(TIMEOUT):
            with contextlib.suppress(trio.BrokenResourceError):  # closed before reading it all
                await stream.send_all(flood)
            frames = await read_frames_until_eof(stream)
        # A flood is a limit overrun, not a malformed frame: ENHANCE_YOUR_CALM.
        assert goaway_of(frames).error_code == ErrorCodes.ENHANCE_YOUR_CALM
        assert server.statistics().connections_closed_limit == 1
        await stream.aclose()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff" * 100,  # a frame header announcing an overlong frame
        b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00",  # WINDOW_UPDATE of 0
        b"\x00\x00\x00\x01\x05\x00\x00\x00\x02",  # HEADERS on an even (server) stream
    ],
)
async def test_garbage_after_the_preface_gets_goaway(garbage: bytes) -> None:
    async with open_server(echo) as server:
        stream = await raw_h2_connection(server.port)
        with trio.fail_after(TIMEOUT):
            await stream.send_all(garbage)
            frames = await read_frames_until_eof(stream)
        assert goaway_of(frames).error_code != ErrorCodes.NO_ERROR
        await stream.aclose()
        async with h2c_client() as client:
            assert (await client.post(server.url, content=b"ok")).content == b"ok"
        assert server.statistics().connections_closed_protocol_error == 1


async def test_response_headers_are_made_fit_for_http2() -> None:
    async def app(exchange: ServerExchange) -> None:
        head = [("Content-Type", "text/plain"), ("Connection", "close"), ("X-Mixed", "Case")]
        await exchange.send_response(200, head, b"ok")

    async with open_server(app) as server:
        client = await RawH2.connect(server.port)
        with trio.fail_after(TIMEOUT):
            response = await client.response(await client.request())
        assert response.headers == {
            ":status": "200",
            "content-type": "text/plain",
            "x-mixed": "Case",
        }
        await client.aclose()


async def test_a_busy_client_that_cancels_some_calls_is_not_taken_for_an_attack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def app(exchange: ServerExchange) -> None:
        if exchange.path == "/hang":
            await trio.sleep_forever()
        await echo(exchange)

    async with open_server(app) as server:
        client = await RawH2.connect(server.port)
        with trio.fail_after(TIMEOUT):
            # 450 cancelled calls in one flood window, but among 1350 good ones.
            for _ in range(450):
                good = [await client.request("/ok", b"k") for _ in range(3)]
                hung = client.start_request("/hang")
                await client.flush()
                for stream_id in good:
                    assert bytes((await client.response(stream_id)).body) == b"k"
                client.conn.reset_stream(hung)
                await client.flush()
        assert client.terminated is None
        assert server.statistics().connections_closed_limit == 0
        await client.aclose()
