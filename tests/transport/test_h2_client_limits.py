"""The HTTP/2 client never hangs: connect timeout, attempts, frame headers, keepalive PINGs.

Each fault is a tiny server on loopback (tests/transport/h2_fault_servers.py)
that fails the client in one way; time is trio's MockClock, so waits of tens
of seconds take none.
"""

from __future__ import annotations

import random
from functools import partial

import h2.errors
import pytest
import trio
import trio.lowlevel
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.tasks import TaskTracker
from tests.transport.h2_fault_servers import (
    HUGE_FRAME_HEADER,
    SETTINGS_FRAME,
    H2Peer,
    RawConnection,
    call,
    concurrently,
    failing_call,
    fault_server,
    freeze_after_request,
    head_of_first_response,
    healthy,
    huge_frame_after_request,
    send_and_hold,
    silent,
    stream_slowly,
)
from trioplugin import ServerOptions
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import open_client, serve_connect
from trioplugin.transport import (
    ClientLimits,
    Server,
    ServerLimits,
    UnprocessedError,
    open_http2_transport,
)
from trioplugin.transport import _http2 as h2wire
from trioplugin.transport._http2 import _frames as h2wire_frames
from trioplugin.transport._http2._frames import cannot_start_settings

TIMEOUT = 120.0
"""The bound on every wait in these tests, in (virtual) seconds."""


# -- the connect timeout ----------------------------------------------------------------


@pytest.mark.parametrize("first_bytes", [b"", b"\x00\x00\x0c\x04"], ids=["nothing", "a prefix"])
async def test_connect_timeout_fails_every_waiting_call(
    autojump_clock: trio.testing.MockClock, first_bytes: bytes
) -> None:
    async with fault_server(send_and_hold(first_bytes)) as server:
        address = server.url.removeprefix("http://")
        limits = ClientLimits(connect_timeout=3)
        async with open_http2_transport(server.url, limits=limits) as transport:
            start = trio.current_time()
            with trio.fail_after(TIMEOUT):
                errors = await concurrently(3, lambda: failing_call(transport))
            assert trio.current_time() - start == pytest.approx(3)
            assert not transport.statistics().connecting
            with trio.fail_after(TIMEOUT):  # the attempt closed its socket
                await server.connections[0].closed_by_client.wait()
        assert len(server.connections) == 1  # the three calls shared one attempt
    assert len(errors) == 3
    for error in errors:
        assert isinstance(error, UnprocessedError)
        assert error.code is Code.UNAVAILABLE
        assert address in error.message
        assert "timed out after 3 s" in error.message
        assert "SETTINGS" in error.message  # what it was waiting for


async def test_the_default_connect_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        fault_server(silent) as server,
        open_http2_transport(server.url) as transport,
    ):
        assert transport.limits == ClientLimits()
        start = trio.current_time()
        error = await failing_call(transport)
        assert trio.current_time() - start == pytest.approx(ClientLimits().connect_timeout)
    assert "timed out" in error.message


# -- attempts belong to their callers ---------------------------------------------------


async def test_an_attempt_everyone_left_is_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = TaskTracker()
    trio.lowlevel.add_instrument(tracker)
    try:
        async with (
            fault_server(silent) as server,
            open_http2_transport(server.url) as transport,
        ):
            tracker.root = transport._nursery
            scopes = [trio.CancelScope() for _ in range(3)]
            left = []

            async def caller(scope: trio.CancelScope) -> None:
                with scope:
                    await call(transport)
                left.append(scope)

            async with trio.open_nursery() as callers:
                for scope in scopes:
                    callers.start_soon(caller, scope)
                with trio.fail_after(TIMEOUT):
                    connection = await server.wait_accepted(1)
                await trio.testing.wait_all_tasks_blocked()
                assert transport.statistics().connecting
                for scope in scopes[:2]:
                    scope.cancel()
                await trio.testing.wait_all_tasks_blocked()
                assert len(left) == 2
                assert transport.statistics().connecting  # one caller still waits for it
                assert not connection.closed_by_client.is_set()
                assert len(tracker.live) == 1  # the attempt
                scopes[2].cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert len(left) == 3
            assert not transport.statistics().connecting
            assert tracker.spawned >= 1  # the attempt (and its TCP connect)
            assert tracker.live == set()
            with trio.fail_after(TIMEOUT):
                await connection.closed_by_client.wait()
            assert trio.current_time() < 1  # nobody waited for the connect timeout
    finally:
        trio.lowlevel.remove_instrument(tracker)


