"""Hedged calls: racing attempts of idempotent unary calls, the first success wins."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho, fail, ok
from trioplugin import open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import (
    HedgingPolicy,
    RetryInterceptor,
    RetryPolicy,
    RetryScheduled,
    RetryThrottling,
)
from trioplugin.rpc import open_client
from trioplugin.transport import Server

HEDGE = HedgingPolicy(max_attempts=3, delay=0.05)


def relative(times: list[float], t0: float) -> list[float]:
    return [round(t - t0, 9) for t in times]


async def test_a_slow_attempt_is_overtaken_by_a_hedge_and_cancelled(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(ok(delay=1), ok(delay=0.01))
    async with open_client(flaky_server.url, interceptors=[RetryInterceptor(hedging=HEDGE)]) as c:
        t0 = trio.current_time()
        reply = await c.unary(ECHO.methods["Echo"], EchoRequest(text="h"))
        assert trio.current_time() - t0 == pytest.approx(0.06, abs=1e-9)
        with trio.fail_after(1):
            await flaky.cancelled_event.wait()
    assert reply.message.index == 2  # the hedge answered
    assert reply.headers.get_all("x-attempt") == ["2"]  # with its own metadata
    assert relative(flaky.times, t0) == [0.0, 0.05]
    assert flaky.cancelled == 1  # the loser's handler saw the cancel


async def test_a_non_fatal_failure_sends_the_next_hedge_at_once(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail(Code.UNAVAILABLE), ok())
    async with open_client(flaky_server.url, interceptors=[RetryInterceptor(hedging=HEDGE)]) as c:
        t0 = trio.current_time()
        reply = await c.stub(ECHO).Echo(EchoRequest())
    assert reply.index == 2
    assert relative(flaky.times, t0) == [0.0, 0.0]


async def test_a_fatal_failure_ends_the_call_and_cancels_the_others(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(ok(delay=1), fail(Code.NOT_FOUND, delay=0.01))
    async with open_client(flaky_server.url, interceptors=[RetryInterceptor(hedging=HEDGE)]) as c:
        t0 = trio.current_time()
        with pytest.raises(ConnectError) as caught:
            await c.stub(ECHO).Echo(EchoRequest())
        assert trio.current_time() - t0 == pytest.approx(0.06, abs=1e-9)
        with trio.fail_after(1):
            await flaky.cancelled_event.wait()
    assert caught.value.code is Code.NOT_FOUND
    assert len(flaky.seen) == 2


async def test_when_every_hedge_fails_the_last_failure_is_raised(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.fail_always(Code.UNAVAILABLE)
    async with open_client(flaky_server.url, interceptors=[RetryInterceptor(hedging=HEDGE)]) as c:
        with pytest.raises(ConnectError) as caught:
            await c.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.UNAVAILABLE
    assert sorted(flaky.attempts) == [1, 2, 3]


async def test_methods_with_side_effects_are_not_hedged(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(ok(delay=1))
    async with open_client(flaky_server.url, interceptors=[RetryInterceptor(hedging=HEDGE)]) as c:
        t0 = trio.current_time()
        await c.stub(ECHO).Put(EchoRequest())
        assert trio.current_time() - t0 == pytest.approx(1, abs=1e-9)
    assert flaky.attempts == [1]


async def test_hedges_draw_on_the_retry_budget(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    # 4 tokens, hedges only while tokens > 2: one failure leaves 3 (one hedge), two leave 2.
    policy = RetryPolicy(budget=RetryThrottling(max_tokens=4, token_ratio=0.1))
    flaky.script(fail(), fail(), ok(delay=1))
    async with open_client(
        flaky_server.url, interceptors=[RetryInterceptor(policy, hedging=HEDGE)]
    ) as c:
        with pytest.raises(ConnectError):
            await c.stub(ECHO).Echo(EchoRequest())
        retry = c.interceptors[0]
        assert isinstance(retry, RetryInterceptor)
        stats = retry.statistics()
    assert len(flaky.seen) == 2  # the third hedge was refused
    assert (stats.hedges, stats.throttled) == (1, 1)


async def test_hedges_are_announced_on_the_handles_events(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(ok(delay=1), ok(delay=1), ok())
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect(
            "p", flaky_server.url, interceptors=[RetryInterceptor(hedging=HEDGE)]
        )
        async with handle.events() as events:
            reply = await handle.stub(ECHO).Echo(EchoRequest())
            received: list[Any] = []
            while True:
                try:
                    received.append(events.receive_nowait())
                except trio.WouldBlock:
                    break
        stats = handle.statistics()
    assert reply.index == 3
    hedges = [event for event in received if isinstance(event, RetryScheduled)]
    assert [(e.attempt, e.hedge, e.delay) for e in hedges] == [(2, True, 0.0), (3, True, 0.0)]
    assert stats.retried == 2
    assert stats.retry is not None
    assert stats.retry.hedges == 2
