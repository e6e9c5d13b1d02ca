"""The circuit breaker as an interceptor on real loopback calls, in virtual time.

Every test drives the breaker with calls to a real server (the flaky EchoService)
and checks the server's log: an open circuit must not let a single attempt
through. Most run twice: on a plain client (``open_client``) and through an
endpoint actor (``open_plugin_nursery`` / ``host.connect``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho, fail, ok
from trioplugin import ActorOptions, open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitBreakerStatistics,
    CircuitOpenError,
    CircuitState,
)
from trioplugin.rpc import InterceptorLike, open_client
from trioplugin.transport import Server

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
EPS = 1e-3
"""A small step before an instant (exact in binary at the magnitudes used here)."""

Via = Literal["client", "nursery"]
VIA = pytest.mark.parametrize("via", ["client", "nursery"])


@dataclass
class Target:
    """One endpoint behind a breaker: how to call it and how to read its circuit."""

    name: str
    """The endpoint's name, which the breaker takes (the URL for a plain client)."""
    stub: Any
    circuit: Callable[[], CircuitBreakerStatistics]

    async def echo(self, text: str = "") -> Any:
        return await self.stub.Echo(EchoRequest(text=text))


@asynccontextmanager
async def open_target(
    via: Via, server: Server, *interceptors: InterceptorLike, **connect: Any
) -> AsyncIterator[Target]:
    if via == "client":
        async with open_client(server.url, interceptors=list(interceptors)) as client:
            bound = [i for i in client.interceptors if isinstance(i, CircuitBreakerInterceptor)]
            assert len(bound) == 1
            breaker = bound[0].breaker
            yield Target(server.url, client.stub(ECHO), breaker.statistics)
        return
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect("p", server.url, interceptors=list(interceptors), **connect)

        def circuit() -> CircuitBreakerStatistics:
            stats = handle.statistics().circuit
            assert stats is not None
            return stats

        yield Target("p", handle.stub(ECHO), circuit)


async def refusal(target: Target, text: str = "") -> CircuitOpenError:
    with pytest.raises(CircuitOpenError) as caught:
        await target.echo(text)
    return caught.value


async def failure(target: Target, text: str = "") -> ConnectError:
    with pytest.raises(ConnectError) as caught:
        await target.echo(text)
    assert not isinstance(caught.value, CircuitOpenError)
    return caught.value


def relative(times: list[float], t0: float) -> list[float]:
    return [round(t - t0, 9) for t in times]


# -- the state machine, transition by transition ---------------------------------------


@VIA
async def test_closed_holds_at_threshold_minus_one_and_opens_at_the_threshold(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=3, success_threshold=2, timeout=5.0)
    flaky.script(fail(), fail(), ok(), fail(), fail(), fail())
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        t0 = trio.current_time()
        for expected in (1, 2):
            assert (await failure(target)).code is Code.UNAVAILABLE
            stats = target.circuit()
            assert (stats.state, stats.consecutive_failures) == (CLOSED, expected)
        await target.echo()  # a success in CLOSED starts the count again
        assert target.circuit().consecutive_failures == 0
        await failure(target)
        await failure(target)
        assert (target.circuit().state, target.circuit().consecutive_failures) == (CLOSED, 2)
        await failure(target)  # the third in a row
        stats = target.circuit()
        assert (stats.state, stats.times_opened, stats.rejected) == (OPEN, 1, 0)
        assert len(flaky.seen) == 6

        refused = await refusal(target)
        assert refused.code is Code.UNAVAILABLE
        assert refused.message.startswith("circuit")
        assert refused.retry_after == 5.0
        assert (refused.reason, refused.breaker_name) == ("open", target.name)
        assert len(flaky.seen) == 6  # the server saw nothing of it
        assert target.circuit().rejected == 1
    assert relative(flaky.times, t0) == [0.0] * 6


