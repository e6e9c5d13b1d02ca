"""Retries, hedges and attempt timeouts leave no task behind, however the calls end."""

from __future__ import annotations

import contextlib

import trio
import trio.lowlevel
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho, fail, ok
from tests.tasks import TaskTracker
from trioplugin.actor import open_endpoint_nursery
from trioplugin.protocol import ConnectError
from trioplugin.resilience import (
    CircuitBreakerInterceptor,
    HedgingPolicy,
    RetryInterceptor,
    RetryPolicy,
    RetryScheduled,
)
from trioplugin.rpc import Stub
from trioplugin.transport import Server


async def echo(stub: Stub, delay_text: str = "") -> None:
    with contextlib.suppress(ConnectError):
        await stub.Echo(EchoRequest(text=delay_text))


async def test_no_task_survives_retries_hedges_and_cancellations(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    tracker = TaskTracker()
    trio.lowlevel.add_instrument(tracker)
    try:
        async with open_endpoint_nursery([ECHO]) as host:
            tracker.root = host._nursery
            retrying = await host.connect(
                "retrying",
                flaky_server.url,
                interceptors=[
                    CircuitBreakerInterceptor(),
                    RetryInterceptor(RetryPolicy(5, initial_backoff=1, attempt_timeout=2)),
                ],
            )
            hedging = await host.connect(
                "hedging",
                flaky_server.url,
                interceptors=[RetryInterceptor(hedging=HedgingPolicy(delay=0.1))],
            )
            # Cancelled while backing off.
            flaky.script(fail())
            with trio.move_on_after(0.5):
                await echo(retrying.stub(ECHO))
            # Cancelled during an attempt, after an attempt timed out.
            flaky.script(ok(delay=10), ok(delay=10))
            with trio.move_on_after(3):
                await echo(retrying.stub(ECHO))
            # Hedges that lose are cancelled; a caller that leaves cancels the rest.
            flaky.script(ok(delay=5), ok(delay=0.01))
            await echo(hedging.stub(ECHO))
            flaky.script(ok(delay=5), ok(delay=5), ok(delay=5))
            with trio.move_on_after(0.15):
                await echo(hedging.stub(ECHO))
            await trio.sleep(20)  # every handler delay is over
            for handle in (retrying, hedging):
                assert handle.statistics().in_flight == 0
        assert tracker.spawned > 0
        assert tracker.live == set()
    finally:
        trio.lowlevel.remove_instrument(tracker)
    assert flaky.cancelled == 5  # timed out 1, left 1, hedge lost 1, hedges left 2


async def test_closing_the_actor_ends_a_call_in_its_retry_backoff_at_once(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    """A call running in its caller's task has no cancel scope of the actor's (our
    interceptors do not need one): the retry's backoff is still ended by the close."""
    errors: list[ConnectError] = []

    async def caller(stub: Stub) -> None:
        try:
            await stub.Echo(EchoRequest())
        except ConnectError as exc:
            errors.append(exc)

    backoff = 1000.0
    policy = RetryPolicy(3, initial_backoff=backoff, max_backoff=backoff, jitter=False)
    async with open_endpoint_nursery([ECHO]) as host:
        handle = await host.connect(
            "echo", flaky_server.url, interceptors=[RetryInterceptor(policy)]
        )
        await handle.stub(ECHO).Echo(EchoRequest())  # the actor and its client are up
        flaky.script(fail())
        async with handle.events() as events, trio.open_nursery() as callers:
            assert handle._actor.can_run_here()
            callers.start_soon(caller, handle.stub(ECHO))
            async for event in events:
                if isinstance(event, RetryScheduled):
                    break
            start = trio.current_time()
            await handle.aclose()
        assert trio.current_time() - start < backoff
    assert [e.code.value for e in errors] == ["canceled"]
    assert "closed while" in errors[0].message
    assert handle.statistics().in_flight == 0