async def test_a_call_after_an_abandoned_attempt_starts_afresh(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fault_server(silent, healthy) as server,
        open_http2_transport(server.url, limits=ClientLimits(connect_timeout=30)) as transport,
    ):
        with trio.move_on_after(1) as gave_up:
            await call(transport)
        assert gave_up.cancelled_caught
        start = trio.current_time()
        assert await call(transport) == (200, b"ok")  # at once, not after 29 more seconds
        assert trio.current_time() - start < 0.1
        assert len(server.connections) == 2
        assert transport.statistics().connections_opened == 1


async def test_a_call_after_a_failed_attempt_starts_afresh(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fault_server(silent, healthy) as server,
        open_http2_transport(server.url, limits=ClientLimits(connect_timeout=5)) as transport,
    ):
        error = await failing_call(transport)
        assert "timed out" in error.message
        assert trio.current_time() == pytest.approx(5)
        assert await call(transport) == (200, b"ok")
        assert trio.current_time() == pytest.approx(5)
        assert len(server.connections) == 2


async def test_concurrent_calls_share_one_attempt() -> None:
    async with fault_server(healthy) as server, open_http2_transport(server.url) as transport:
        with trio.fail_after(TIMEOUT):
            results = await concurrently(5, lambda: call(transport))
        assert results == [(200, b"ok")] * 5
        assert len(server.connections) == 1
        assert transport.statistics().connections_opened == 1


async def test_a_caller_that_leaves_does_not_end_the_attempt_for_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow_then_healthy(connection: RawConnection) -> None:
        await trio.sleep(2)
        await healthy(connection)

    async with (
        fault_server(slow_then_healthy) as server,
        open_http2_transport(server.url) as transport,
    ):
        outcome: list[tuple[int, bytes]] = []

        async def patient() -> None:
            outcome.append(await call(transport))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(patient)
            with trio.move_on_after(1) as gave_up:
                await call(transport)
        assert gave_up.cancelled_caught
        assert outcome == [(200, b"ok")]
        assert trio.current_time() == pytest.approx(2)
        assert len(server.connections) == 1


# -- a server that does not speak HTTP/2 ------------------------------------------------


@pytest.mark.parametrize(
    "first_bytes",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 400 Bad Request\r\n",
        b"\x15\x03\x01\x00\x02\x02\x46",  # a TLS alert
        b"\x00\x00\x04\x01\x04\x00\x00\x00\x01",  # a HEADERS frame first
        b"\x00\x00\x06\x04\x00\x00\x00\x00\x01",  # SETTINGS on stream 1
        b"\x00\x00\x05\x04\x00\x00\x00\x00\x00",  # SETTINGS of a length no multiple of 6
        b"\x01",  # a length over the frame size: one byte tells
    ],
)
async def test_non_http2_bytes_held_open_fail_at_once(
    autojump_clock: trio.testing.MockClock, first_bytes: bytes
) -> None:
    async with (
        fault_server(send_and_hold(first_bytes)) as server,
        open_http2_transport(server.url) as transport,
    ):
        start = trio.current_time()
        error = await failing_call(transport)
        assert trio.current_time() == start
        with trio.fail_after(TIMEOUT):
            await server.connections[0].closed_by_client.wait()
    assert isinstance(error, UnprocessedError)
    assert error.code is Code.UNAVAILABLE
    shown = first_bytes[:24]
    assert f"does not speak HTTP/2: its first bytes were {shown!r}" in error.message


def test_what_can_start_a_settings_frame() -> None:
    limit = 16384
    for preface in (SETTINGS_FRAME, b"\x00\x00\x0c\x04\x00\x00\x00\x00\x00"):
        for size in range(len(preface) + 1):
            assert not cannot_start_settings(preface[:size], limit)
    assert not cannot_start_settings(b"\x00\x00\x00\x04\x01\x80\x00\x00\x00", limit)  # ACK, R bit
    assert not cannot_start_settings(b"\x00\x40", limit)  # 0x4000 is 16384: still possible
    assert cannot_start_settings(b"\x00\x41", limit)  # 0x4100 and more: too long
    assert cannot_start_settings(b"\x00\x00\x0c\x00", limit)  # DATA
    assert cannot_start_settings(b"\x00\x00\x0c\x04\x00\x00\x00\x00\x03", limit)


# -- frame headers over the limit -------------------------------------------------------