@VIA
async def test_open_rejects_until_the_timeout_then_probes_close_it(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, success_threshold=2, timeout=5.0)
    flaky.script(fail())
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        t0 = trio.current_time()
        await failure(target)
        assert target.circuit().state is OPEN

        await trio.sleep_until(t0 + 2.0)
        assert (await refusal(target)).retry_after == 3.0
        await trio.sleep_until(t0 + 5.0 - EPS)
        refused = await refusal(target)
        assert refused.retry_after == pytest.approx(EPS, abs=1e-9)
        assert target.circuit().state is OPEN
        assert len(flaky.seen) == 1

        await trio.sleep_until(t0 + 5.0)
        await target.echo("probe 1")  # the first probe reaches the server at once
        stats = target.circuit()
        assert (stats.state, stats.consecutive_successes) == (HALF_OPEN, 1)
        await target.echo("probe 2")
        stats = target.circuit()
        assert (stats.state, stats.rejected, stats.times_opened) == (CLOSED, 2, 1)
    assert relative(flaky.times, t0) == [0.0, 5.0, 5.0]
    assert [seen.text for seen in flaky.seen] == ["", "probe 1", "probe 2"]


@VIA
async def test_a_failed_probe_reopens_for_a_full_timeout_from_its_failure(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, success_threshold=1, timeout=5.0)
    flaky.script(fail(), fail(delay=1.0))  # the probe fails one second after it was admitted
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        t0 = trio.current_time()
        await failure(target)
        await trio.sleep_until(t0 + 5.0)
        await failure(target, "probe")
        assert trio.current_time() - t0 == 6.0
        stats = target.circuit()
        assert (stats.state, stats.times_opened) == (OPEN, 2)

        assert (await refusal(target)).retry_after == 5.0  # measured from t0 + 6, not t0 + 5
        await trio.sleep_until(t0 + 11.0 - EPS)
        assert (await refusal(target)).retry_after == pytest.approx(EPS, abs=1e-9)
        await trio.sleep_until(t0 + 11.0)
        await target.echo("probe 2")
        assert target.circuit().state is CLOSED
    assert relative(flaky.times, t0) == [0.0, 5.0, 11.0]


# -- probes in HALF_OPEN ---------------------------------------------------------------


@VIA
@pytest.mark.parametrize("probes", [1, 3])
async def test_in_half_open_exactly_max_probes_reach_the_server_the_rest_fail_at_once(
    via: Via,
    probes: int,
    flaky_server: Server,
    flaky: FlakyEcho,
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = CircuitBreakerConfig(
        failure_threshold=1, success_threshold=probes, timeout=5.0, max_probes=probes
    )
    flaky.script(fail(), *[ok(delay=1.0)] * probes)  # the server holds each probe for 1 s
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        t0 = trio.current_time()
        await failure(target)
        await trio.sleep_until(t0 + 5.0)
        outcomes: list[tuple[float, str, float]] = []

        async def caller(number: int) -> None:
            try:
                await target.echo(str(number))
            except CircuitOpenError as refused:
                outcomes.append((trio.current_time() - t0, refused.reason, refused.retry_after))
            else:
                outcomes.append((trio.current_time() - t0, "ok", 0.0))

        async with trio.open_nursery() as nursery:
            for number in range(10):
                nursery.start_soon(caller, number)
        stats = target.circuit()
        assert (stats.state, stats.rejected, stats.probes_in_flight) == (CLOSED, 10 - probes, 0)
    assert (
        sorted(outcomes) == [(5.0, "half_open", 0.0)] * (10 - probes) + [(6.0, "ok", 0.0)] * probes
    )
    assert relative(flaky.times, t0) == [0.0] + [5.0] * probes


@VIA
async def test_a_cancelled_probe_frees_its_slot_at_once(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, success_threshold=1, timeout=5.0)
    flaky.script(fail(), ok(delay=10.0))
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        t0 = trio.current_time()
        await failure(target)
        await trio.sleep_until(t0 + 5.0)
        flaky.arrived = trio.Event()
        scope = trio.CancelScope()
        finished: list[str] = []

        async def probe() -> None:
            with scope:
                await target.echo("cancelled probe")
                finished.append("answered")  # never: the caller gives up first
            finished.append("gave up")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe)
            await flaky.arrived.wait()
            stats = target.circuit()
            assert (stats.state, stats.probes_in_flight) == (HALF_OPEN, 1)
            assert (await refusal(target, "refused")).reason == "half_open"
            scope.cancel()
        assert finished == ["gave up"]
        if via == "client":
            # The probe ran in the caller's own task: the slot is free once its scope is left.
            assert target.circuit().probes_in_flight == 0
        # The very next caller is admitted as the probe (no wait for the held one), and
        # its success closes the circuit: it neither stayed wedged nor reopened.
        await target.echo("next")
        stats = target.circuit()
        assert (stats.state, stats.times_opened, stats.probes_in_flight) == (CLOSED, 1, 0)
        with trio.fail_after(1):
            await flaky.cancelled_event.wait()
        assert trio.current_time() - t0 == 5.0  # all at the instant the probe went
    assert flaky.cancelled == 1
    assert [seen.text for seen in flaky.seen] == ["", "cancelled probe", "next"]
    assert relative(flaky.times, t0) == [0.0, 5.0, 5.0]


