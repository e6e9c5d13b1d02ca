"""The retry interceptor on real loopback calls, in virtual time: every attempt's exact instant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho, fail, ok
from tests.resilience.conftest import Fixed
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import (
    AttemptTimeoutError,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitOpenError,
    Jitter,
    RetryBudget,
    RetryInterceptor,
    RetryPolicy,
    RetryThrottling,
)
from trioplugin.rpc import Call, CallNext, Client, InterceptorLike, open_client
from trioplugin.transport import Server

NO_JITTER = RetryPolicy(jitter=False)
UNSAFE = RetryPolicy(
    retry_unsafe=True
)  # the test service's streaming methods declare no idempotency


def relative(times: list[float], t0: float) -> list[float]:
    return [round(t - t0, 9) for t in times]


async def echo(client: Client, text: str = "") -> Any:
    return await client.stub(ECHO).Echo(EchoRequest(text=text))


def client_for(server: Server, *interceptors: InterceptorLike) -> Any:
    return open_client(server.url, interceptors=list(interceptors))


async def test_the_reference_schedule_without_jitter(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail(), fail())
    async with client_for(flaky_server, RetryInterceptor(NO_JITTER)) as client:
        t0 = trio.current_time()
        reply = await echo(client)
    assert reply.index == 3
    assert relative(flaky.times, t0) == [0.0, 0.1, 0.3]
    assert flaky.attempts == [1, 2, 3]


async def test_after_max_attempts_the_last_error_is_raised(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.fail_always(Code.UNAVAILABLE)
    async with client_for(flaky_server, RetryInterceptor(RetryPolicy(4, jitter=False))) as client:
        t0 = trio.current_time()
        with pytest.raises(ConnectError) as caught:
            await echo(client)
        failed_at = trio.current_time() - t0
    assert relative(flaky.times, t0) == [0.0, 0.1, 0.3, 0.7]
    assert failed_at == pytest.approx(0.7, abs=1e-9)
    assert caught.value.message == "scripted failure of attempt 4"


async def test_the_backoff_is_capped(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.fail_always()
    policy = RetryPolicy(5, initial_backoff=1, max_backoff=5, backoff_multiplier=10, jitter=False)
    async with client_for(flaky_server, RetryInterceptor(policy)) as client:
        t0 = trio.current_time()
        with pytest.raises(ConnectError):
            await echo(client)
    assert relative(flaky.times, t0) == [0.0, 1.0, 6.0, 11.0, 16.0]


@pytest.mark.parametrize(
    ("mode", "draw", "expected"),
    [
        (Jitter.EQUAL, 0.0, [0.0, 0.05, 0.15]),  # x 0.5: the lower bound
        (Jitter.EQUAL, 0.5, [0.0, 0.075, 0.225]),  # x 0.75
        (Jitter.FULL, 0.5, [0.0, 0.05, 0.15]),  # x 0.5 of [0, value)
        (Jitter.DECORRELATED, 0.5, [0.0, 0.2, 0.55]),  # 0.1 + (0.3 - 0.1) / 2, then + 0.1 + 0.25
    ],
)
async def test_jitter_from_the_policys_random_source(
    flaky_server: Server,
    flaky: FlakyEcho,
    autojump_clock: trio.testing.MockClock,
    mode: Jitter,
    draw: float,
    expected: list[float],
) -> None:
    flaky.fail_always()
    policy = RetryPolicy(jitter_mode=mode, random=Fixed(draw))
    async with client_for(flaky_server, RetryInterceptor(policy)) as client:
        t0 = trio.current_time()
        with pytest.raises(ConnectError):
            await echo(client)
    assert relative(flaky.times, t0) == pytest.approx(expected, abs=1e-9)


async def test_jitter_is_on_by_default_within_half_to_all_of_the_backoff(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.fail_always()
    async with client_for(flaky_server, RetryInterceptor()) as client:
        t0 = trio.current_time()
        with pytest.raises(ConnectError):
            await echo(client)
    first, second, third = relative(flaky.times, t0)
    assert first == 0.0
    assert 0.05 <= second < 0.1
    assert 0.1 <= third - second < 0.2


@pytest.mark.parametrize(
    "code",
    [
        Code.INVALID_ARGUMENT,
        Code.NOT_FOUND,
        Code.PERMISSION_DENIED,
        Code.CANCELED,
        Code.UNAUTHENTICATED,
        Code.FAILED_PRECONDITION,
        Code.ALREADY_EXISTS,
    ],
)
async def test_client_error_codes_are_never_retried(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock, code: Code
) -> None:
    flaky.fail_always(code)
    async with client_for(flaky_server, RetryInterceptor()) as client:
        with pytest.raises(ConnectError) as caught:
            await echo(client)
    assert caught.value.code is code
    assert flaky.attempts == [1]


@pytest.mark.parametrize(
    "code", [Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.INTERNAL, Code.UNKNOWN]
)
async def test_the_reference_retryable_codes(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock, code: Code
) -> None:
    flaky.script(fail(code))
    async with client_for(flaky_server, RetryInterceptor()) as client:
        await echo(client)
    assert flaky.attempts == [1, 2]


async def test_a_deadline_exceeded_the_server_sent_is_retried(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail(Code.DEADLINE_EXCEEDED))
    async with client_for(flaky_server, RetryInterceptor()) as client:
        await echo(client)
    assert flaky.attempts == [1, 2]


async def test_a_custom_is_retryable_replaces_the_default(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail(Code.NOT_FOUND), fail(Code.UNAVAILABLE))
    seen: list[Code] = []

    def only_not_found(error: ConnectError) -> bool:
        seen.append(error.code)
        return error.code is Code.NOT_FOUND

    async with client_for(
        flaky_server, RetryInterceptor(RetryPolicy(5, is_retryable=only_not_found))
    ) as client:
        with pytest.raises(ConnectError) as caught:
            await echo(client)
    assert caught.value.code is Code.UNAVAILABLE
    assert seen == [Code.NOT_FOUND, Code.UNAVAILABLE]
    assert flaky.attempts == [1, 2]


async def test_no_sleep_into_the_deadline_the_last_error_comes_at_once(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.fail_always()
    async with client_for(flaky_server, RetryInterceptor(NO_JITTER)) as client:
        t0 = trio.current_time()
        with trio.fail_after(0.25), pytest.raises(ConnectError) as caught:
            await echo(client)  # a third attempt would start at 0.3, past the deadline
        failed_at = trio.current_time() - t0
    assert relative(flaky.times, t0) == [0.0, 0.1]
    assert failed_at == pytest.approx(0.1, abs=1e-9)
    assert caught.value.message == "scripted failure of attempt 2"


async def test_the_callers_deadline_during_an_attempt_is_not_retried(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(ok(delay=10), ok(delay=10))
    async with client_for(flaky_server, RetryInterceptor()) as client:
        t0 = trio.current_time()
        with pytest.raises(trio.TooSlowError):
            with trio.fail_after(1):
                await echo(client)
        assert trio.current_time() - t0 == pytest.approx(1, abs=1e-9)
        with trio.fail_after(1):
            await flaky.cancelled_event.wait()  # the handler saw the cancel
    assert flaky.attempts == [1]
    assert flaky.cancelled == 1


async def test_cancellation_during_the_backoff_ends_the_call_and_leaves_nothing(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.fail_always()
    async with client_for(flaky_server, RetryInterceptor(RetryPolicy(initial_backoff=5))) as client:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(echo, client)
                await flaky.arrived.wait()
                await trio.sleep(1)  # virtual: the call is backing off now
                scope.cancel()
        assert scope.cancelled_caught
        await trio.sleep(60)
    assert flaky.attempts == [1]


async def test_each_attempt_runs_under_its_attempt_timeout_which_goes_on_the_wire(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(ok(delay=5), ok())
    errors: list[BaseException] = []

    async def note(call: Call[Any, Any], call_next: CallNext) -> None:
        try:
            await call_next(call)
        except BaseException as exc:
            errors.append(exc)
            raise

    policy = RetryPolicy(attempt_timeout=1, jitter=False)
    async with client_for(flaky_server, note, RetryInterceptor(policy)) as client:
        t0 = trio.current_time()
        with trio.fail_after(10):
            reply = await echo(client)
    assert reply.index == 2
    assert relative(flaky.times, t0) == [0.0, 1.1]
    assert [seen.timeout_ms for seen in flaky.seen] == ["1000", "1000"]
    assert flaky.cancelled == 1
    assert errors == []  # the outer interceptor saw the call, which succeeded


async def test_the_attempt_timeout_is_a_retryable_failure_but_the_caller_deadline_wins(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(ok(delay=5), ok(delay=5), ok(delay=5))
    policy = RetryPolicy(attempt_timeout=1, jitter=False)
    async with client_for(flaky_server, RetryInterceptor(policy)) as client:
        t0 = trio.current_time()
        with pytest.raises(AttemptTimeoutError) as caught:
            await echo(client)
        assert relative([trio.current_time()], t0) == [3.3]
    assert caught.value.code is Code.DEADLINE_EXCEEDED
    assert caught.value.attempt == 3
    assert relative(flaky.times, t0) == [0.0, 1.1, 2.3]
    flaky.seen.clear()
    flaky.script(ok(delay=5))
    async with client_for(flaky_server, RetryInterceptor(policy)) as client:
        with pytest.raises(trio.TooSlowError), trio.fail_after(1):
            await echo(client)  # attempt and caller expire together: the caller's deadline
    assert len(flaky.seen) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, [0.0, 2.0, 2.1]),  # the backoff restarts after pushback
        ({"grpc-retry-pushback-ms": "500"}, [0.0, 0.5, 0.6]),
        ({"grpc-retry-pushback-ms": "0"}, [0.0, 0.0, 0.1]),
    ],
)
async def test_a_servers_pushback_is_waited_exactly(
    flaky_server: Server,
    flaky: FlakyEcho,
    autojump_clock: trio.testing.MockClock,
    headers: dict[str, str],
    expected: list[float],
) -> None:
    flaky.script(fail(headers=headers), fail())
    async with client_for(flaky_server, RetryInterceptor(NO_JITTER)) as client:
        t0 = trio.current_time()
        await echo(client)
    assert relative(flaky.times, t0) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "-1"},
        {"grpc-retry-pushback-ms": "-5"},
        {"retry-after": "soon"},
        {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"},
        {"grpc-retry-pushback-ms": "1.5"},
    ],
)
async def test_negative_or_unparsable_pushback_means_do_not_retry(
    flaky_server: Server,
    flaky: FlakyEcho,
    autojump_clock: trio.testing.MockClock,
    headers: dict[str, str],
) -> None:
    flaky.script(fail(headers=headers))
    async with client_for(flaky_server, RetryInterceptor()) as client:
        with pytest.raises(ConnectError):
            await echo(client)
    assert flaky.attempts == [1]


async def test_pushback_on_the_last_attempt_or_past_the_deadline_returns_now(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail(), fail(headers={"retry-after": "1"}))
    async with client_for(flaky_server, RetryInterceptor(RetryPolicy(2, jitter=False))) as client:
        t0 = trio.current_time()
        with pytest.raises(ConnectError):
            await echo(client)
        assert trio.current_time() - t0 == pytest.approx(0.1, abs=1e-9)
    flaky.seen.clear()
    flaky.script(fail(headers={"retry-after": "5"}))
    async with client_for(flaky_server, RetryInterceptor()) as client:
        t0 = trio.current_time()
        with trio.fail_after(3), pytest.raises(ConnectError):
            await echo(client)
        assert trio.current_time() == t0
    assert len(flaky.seen) == 1


async def test_pushback_can_be_ignored_by_policy(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail(headers={"retry-after": "-1"}))
    async with client_for(flaky_server, RetryInterceptor(RetryPolicy(pushback=False))) as client:
        await echo(client)
    assert flaky.attempts == [1, 2]


async def put(client: Client) -> Any:
    return await client.stub(ECHO).Put(EchoRequest())


async def test_a_method_with_side_effects_is_not_sent_again_once_it_may_have_arrived(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail())
    async with client_for(flaky_server, RetryInterceptor()) as client:
        with pytest.raises(ConnectError):
            await put(client)  # Put declares no idempotency level
    assert flaky.attempts == [1]
    flaky.script(fail())
    async with client_for(flaky_server, RetryInterceptor(RetryPolicy(retry_unsafe=True))) as client:
        await put(client)
    assert flaky.attempts == [1, 1, 2]


async def test_a_method_with_side_effects_is_retried_while_it_surely_never_arrived(
    refused_url: str, autojump_clock: trio.testing.MockClock
) -> None:
    attempts: list[int] = []

    async def count(call: Call[Any, Any], call_next: CallNext) -> None:
        attempts.append(call.attempt)
        await call_next(call)

    retry = RetryInterceptor(NO_JITTER)
    async with open_client(refused_url, interceptors=[retry, count]) as client:
        with pytest.raises(ConnectError) as caught:
            await put(client)
    assert attempts == [1, 2, 3]
    assert "cannot connect" in caught.value.message


async def test_a_stream_is_retried_before_its_first_message_never_after(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail(messages=0), fail(messages=2))
    async with client_for(flaky_server, RetryInterceptor(UNSAFE)) as client:
        got: list[int] = []
        with pytest.raises(ConnectError) as caught:
            async with client.stub(ECHO).ServerStream(EchoRequest(repeat=5)) as stream:
                async for response in stream:
                    got.append(response.index)
    assert got == [0, 1]  # the caller got the messages, then the error
    assert caught.value.message == "scripted failure of attempt 2"
    assert flaky.attempts == [1, 2]


async def texts(*values: str) -> AsyncIterator[EchoRequest]:
    for value in values:
        yield EchoRequest(text=value)


async def test_client_streams_are_replayed_by_the_policy(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail(), fail())
    async with client_for(flaky_server, RetryInterceptor(UNSAFE)) as client:
        reply = await client.stub(ECHO).ClientStream(texts("a", "b"))
    assert reply.text == "a,b"
    assert [seen.text for seen in flaky.seen] == ["a,b"] * 3
    flaky.seen.clear()
    flaky.script(fail())
    small = RetryInterceptor(RetryPolicy(max_replay_bytes=3, retry_unsafe=True))
    async with client_for(flaky_server, small) as client:
        with pytest.raises(ConnectError):  # outgrew its replay buffer: not retryable
            await client.stub(ECHO).ClientStream(texts("aa", "bb"))
    assert len(flaky.seen) == 1


async def test_bidi_is_retried_before_its_first_response(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.script(fail(messages=0))
    async with client_for(flaky_server, RetryInterceptor(UNSAFE)) as client:
        async with client.stub(ECHO).Bidi() as stream:
            await stream.send(EchoRequest(text="a"))
            assert (await stream.receive()).index == 2
            await stream.close_send()
            assert [r async for r in stream] == []


async def test_an_open_circuit_is_never_retried_and_spends_no_budget(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    flaky.fail_always()
    breaker = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1))
    policy = RetryPolicy(5, jitter=False, budget=RetryThrottling(max_tokens=10))
    async with client_for(
        flaky_server, RetryInterceptor(policy), CircuitBreakerInterceptor(breaker)
    ) as client:
        bound = client.interceptors[0]
        assert isinstance(bound, RetryInterceptor)
        t0 = trio.current_time()
        with pytest.raises(CircuitOpenError):
            await echo(client)  # attempt 1 opens the circuit; attempt 2 is refused by it
        assert trio.current_time() - t0 == pytest.approx(0.1, abs=1e-9)
        with pytest.raises(CircuitOpenError):
            await echo(client)  # refused at once: no backoff, no budget
        assert trio.current_time() - t0 == pytest.approx(0.1, abs=1e-9)
        stats = bound.statistics()
    assert flaky.attempts == [1]
    assert stats.retries == 1
    assert stats.budget is not None
    assert (stats.budget.allowed, stats.budget.refused) == (1, 0)


async def test_throttling_refuses_retries_at_once_and_successes_refill_it(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    # A6: 4 tokens, retries while tokens > 2; each failure costs 1, each success gives 1.
    policy = RetryPolicy(5, jitter=False, budget=RetryThrottling(max_tokens=4, token_ratio=1))
    async with client_for(flaky_server, RetryInterceptor(policy)) as client:
        retry = client.interceptors[0]
        assert isinstance(retry, RetryInterceptor)
        flaky.fail_always(count=2)
        with pytest.raises(ConnectError):
            await echo(client)  # 4 -> 3 (retry) -> 2: refused, at once
        assert flaky.attempts == [1, 2]
        assert retry.statistics().throttled == 1
        flaky.seen.clear()
        flaky.script(fail())
        t0 = trio.current_time()
        with pytest.raises(ConnectError):
            await echo(client)  # tokens 2 -> 1: no retry
        assert trio.current_time() == t0
        for _ in range(3):
            await echo(client)  # successes: 1 -> 4
        flaky.seen.clear()
        flaky.script(fail())
        await echo(client)  # 4 -> 3: retried again
        assert flaky.attempts == [1, 2]
        budget = retry.statistics().budget
        assert budget is not None
        assert (budget.allowed, budget.refused, budget.balance) == (2, 2, 4.0)


async def test_a_retry_budget_allows_a_share_of_calls_plus_a_reserve(
    flaky_server: Server, flaky: FlakyEcho, autojump_clock: trio.testing.MockClock
) -> None:
    budget = RetryBudget(ttl=10, min_retries_per_sec=0.1, percent_can_retry=0.5)  # reserve: 1
    policy = RetryPolicy(2, jitter=False, budget=budget)
    async with client_for(flaky_server, RetryInterceptor(policy)) as client:
        retry = client.interceptors[0]
        assert isinstance(retry, RetryInterceptor)
        flaky.fail_always(count=1000)
        for _ in range(10):
            with pytest.raises(ConnectError):
                await echo(client)
        # 10 calls deposit 5 retries, the reserve adds 1: 6 retries, 4 refused.
        assert len(flaky.seen) == 16
        stats = retry.statistics()
        assert (stats.retries, stats.throttled) == (6, 4)
        with pytest.raises(ConnectError):
            await echo(client)  # this call's deposit (1/2 a retry) is not enough
        assert len(flaky.seen) == 17
        await trio.sleep(11)  # everything in the window expires; the reserve is whole again
        with pytest.raises(ConnectError):
            await echo(client)
        assert len(flaky.seen) == 19
        assert retry.statistics().retries == 7


async def test_the_default_pair_retries_a_unary_call_and_keeps_the_last_attempts_metadata(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    # Breaker then retry run fused, the first attempt on the call itself (no fork):
    # what a later attempt sees, and what the caller gets, must be as if forked.
    flaky.script(fail(Code.UNAVAILABLE, trailers={"x-which": "first"}), ok())
    seen: list[tuple[int, list[str], int]] = []

    async def outermost(call: Call[Any, Any], call_next: CallNext) -> None:
        await call_next(call)
        seen.append(
            (call.attempt, call.response_headers.get_all("x-attempt"), call.responses_received)
        )

    retry = RetryInterceptor(RetryPolicy(initial_backoff=0.001, jitter=False))
    breaker = CircuitBreakerInterceptor()
    async with open_client(flaky_server.url, interceptors=[outermost, breaker, retry]) as client:
        response = await client.stub(ECHO).Echo.call(EchoRequest(text="x"))
        bound_breaker, bound_retry = client.interceptors[1:]
    assert response.message.text == "x"
    assert response.headers.get_all("x-attempt") == ["2"]
    assert "x-which" not in response.trailers
    assert [s.attempt for s in flaky.seen] == [1, 2]
    assert seen == [(2, ["2"], 1)]
    assert isinstance(bound_retry, RetryInterceptor)
    assert bound_retry.statistics().retries == 1
    assert isinstance(bound_breaker, CircuitBreakerInterceptor)
    stats = bound_breaker.breaker.statistics()
    assert (stats.consecutive_failures, stats.consecutive_successes) == (0, 1)
