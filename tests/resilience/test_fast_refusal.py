"""An open circuit refuses in the caller's task, in microseconds, and stays cancellable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho
from trioplugin import open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import (
    YIELD_EVERY,
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitOpenError,
    RetryInterceptor,
)
from trioplugin.rpc import Stub, open_client
from trioplugin.transport import Server

OPEN_FOR_AN_HOUR = CircuitBreakerConfig(failure_threshold=1, timeout=3600)


@asynccontextmanager
async def opened(via: str, url: str, *interceptors: Any) -> AsyncIterator[Stub]:
    """A stub whose endpoint's circuit has just opened (after one failed call)."""
    chain = list(interceptors) or [CircuitBreakerInterceptor(OPEN_FOR_AN_HOUR)]
    async with open_plugin_nursery([ECHO]) as host, open_client(url, interceptors=chain) as c:
        stub = (
            (await host.connect("p", url, interceptors=chain)).stub(ECHO)
            if via == "handle"
            else c.stub(ECHO)
        )
        with pytest.raises(ConnectError) as first:
            await stub.Echo(EchoRequest())
        assert not isinstance(first.value, CircuitOpenError)
        yield stub


VIA = pytest.mark.parametrize("via", ["handle", "client"])


async def test_a_refusal_through_the_handle_never_reaches_the_actor(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.fail_always()
    breaker = CircuitBreakerInterceptor(OPEN_FOR_AN_HOUR)
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect(
            "p", flaky_server.url, interceptors=[breaker, RetryInterceptor()]
        )
        stub = handle.stub(ECHO)
        with pytest.raises(ConnectError):
            await stub.Echo(EchoRequest())
        before = handle.statistics()
        for _ in range(10):
            with pytest.raises(CircuitOpenError):
                await stub.Echo(EchoRequest())
            with pytest.raises(CircuitOpenError):
                async with stub.ServerStream(EchoRequest()):
                    pass  # pragma: no cover - refused on entry
        after = handle.statistics()
    assert after.failed - before.failed == 20
    assert after.completed == before.completed
    assert after.circuit is not None and before.circuit is not None
    assert after.circuit.rejected - before.circuit.rejected == 20
    assert len(flaky.seen) == 3  # the first call's attempts only


@VIA
async def test_a_loop_on_refused_calls_is_cancelled_by_another_task(
    via: str, flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.fail_always()
    async with opened(via, flaky_server.url) as stub:
        refusals = 0
        with trio.CancelScope() as scope:

            async def cancel_soon() -> None:
                await trio.lowlevel.checkpoint()
                scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel_soon)
                while refusals < 100 * YIELD_EVERY:  # bounded: the test must end anyway
                    try:
                        await stub.Echo(EchoRequest())
                    except CircuitOpenError:
                        refusals += 1
        assert scope.cancelled_caught
        assert refusals <= 4 * YIELD_EVERY  # the other task got its turns, and its cancel was seen


@VIA
async def test_a_loop_on_refused_calls_ends_at_its_deadline(
    via: str, flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.fail_always()
    async with opened(via, flaky_server.url) as stub:
        refusals = 0
        with trio.move_on_after(0.05) as scope:  # real time: nothing else would advance it
            while refusals < 10_000_000:
                try:
                    await stub.Echo(EchoRequest())
                except CircuitOpenError:
                    refusals += 1
        assert scope.cancelled_caught
        assert 0 < refusals < 10_000_000


async def test_the_handle_leaves_half_open_refusals_to_the_actor(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.fail_always(count=1)
    config = CircuitBreakerConfig(failure_threshold=1, timeout=5)
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect(
            "p", flaky_server.url, interceptors=[CircuitBreakerInterceptor(config)]
        )
        stub = handle.stub(ECHO)
        with pytest.raises(ConnectError):
            await stub.Echo(EchoRequest())
        with pytest.raises(CircuitOpenError) as refused:
            await stub.Echo(EchoRequest())
        assert refused.value.code is Code.UNAVAILABLE
        await trio.sleep(5)
        await stub.Echo(EchoRequest())  # the probe, admitted by the actor
    assert len(flaky.seen) == 2