# -- what counts -----------------------------------------------------------------------


@VIA
async def test_caller_cancellations_and_deadlines_are_never_failures(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=2, timeout=5.0)
    flaky.script(fail(), ok(delay=5.0), ok(delay=5.0), ok(delay=5.0), fail())
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        t0 = trio.current_time()
        await failure(target)
        assert target.circuit().consecutive_failures == 1

        with trio.move_on_after(1.0) as moved_on:  # a deadline the caller gives up at
            await target.echo("move_on_after")
        assert moved_on.cancelled_caught
        with pytest.raises(trio.TooSlowError):
            with trio.fail_after(1.0):
                await target.echo("fail_after")
        flaky.arrived = trio.Event()
        async with trio.open_nursery() as nursery:  # an explicit cancel mid-call

            async def cancel_when_it_arrives() -> None:
                await flaky.arrived.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(cancel_when_it_arrives)
            await target.echo("cancelled")
        await trio.testing.wait_all_tasks_blocked()

        stats = target.circuit()
        assert (stats.state, stats.consecutive_failures, stats.consecutive_successes) == (
            CLOSED,
            1,
            0,
        )
        assert trio.current_time() - t0 == 2.0
        await failure(target)  # the next real failure is the second, and opens the circuit
        assert target.circuit().state is OPEN
    assert [seen.text for seen in flaky.seen] == [
        "",
        "move_on_after",
        "fail_after",
        "cancelled",
        "",
    ]
    assert relative(flaky.times, t0) == [0.0, 0.0, 1.0, 2.0, 2.0]


@pytest.mark.parametrize("expired", ["fail_after(0)", "cancelled scope"])
async def test_a_caller_out_of_time_before_sending_is_not_a_failure(
    expired: str, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, timeout=5.0)
    async with open_target("client", flaky_server, CircuitBreakerInterceptor(config)) as target:
        with contextlib.suppress(ConnectError, trio.TooSlowError):  # however it is reported
            if expired == "fail_after(0)":
                with trio.fail_after(0):
                    await target.echo("too late")
            else:
                with trio.CancelScope() as scope:
                    scope.cancel()
                    await target.echo("too late")
        assert flaky.seen == []  # nothing was sent...
        stats = target.circuit()
        assert (stats.state, stats.consecutive_failures) == (CLOSED, 0)  # ...nothing counted


