"""Resilience state belongs to each endpoint's actor: breakers, budgets, events, composition.

The same interceptor objects given to several ``host.connect()`` calls are
bound once per endpoint, each binding with state of its own; sharing takes an
explicit shared object. Then the two orders of breaker and retry, and the
reference guide's "retry storm" against a dead plugin, counted attempt by
attempt on real loopback calls in virtual time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho, fail
from trioplugin.actor import (
    ActorEvent,
    ActorState,
    PluginHandle,
    StateChanged,
)
from trioplugin.plugin import open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitOpenError,
    CircuitState,
    CircuitStateChanged,
    RetryBudget,
    RetryInterceptor,
    RetryLimiterStatistics,
    RetryPolicy,
    RetryScheduled,
    RetryThrottling,
)
from trioplugin.rpc import Call, CallNext, ConnectApp, Endpoint, InterceptorLike, open_client
from trioplugin.transport import Server, serve

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
ECHO_PROCEDURE = ECHO.methods["Echo"].procedure
NO_JITTER = RetryPolicy(max_attempts=3, jitter=False)  # the reference: 0.1 s, doubling


@pytest.fixture
def other() -> FlakyEcho:
    return FlakyEcho()


@pytest.fixture
async def other_server(nursery: trio.Nursery, other: FlakyEcho) -> Server:
    server: Server = await nursery.start(serve, ConnectApp({ECHO: other}))
    return server


async def echo(handle: PluginHandle, text: str = "") -> Any:
    return await handle.stub(ECHO).Echo(EchoRequest(text=text))


async def failure(handle: PluginHandle, text: str = "") -> ConnectError:
    with pytest.raises(ConnectError) as caught:
        await echo(handle, text)
    return caught.value


def drain(events: trio.MemoryReceiveChannel[ActorEvent]) -> list[ActorEvent]:
    """Every event delivered so far (the channel is closed once the actor is)."""
    received: list[ActorEvent] = []
    for _ in range(1000):
        try:
            received.append(events.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return received
    raise AssertionError("more events than expected")


def relative(times: Sequence[float], t0: float) -> list[float]:
    return [round(t - t0, 9) for t in times]


# -- the same objects, state per endpoint ----------------------------------------------


@pytest.mark.parametrize("layout", ["two servers", "one server under two names"])
@pytest.mark.parametrize(
    ("budget", "a_figures", "b_figures"),
    [
        # A6 throttling: every failed attempt costs a token, 4 failed attempts on "a".
        (
            RetryThrottling(max_tokens=10),
            ("throttling", 6.0, 10.0, 2),
            ("throttling", 10.0, 10.0, 0),
        ),
        # Finagle: 2 calls on "a" deposit 1 retry, the reserve adds 1; both were spent.
        (
            RetryBudget(ttl=10, min_retries_per_sec=0.1, percent_can_retry=0.5),
            ("budget", 0.0, 2.0, 2),
            ("budget", 1.0, 1.0, 0),
        ),
    ],
    ids=["throttling", "budget"],
)
async def test_the_same_interceptors_give_each_endpoint_its_own_breaker_and_budget(
    layout: str,
    budget: RetryThrottling | RetryBudget,
    a_figures: tuple[str, float, float, int],
    b_figures: tuple[str, float, float, int],
    flaky_server: Server,
    flaky: FlakyEcho,
    other_server: Server,
    other: FlakyEcho,
    autojump_clock: trio.testing.MockClock,
) -> None:
    one = layout == "one server under two names"
    b_server, b_log = (flaky_server, flaky) if one else (other_server, other)
    flaky.script(fail(), fail(), fail(), fail())  # a's two calls, two attempts each
    breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=2, timeout=5.0))
    retry = RetryInterceptor(RetryPolicy(max_attempts=2, jitter=False, budget=budget))
    async with open_plugin_nursery([ECHO]) as host:
        a = await host.connect("a", flaky_server.url, interceptors=[breaker, retry])
        b = await host.connect("b", b_server.url, interceptors=[breaker, retry])
        await failure(a)
        await failure(a)
        assert isinstance(await failure(a), CircuitOpenError)
        await echo(b, "b")  # b's circuit is closed: the call goes through
        a_stats, b_stats = a.statistics(), b.statistics()

    assert (a_stats.circuit_state, b_stats.circuit_state) == (OPEN, CLOSED)
    assert a_stats.circuit is not None and b_stats.circuit is not None
    assert (a_stats.circuit.name, a_stats.circuit.times_opened, a_stats.circuit.rejected) == (
        "a",
        1,
        1,
    )
    assert (b_stats.circuit.name, b_stats.circuit.times_opened, b_stats.circuit.rejected) == (
        "b",
        0,
        0,
    )
    assert (a_stats.retried, b_stats.retried) == (2, 0)
    assert a_stats.retry is not None and b_stats.retry is not None
    assert (a_stats.retry.calls, a_stats.retry.retries) == (2, 2)  # the refused call never got in
    assert (b_stats.retry.calls, b_stats.retry.retries) == (1, 0)

    def figures(budget: RetryLimiterStatistics | None) -> tuple[str, float, float, int]:
        assert budget is not None
        return (budget.kind, budget.balance, budget.capacity, budget.allowed)

    assert figures(a_stats.retry.budget) == a_figures
    assert figures(b_stats.retry.budget) == b_figures
    # The objects given to connect() were only templates: they kept no state themselves.
    assert breaker.breaker.statistics().times_opened == 0
    assert retry.statistics().calls == 0
    assert [seen.text for seen in b_log.seen][-1:] == ["b"]
    assert len(flaky.seen) + (0 if one else len(other.seen)) == 5


async def test_a_shared_breaker_counts_failures_of_every_endpoint_it_serves(
    flaky_server: Server,
    flaky: FlakyEcho,
    other_server: Server,
    other: FlakyEcho,
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = CircuitBreakerConfig(failure_threshold=2, success_threshold=1, timeout=5.0)
    shared = CircuitBreaker(config, name="shared")
    interceptor = CircuitBreakerInterceptor(shared)
    flaky.script(fail())
    other.script(fail())
    async with open_plugin_nursery([ECHO]) as host:
        a = await host.connect("a", flaky_server.url, interceptors=[interceptor])
        b = await host.connect("b", other_server.url, interceptors=[interceptor])
        async with a.events() as a_events, b.events() as b_events:
            t0 = trio.current_time()
            await failure(a)
            assert shared.statistics().consecutive_failures == 1
            await failure(b)  # the second failure in a row, on the other endpoint
            assert a.statistics().circuit == b.statistics().circuit == shared.statistics()
            assert (a.statistics().circuit_state, b.statistics().circuit_state) == (OPEN, OPEN)
            for handle in (a, b):
                refused = await failure(handle)
                assert isinstance(refused, CircuitOpenError)
                assert refused.breaker_name == "shared"
            await trio.sleep_until(t0 + 5.0)
            await echo(b, "probe")  # one probe for both: its success closes them both
            assert (a.statistics().circuit_state, b.statistics().circuit_state) == (CLOSED,) * 2
            await echo(a, "closed")
            a_seen, b_seen = drain(a_events), drain(b_events)
    assert shared.statistics().rejected == 2
    assert relative(flaky.times, t0) == [0.0, 5.0]
    assert relative(other.times, t0) == [0.0, 5.0]
    cycle = [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    # Each endpoint announces the shared breaker's transitions under its own name.
    assert a_seen == [CircuitStateChanged("a", old, new) for old, new in cycle]
    assert b_seen == [CircuitStateChanged("b", old, new) for old, new in cycle]


async def test_a_shared_retry_limiter_is_one_budget_for_every_endpoint(
    flaky_server: Server,
    flaky: FlakyEcho,
    other_server: Server,
    other: FlakyEcho,
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A6: 4 tokens; retries only while the count is above 2.
    limiter = RetryThrottling(max_tokens=4).new_limiter()
    policy = RetryPolicy(max_attempts=2, jitter=False)
    retry = RetryInterceptor(policy, limiter=limiter)
    flaky.script(fail(), fail())
    other.script(fail(), fail())
    async with open_plugin_nursery([ECHO]) as host:
        a = await host.connect("a", flaky_server.url, interceptors=[retry])
        b = await host.connect("b", other_server.url, interceptors=[retry])
        await failure(a)  # 4 -> 3, retried; 3 -> 2
        t0 = trio.current_time()
        await failure(b)  # 2 -> 1: the budget a spent refuses b's retry, at once
        assert trio.current_time() == t0
        a_stats, b_stats = a.statistics(), b.statistics()
    assert (len(flaky.seen), len(other.seen)) == (2, 1)
    assert a_stats.retry is not None and b_stats.retry is not None
    assert (a_stats.retried, a_stats.retry.throttled) == (1, 0)  # counters stay per endpoint
    assert (b_stats.retried, b_stats.retry.throttled) == (0, 1)
    assert a_stats.retry.budget is not None
    assert b_stats.retry.budget == limiter.statistics()  # one budget, read by both
    figures = limiter.statistics()
    assert (figures.balance, figures.allowed, figures.refused) == (1.0, 1, 1)


# -- events ----------------------------------------------------------------------------


async def test_events_tell_retries_and_circuit_changes_in_order_with_the_actors_states(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=1, success_threshold=1, timeout=5.0)
    flaky.fail_always(count=3)
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect(
            "p",
            flaky_server.url,
            interceptors=[CircuitBreakerInterceptor(config), RetryInterceptor(NO_JITTER)],
        )
        async with handle.events() as events:
            t0 = trio.current_time()
            await failure(handle)  # three attempts, then the circuit opens
            opened_at = trio.current_time()
            assert isinstance(await failure(handle), CircuitOpenError)  # no event for a refusal
            await trio.sleep_until(opened_at + 5.0)
            await echo(handle, "probe")
            await handle.aclose()
            received = drain(events)
    assert opened_at - t0 == pytest.approx(0.3, abs=1e-9)
    assert received == [
        RetryScheduled("p", ECHO_PROCEDURE, 2, 0.1, None),
        RetryScheduled("p", ECHO_PROCEDURE, 3, 0.2, None),
        CircuitStateChanged("p", CLOSED, OPEN),
        CircuitStateChanged("p", OPEN, HALF_OPEN),
        CircuitStateChanged("p", HALF_OPEN, CLOSED),
        StateChanged("p", ActorState.RUNNING, ActorState.CLOSING),
        StateChanged("p", ActorState.CLOSING, ActorState.CLOSED),
    ]
    retries = [event for event in received if isinstance(event, RetryScheduled)]
    assert [(e.pushback, e.hedge) for e in retries] == [(False, False)] * 2
    errors = [event.error for event in retries]
    assert [(e.code, e.message) for e in errors if e is not None] == [
        (Code.UNAVAILABLE, "scripted failure of attempt 1"),
        (Code.UNAVAILABLE, "scripted failure of attempt 2"),
    ]
    assert relative(flaky.times, t0) == pytest.approx([0.0, 0.1, 0.3, 5.3], abs=1e-9)
    assert flaky.attempts == [1, 2, 3, 1]


# -- composition: which order counts what ----------------------------------------------


async def test_breaker_outside_retry_counts_logical_calls(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    # The reference order: a call that failed after its 3 attempts is ONE failure.
    config = CircuitBreakerConfig(failure_threshold=2, timeout=5.0)
    flaky.fail_always()
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect(
            "p",
            flaky_server.url,
            interceptors=[CircuitBreakerInterceptor(config), RetryInterceptor(NO_JITTER)],
        )
        t0 = trio.current_time()
        await failure(handle)
        stats = handle.statistics()
        assert stats.circuit is not None
        assert (stats.circuit_state, stats.circuit.consecutive_failures) == (CLOSED, 1)
        assert len(flaky.seen) == 3
        await failure(handle)  # the second logical failure opens the circuit
        assert handle.statistics().circuit_state is OPEN
        refused_at = trio.current_time()
        assert isinstance(await failure(handle), CircuitOpenError)
        assert trio.current_time() == refused_at
        stats = handle.statistics()
    assert relative(flaky.times, t0) == pytest.approx([0.0, 0.1, 0.3, 0.3, 0.4, 0.6], abs=1e-9)
    assert flaky.attempts == [1, 2, 3, 1, 2, 3]
    assert stats.retry is not None
    assert (stats.retried, stats.retry.calls) == (4, 2)  # the refused call never reached retry


async def test_breaker_inside_retry_counts_attempts_and_stops_the_retry_once_open(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    config = CircuitBreakerConfig(failure_threshold=2, timeout=5.0)
    policy = RetryPolicy(max_attempts=5, jitter=False, budget=RetryThrottling(max_tokens=10))
    flaky.fail_always()
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect(
            "p",
            flaky_server.url,
            interceptors=[RetryInterceptor(policy), CircuitBreakerInterceptor(config)],
        )
        t0 = trio.current_time()
        # Attempts 1 and 2 fail: two failures, the circuit opens within ONE logical call.
        # Attempt 3, after its backoff, is refused by the breaker: the retry stops there,
        # with 2 of its 5 attempts unspent.
        refused = await failure(handle)
        assert isinstance(refused, CircuitOpenError)
        assert trio.current_time() - t0 == pytest.approx(0.3, abs=1e-9)
        assert len(flaky.seen) == 2
        before = handle.statistics()
        # The next call: its first attempt is refused, and nothing is retried or spent.
        assert isinstance(await failure(handle), CircuitOpenError)
        assert trio.current_time() - t0 == pytest.approx(0.3, abs=1e-9)
        after = handle.statistics()
    assert relative(flaky.times, t0) == pytest.approx([0.0, 0.1], abs=1e-9)
    assert before.retry is not None and after.retry is not None
    assert before.retry.budget is not None and after.retry.budget is not None
    # Two retries were scheduled (the second one's attempt met the open circuit)...
    assert (before.retried, before.retry.budget.allowed, before.retry.budget.balance) == (
        2,
        2,
        8.0,
    )
    # ...and the refused call spent nothing: same retries, same budget, one more call.
    assert (after.retried, after.retry.budget) == (before.retried, before.retry.budget)
    assert (before.retry.calls, after.retry.calls) == (1, 2)
    assert after.circuit is not None
    assert (after.circuit.times_opened, after.circuit.rejected) == (1, 2)


# -- the retry storm of the reference guide --------------------------------------------

Dead = Literal["failing server", "closed port"]
Guard = Literal["no breaker", "breaker outside retry", "breaker inside retry"]

STORM_CALLS = 10


def storm_interceptors(guard: Guard, count: InterceptorLike) -> list[InterceptorLike]:
    retry = RetryInterceptor(NO_JITTER)
    if guard == "no breaker":
        return [retry, count]
    if guard == "breaker outside retry":  # opens on the first logical failure
        breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=1))
        return [breaker, retry, count]
    breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=3))
    return [retry, breaker, count]  # opens on the third failed attempt


@pytest.mark.parametrize("dead", ["failing server", "closed port"])
@pytest.mark.parametrize(
    ("guard", "attempts", "seconds"),
    [
        ("no breaker", 3 * STORM_CALLS, 0.3 * STORM_CALLS),
        ("breaker outside retry", 3, 0.3),
        ("breaker inside retry", 3, 0.3),
    ],
)
async def test_a_breaker_stops_the_retry_storm_against_a_dead_plugin(
    dead: Dead,
    guard: Guard,
    attempts: int,
    seconds: float,
    flaky_server: Server,
    flaky: FlakyEcho,
    refused_url: str,
    autojump_clock: trio.testing.MockClock,
) -> None:
    # "Service down -> Retry 3x -> Open circuit -> Fail fast (only 3 attempts, then
    # immediate failures)", against "Retry 3x -> Retry 3x -> Retry 3x" without one.
    flaky.fail_always(Code.UNAVAILABLE)
    url = flaky_server.url if dead == "failing server" else refused_url
    sent: list[float] = []

    async def count(call: Call[Any, Any], call_next: CallNext) -> None:
        sent.append(trio.current_time())
        await call_next(call)

    errors: list[tuple[float, ConnectError]] = []
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect("dead", url, interceptors=storm_interceptors(guard, count))
        t0 = trio.current_time()
        for _ in range(STORM_CALLS):
            error = await failure(handle)
            errors.append((trio.current_time() - t0, error))
        took = trio.current_time() - t0
    assert len(sent) == attempts
    assert len(flaky.seen) == (attempts if dead == "failing server" else 0)
    assert took == pytest.approx(seconds, abs=1e-9)
    fast = [error for _, error in errors if isinstance(error, CircuitOpenError)]
    real = [error for _, error in errors if not isinstance(error, CircuitOpenError)]
    assert all(error.code is Code.UNAVAILABLE for _, error in errors)
    if guard == "no breaker":
        assert (len(real), len(fast)) == (STORM_CALLS, 0)
        assert [at for at, _ in errors] == pytest.approx(
            [0.3 * (n + 1) for n in range(STORM_CALLS)], abs=1e-9
        )
    else:
        assert (len(real), len(fast)) == (1, STORM_CALLS - 1)
        assert [at for at, _ in errors] == pytest.approx([0.3] * STORM_CALLS, abs=1e-9)
        assert relative(sent, t0) == pytest.approx([0.0, 0.1, 0.3], abs=1e-9)


# -- what connect() refuses ------------------------------------------------------------


class SyncIntercept:
    def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Not an async def."""