async def test_a_huge_frame_header_fails_the_call_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fault_server(huge_frame_after_request, healthy) as server,
        open_http2_transport(server.url) as transport,
    ):
        start = trio.current_time()
        error = await failing_call(transport)
        assert trio.current_time() == start
        assert type(error) is ConnectError  # the request reached the server
        assert error.code is Code.UNAVAILABLE
        assert f"sent a frame of {2**24 - 1} bytes, over the limit of 16384" in error.message
        with trio.fail_after(TIMEOUT):
            await server.connections[0].closed_by_client.wait()
        assert await call(transport) == (200, b"ok")  # on a new connection
        assert transport.statistics().connections_opened == 2
    # The client told the server why (GOAWAY FRAME_SIZE_ERROR) before it closed.
    goaway = parse_goaway(server.connections[0])
    assert goaway is not None
    assert goaway.error_code == h2.errors.ErrorCodes.FRAME_SIZE_ERROR


def parse_goaway(connection: RawConnection) -> h2.events.ConnectionTerminated | None:
    """The GOAWAY among the bytes the client sent on ``connection``, if any."""
    peer = H2Peer(connection)
    peer.feed(bytes(connection.received))
    return peer.goaway


@pytest.mark.parametrize("split", [False, True], ids=["one write", "two writes"])
async def test_a_huge_frame_header_in_the_handshake(
    autojump_clock: trio.testing.MockClock, split: bool
) -> None:
    async def script(connection: RawConnection) -> None:
        if split:
            await connection.stream.send_all(SETTINGS_FRAME + HUGE_FRAME_HEADER[:4])
            await trio.sleep(1)
            await connection.stream.send_all(HUGE_FRAME_HEADER[4:])
        else:
            await connection.stream.send_all(SETTINGS_FRAME + HUGE_FRAME_HEADER)
        await connection.read_until_closed()

    async with (
        fault_server(script, healthy) as server,
        open_http2_transport(server.url) as transport,
    ):
        start = trio.current_time()
        error = await failing_call(transport)
        assert isinstance(error, UnprocessedError)  # no request went out
        assert error.code is Code.UNAVAILABLE
        assert f"sent a frame of {2**24 - 1} bytes" in error.message
        assert trio.current_time() == start  # refused on the first 3 bytes of the header
        assert await call(transport) == (200, b"ok")
        assert len(server.connections) == 2


def test_the_state_machine_follows_frames_through_any_split() -> None:
    """Frames of a type it ignores, cut anywhere: the frame count (the keepalive's idle
    clock) moves exactly when a frame is whole, and an oversized header is refused
    from its first 3 bytes."""
    rng = random.Random(11)
    limit = h2wire.DEFAULT_MAX_FRAME_SIZE
    server_settings = h2wire_frames.settings_frame({})
    for _ in range(200):
        stream = bytearray()
        ends: list[int] = []  # where each frame ends in ``stream``
        for _ in range(rng.randrange(1, 12)):
            length = rng.choice([0, 1, 8, rng.randrange(limit + 1), limit])
            stream += length.to_bytes(3, "big") + bytes([0x20 + rng.randrange(10)]) + bytes(5)
            stream += bytes(rng.randrange(256) for _ in range(min(length, 64)))
            stream += bytes(length - min(length, 64))
            ends.append(len(stream))
        bad_at = len(stream)
        oversized = rng.randrange(limit + 1, 2**24)
        stream += oversized.to_bytes(3, "big") + b"\x00" * 6 + b"payload"
        conn = h2wire.Connection(client=True)
        conn.receive(server_settings)
        pos = 0
        while pos < len(stream):
            end = min(len(stream), pos + rng.choice([1, 2, 5, 9, 100, 20_000, 70_000]))
            count = conn.frames_received
            if end <= bad_at + 2:  # the third byte of the bad header has not arrived
                conn.receive(bytes(stream[pos:end]))
                whole = sum(pos < frame_end <= end for frame_end in ends)
                assert conn.frames_received - count == whole
            else:
                with pytest.raises(h2wire.H2ConnectionError) as info:
                    conn.receive(bytes(stream[pos:end]))
                assert info.value.frame_length == oversized
                assert info.value.code == h2wire.ErrorCode.FRAME_SIZE_ERROR
                break
            pos = end
        else:
            pytest.fail("the oversized frame header was not found")


# -- keepalive PINGs --------------------------------------------------------------------