async def test_a_caller_that_gave_up_while_queued_for_a_slot_is_not_a_failure(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, timeout=5.0)
    flaky.script(ok(delay=2.0))
    async with open_target(
        "nursery",
        flaky_server,
        CircuitBreakerInterceptor(config),
        actor=ActorOptions(max_in_flight=1),
    ) as target:
        t0 = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(target.echo, "holds the only slot")
            await flaky.arrived.wait()
            with pytest.raises(trio.TooSlowError):
                with trio.fail_after(1.0):
                    await target.echo("queued")
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() - t0 == 2.0
        assert [seen.text for seen in flaky.seen] == ["holds the only slot"]
        stats = target.circuit()
        assert (stats.state, stats.consecutive_failures) == (CLOSED, 0)


@VIA
async def test_client_error_codes_count_as_successes(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=2, success_threshold=1, timeout=5.0)
    flaky.script(
        fail(),
        fail(Code.NOT_FOUND),
        fail(),
        fail(Code.INVALID_ARGUMENT),
        fail(),
        fail(Code.PERMISSION_DENIED),
        fail(),
        fail(),
        fail(Code.NOT_FOUND),
    )
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        t0 = trio.current_time()
        for code in (Code.NOT_FOUND, Code.INVALID_ARGUMENT, Code.PERMISSION_DENIED):
            await failure(target)
            assert target.circuit().consecutive_failures == 1
            assert (await failure(target)).code is code  # the caller still gets the error
            stats = target.circuit()
            assert (stats.state, stats.consecutive_failures, stats.consecutive_successes) == (
                CLOSED,
                0,
                1,
            )
        await failure(target)
        await failure(target)
        assert target.circuit().state is OPEN
        await trio.sleep_until(t0 + 5.0)
        assert (await failure(target, "probe")).code is Code.NOT_FOUND
        assert target.circuit().state is CLOSED  # a NOT_FOUND probe is a successful probe
    assert len(flaky.seen) == 9