def sync_function(call: Call[Any, Any], call_next: CallNext) -> None:
    """Not an async def."""


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (42, r"42 \(int\) is not an interceptor: it has no intercept method and is not callable"),
        (sync_function, r"is not an interceptor: it is callable but not an async def"),
        (SyncIntercept(), r"is not an interceptor: its intercept method is not an async def"),
        ("retry", r"'retry' \(str\) is not an interceptor"),
    ],
    ids=["int", "sync function", "sync intercept method", "str"],
)
async def test_connect_refuses_what_is_not_an_interceptor_and_leaves_no_actor(
    bad: object, reason: str, flaky_server: Server, flaky: FlakyEcho
) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        kept = await host.connect("kept", flaky_server.url)
        good = RetryInterceptor(NO_JITTER)
        with pytest.raises(TypeError, match=reason) as caught:
            await host.connect("bad", flaky_server.url, interceptors=[good, bad])  # type: ignore[list-item]
        assert "async def intercept(self, call, call_next)" in str(caught.value)
        assert set(host.handles) == {"kept"}
        again = await host.connect("bad", flaky_server.url)  # the name is free: nothing was left
        await echo(again, "again")
        await echo(kept, "kept")
    assert [seen.text for seen in flaky.seen] == ["again", "kept"]


@pytest.mark.parametrize("cls", [CircuitBreakerInterceptor, RetryInterceptor])
async def test_connect_refuses_an_interceptor_class_given_instead_of_an_instance(
    cls: type, flaky_server: Server
) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(TypeError, match="is a class; give an instance of it"):
            await host.connect("bad", flaky_server.url, interceptors=[cls])
        assert dict(host.handles) == {}


class BindsToNothing:
    """A PerEndpoint whose binding is not an interceptor."""

    def for_endpoint(self, endpoint: Endpoint) -> Any:
        return 42


async def test_connect_refuses_a_binding_that_is_not_an_interceptor_with_a_type_error(
    flaky_server: Server,
) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(TypeError, match=r"42 \(int\) is not an interceptor"):
            await host.connect("bad", flaky_server.url, interceptors=[BindsToNothing()])  # type: ignore[list-item]
        assert dict(host.handles) == {}


async def test_endpoints_that_close_let_go_of_a_shared_breaker(flaky_server: Server) -> None:
    shared = CircuitBreaker(CircuitBreakerConfig())
    async with open_plugin_nursery([ECHO]) as host:
        for round_ in range(5):
            handle = await host.connect(
                f"p{round_}", flaky_server.url, interceptors=[CircuitBreakerInterceptor(shared)]
            )
            await handle.aclose()
        for _ in range(5):
            async with open_client(
                flaky_server.url, interceptors=[CircuitBreakerInterceptor(shared)]
            ):
                pass
    assert shared._listeners == {}  # every binding removed its listener