async def test_a_frozen_server_is_found_by_a_keepalive_ping(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = ClientLimits(keepalive_interval=30, keepalive_timeout=20)
    async with (
        fault_server(freeze_after_request, healthy) as server,
        open_http2_transport(server.url, limits=limits) as transport,
    ):
        start = trio.current_time()
        with trio.fail_after(TIMEOUT):
            error = await failing_call(transport)  # no deadline: only the PING ends it
        assert trio.current_time() - start == pytest.approx(50)
        assert error.code is Code.UNAVAILABLE
        assert "no reply to a keepalive PING within 20 s" in error.message
        await trio.testing.wait_all_tasks_blocked()
        stats = transport.statistics()
        assert (stats.pings_sent, stats.keepalive_timeouts, stats.connections) == (1, 1, 0)
        assert await call(transport) == (200, b"ok")
        assert transport.statistics().connections_opened == 2


async def test_an_idle_healthy_connection_answers_its_pings(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    # The project's own server: it answers PINGs, and keeps the connection for an hour.
    server: Server = await nursery.start(
        partial(
            serve_connect, {ECHO: EchoImpl()}, ServerOptions(limits=ServerLimits(idle_timeout=3600))
        )
    )
    limits = ClientLimits(keepalive_interval=30, keepalive_timeout=20)
    async with open_http2_transport(server.url, limits=limits) as transport:
        async with transport.exchange("GET", "/", []) as exchange:
            await exchange.receive_head()  # 404: the connection is open
        await trio.sleep(301)
        stats = transport.statistics()
        assert stats.pings_sent == 10
        assert stats.keepalive_timeouts == 0
        assert (stats.connections, stats.connections_opened) == (1, 1)


async def test_frames_keep_the_connection_from_idling(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The server reads nothing while it streams (a PING would go unanswered),
    # but a chunk arrives every 10 s, so no PING is due.
    limits = ClientLimits(keepalive_interval=30, keepalive_timeout=5)
    async with (
        fault_server(stream_slowly) as server,
        open_http2_transport(server.url, limits=limits) as transport,
    ):
        with trio.fail_after(TIMEOUT):
            assert await call(transport) == (200, b"chunk" * 10)
        assert trio.current_time() == pytest.approx(100)
        assert transport.statistics().pings_sent == 0
        assert transport.statistics().connections_opened == 1


async def test_a_server_trickling_a_frame_it_never_finishes_is_found(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A byte a second keeps bytes coming, but no frame ever arrives whole; and
    # the server reads nothing, so the PING goes unanswered.
    async def trickle(connection: RawConnection) -> None:
        _, stream_id = await head_of_first_response(connection)
        header = (16384).to_bytes(3, "big") + b"\x00\x00" + stream_id.to_bytes(4, "big")
        for byte in header + bytes(16384):
            await connection.stream.send_all(bytes([byte]))
            await trio.sleep(1)

    limits = ClientLimits(keepalive_interval=30, keepalive_timeout=20)
    async with (
        fault_server(trickle) as server,
        open_http2_transport(server.url, limits=limits) as transport,
    ):
        with trio.fail_after(TIMEOUT):
            async with transport.exchange("POST", "/m", [], body=b"req") as exchange:
                assert (await exchange.receive_head())[0] == 200
                with pytest.raises(ConnectError) as info:
                    await exchange.receive_data()
        assert trio.current_time() == pytest.approx(50)
        assert "no reply to a keepalive PING" in info.value.message


async def test_no_pings_without_an_interval(autojump_clock: trio.testing.MockClock) -> None:
    limits = ClientLimits(keepalive_interval=None)
    async with (
        fault_server(freeze_after_request) as server,
        open_http2_transport(server.url, limits=limits) as transport,
    ):
        with trio.move_on_after(1000) as gave_up:
            await call(transport)
        assert gave_up.cancelled_caught  # only the caller's own deadline ended it
        assert transport.statistics().pings_sent == 0


# -- exceptions from the block ----------------------------------------------------------


async def test_an_error_from_the_block_comes_out_as_raised() -> None:
    async with fault_server(healthy) as server:
        error = ConnectError(Code.ABORTED, "from the block")
        with pytest.raises(ConnectError) as info:
            async with open_http2_transport(server.url) as transport:
                assert await call(transport) == (200, b"ok")  # a connection's tasks run
                raise error
        assert info.value is error
        assert not isinstance(info.value, BaseExceptionGroup)


async def test_open_client_over_h2_is_transparent_too(nursery: trio.Nursery) -> None:
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    error = ConnectError(Code.ABORTED, "from the block")
    with pytest.raises(ConnectError) as info:
        async with open_client(server.url) as client:
            reply = await client.stub(ECHO).Echo(EchoRequest(text="hi"))
            assert reply.text == "hi"
            raise error
    assert info.value is error