@VIA
async def test_a_custom_is_failure_replaces_the_default(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    judged: list[tuple[Code, str]] = []

    def only_not_found(error: BaseException) -> bool:
        assert isinstance(error, ConnectError)
        judged.append((error.code, error.message))
        return error.code is Code.NOT_FOUND

    config = CircuitBreakerConfig(failure_threshold=2, timeout=5.0, is_failure=only_not_found)
    flaky.script(fail(), fail(), fail(), fail(Code.NOT_FOUND), fail(Code.NOT_FOUND))
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        for _ in range(3):
            await failure(target)
        assert (target.circuit().state, target.circuit().consecutive_failures) == (CLOSED, 0)
        await failure(target)
        assert (target.circuit().state, target.circuit().consecutive_failures) == (CLOSED, 1)
        await failure(target)
        assert target.circuit().state is OPEN
        await refusal(target)  # a refusal is not judged: the call never ran
    message = "scripted failure of attempt 1"
    assert judged == [(Code.UNAVAILABLE, message)] * 3 + [(Code.NOT_FOUND, message)] * 2
    assert len(flaky.seen) == 5


@VIA
async def test_a_late_failure_of_a_call_from_before_the_opening_does_not_extend_it(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=3, success_threshold=1, timeout=5.0)
    flaky.script(fail(delay=2.0), fail(), fail(), fail())
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        t0 = trio.current_time()
        slow_failed_at: list[float] = []

        async def slow() -> None:
            await failure(target, "slow")
            slow_failed_at.append(trio.current_time() - t0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow)
            await flaky.arrived.wait()
            for _ in range(3):
                await failure(target, "fast")
            assert target.circuit().state is OPEN  # opened at t0
        assert slow_failed_at == [2.0]
        stats = target.circuit()
        assert (stats.state, stats.times_opened, stats.consecutive_failures) == (OPEN, 1, 0)
        assert (await refusal(target)).retry_after == 3.0  # still t0 + 5, not t0 + 2 + 5
        await trio.sleep_until(t0 + 5.0)
        await target.echo("probe")
        assert target.circuit().state is CLOSED
    assert relative(flaky.times, t0) == [0.0, 0.0, 0.0, 0.0, 5.0]


# -- waiting for the half-open instant -------------------------------------------------


@VIA
async def test_wait_for_half_open_admits_a_patient_caller_as_the_probe_at_that_instant(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, success_threshold=1, timeout=5.0)
    interceptor = CircuitBreakerInterceptor(config, wait_for_half_open=True)
    flaky.script(fail())
    async with open_target(via, flaky_server, interceptor) as target:
        t0 = trio.current_time()
        await failure(target)
        await trio.sleep_until(t0 + 1.0)
        with trio.fail_after(10.0):  # its deadline, t0 + 11, is after the half-open instant
            reply = await target.echo("patient")
        assert trio.current_time() - t0 == 5.0
        assert reply.text == "patient"
        assert target.circuit().state is CLOSED  # it was the probe
    assert relative(flaky.times, t0) == [0.0, 5.0]


@VIA
@pytest.mark.parametrize("deadline", [3.0, 4.0], ids=["before", "at"])
async def test_wait_for_half_open_fails_at_once_when_the_deadline_is_not_after_the_instant(
    via: Via,
    deadline: float,
    flaky_server: Server,
    flaky: FlakyEcho,
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, timeout=5.0)
    interceptor = CircuitBreakerInterceptor(config, wait_for_half_open=True)
    flaky.script(fail())
    async with open_target(via, flaky_server, interceptor) as target:
        t0 = trio.current_time()
        await failure(target)
        await trio.sleep_until(t0 + 1.0)
        with trio.fail_after(deadline):  # ends at t0 + 4 or t0 + 5: no time for a probe
            refused = await refusal(target)
        assert trio.current_time() - t0 == 1.0
        assert (refused.reason, refused.retry_after) == ("open", 4.0)
        assert target.circuit().state is OPEN
    assert len(flaky.seen) == 1


@VIA
async def test_wait_for_half_open_waiters_beyond_the_probe_slots_fail_at_the_instant(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, success_threshold=1, timeout=5.0)
    interceptor = CircuitBreakerInterceptor(config, wait_for_half_open=True)
    flaky.script(fail(), ok(delay=1.0))
    async with open_target(via, flaky_server, interceptor) as target:
        t0 = trio.current_time()
        await failure(target)
        outcomes: list[tuple[float, str]] = []

        async def waiter() -> None:  # no deadline at all: waits too
            try:
                await target.echo("waiter")
            except CircuitOpenError as refused:
                outcomes.append((trio.current_time() - t0, refused.reason))
            else:
                outcomes.append((trio.current_time() - t0, "ok"))

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(waiter)
        assert target.circuit().state is CLOSED
    assert sorted(outcomes) == [(5.0, "half_open"), (5.0, "half_open"), (6.0, "ok")]
    assert relative(flaky.times, t0) == [0.0, 5.0]


def _lands_at(start: float, target: float) -> float:
    """Where MockClock's autojump from ``start`` to a deadline at ``target`` lands."""
    now = start
    for _ in range(8):
        if now >= target:
            break
        now = now + (target - now)
    return now


async def test_wait_for_half_open_is_admitted_whatever_the_rounding(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, success_threshold=1, timeout=5.0)
    interceptor = CircuitBreakerInterceptor(config, wait_for_half_open=True)
    flaky.script(fail())
    async with open_target("client", flaky_server, interceptor) as target:
        await trio.sleep(0.2)
        await failure(target)
        reopens_at = trio.current_time() + 5.0
        for _ in range(400):  # find an instant from which the wait rounds short
            now = trio.current_time()
            if _lands_at(now, now + (reopens_at - now)) < reopens_at:
                break
            await trio.sleep(0.01)
        else:
            pytest.fail("no instant found where the rounding bites")
        await target.echo("patient")
        assert trio.current_time() == reopens_at
        assert target.circuit().state is CLOSED


# -- operator controls -----------------------------------------------------------------


async def test_force_open_disable_and_reset_on_the_bound_breaker_govern_real_calls(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, success_threshold=1, timeout=5.0)
    async with open_client(
        flaky_server.url, interceptors=[CircuitBreakerInterceptor(config)]
    ) as client:
        bound = client.interceptors[0]
        assert isinstance(bound, CircuitBreakerInterceptor)
        breaker = bound.breaker
        target = Target(flaky_server.url, client.stub(ECHO), breaker.statistics)
        t0 = trio.current_time()

        breaker.force_open()
        refused = await refusal(target)
        assert (refused.reason, refused.retry_after) == ("forced", math.inf)
        assert refused.message.startswith("circuit forced open")
        await trio.sleep_until(t0 + 30.0)  # far past the timeout: still refused
        assert (await refusal(target)).reason == "forced"
        assert (bound.state, breaker.statistics().forced_open) == (OPEN, True)
        assert flaky.seen == []

        breaker.reset()
        await target.echo("after reset")
        assert bound.state is CLOSED

        breaker.disable()
        flaky.fail_always(count=3)
        for _ in range(3):
            await failure(target, "disabled")
        stats = breaker.statistics()
        assert (stats.state, stats.disabled, stats.consecutive_failures) == (CLOSED, True, 3)

        breaker.reset()
        assert breaker.statistics().consecutive_failures == 0
        flaky.script(fail())
        await failure(target, "opens")
        assert bound.state is OPEN
        breaker.reset()  # from OPEN: closed at once, the next call goes through
        await target.echo("after the second reset")
        stats = breaker.statistics()
        assert (stats.state, stats.times_opened, stats.rejected) == (CLOSED, 2, 2)
    assert [seen.text for seen in flaky.seen] == [
        "after reset",
        "disabled",
        "disabled",
        "disabled",
        "opens",
        "after the second reset",
    ]
    assert relative(flaky.times, t0) == [30.0] * 6


async def test_force_open_on_a_shared_breaker_governs_an_actors_calls(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    breaker = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1, timeout=5.0))
    async with open_target("nursery", flaky_server, CircuitBreakerInterceptor(breaker)) as target:
        breaker.force_open()
        assert target.circuit().state is OPEN
        assert (await refusal(target)).reason == "forced"
        breaker.disable()
        flaky.script(fail())
        await failure(target)
        assert (target.circuit().state, target.circuit().disabled) == (CLOSED, True)
        breaker.reset()
        flaky.script(fail())
        await failure(target)
        assert target.circuit().state is OPEN
    assert len(flaky.seen) == 2


# -- callbacks -------------------------------------------------------------------------


@VIA
async def test_on_state_change_is_called_once_per_transition_in_order_over_a_full_cycle(
    via: Via, flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    changes: list[tuple[float, CircuitState, CircuitState]] = []
    t0 = 0.0

    def record(old: CircuitState, new: CircuitState) -> None:
        changes.append((trio.current_time() - t0, old, new))

    config = CircuitBreakerConfig(
        failure_threshold=2, success_threshold=2, timeout=5.0, on_state_change=record
    )
    flaky.script(fail(), fail(), fail(delay=1.0))
    async with open_target(via, flaky_server, CircuitBreakerInterceptor(config)) as target:
        t0 = trio.current_time()
        await failure(target)
        await failure(target)  # CLOSED -> OPEN at t0
        await refusal(target)
        await trio.sleep_until(t0 + 5.0)
        await failure(target, "failed probe")  # -> HALF_OPEN at t0 + 5, -> OPEN at t0 + 6
        await trio.sleep_until(t0 + 11.0)
        await target.echo("probe 1")  # -> HALF_OPEN at t0 + 11
        await target.echo("probe 2")  # -> CLOSED
        await target.echo("closed")
        assert target.circuit().state is CLOSED
    assert changes == [
        (0.0, CLOSED, OPEN),
        (5.0, OPEN, HALF_OPEN),
        (6.0, HALF_OPEN, OPEN),
        (11.0, OPEN, HALF_OPEN),
        (11.0, HALF_OPEN, CLOSED),
    ]
    assert relative(flaky.times, t0) == [0.0, 0.0, 5.0, 11.0, 11.0, 11.0]
