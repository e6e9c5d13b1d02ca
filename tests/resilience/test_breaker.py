from __future__ import annotations

import copy
import itertools
import logging
import math
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import event, given, settings
from hypothesis import strategies as st

from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience._breaker import (
    DEFAULT_FAILURE_CODES,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerStatistics,
    CircuitOpenError,
    CircuitState,
    FailureRateWindow,
    Permit,
    is_failure_by_default,
)
from trioplugin.resilience._errors import AttemptTimeoutError

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
EPS = 1e-9
Transition = tuple[CircuitState, CircuitState]


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Interrupt(BaseException):
    """Stands in for trio.Cancelled, which cannot be constructed directly."""


def outage() -> ConnectError:
    return ConnectError(Code.UNAVAILABLE, "connection refused")


@dataclass
class Rig:
    breaker: CircuitBreaker
    clock: FakeClock
    events: list[Transition] = field(default_factory=list)

    def fail(self, times: int = 1) -> None:
        for _ in range(times):
            self.breaker.admit().record(outage())

    def succeed(self, times: int = 1) -> None:
        for _ in range(times):
            self.breaker.admit().record(None)

    def rejection(self) -> CircuitOpenError:
        with pytest.raises(CircuitOpenError) as caught:
            self.breaker.admit()
        return caught.value

    def stats(self) -> CircuitBreakerStatistics:
        return self.breaker.statistics()


def rig(now: float = 0.0, *, name: str = "kv", **config: Any) -> Rig:
    clock = FakeClock(now)
    breaker = CircuitBreaker(CircuitBreakerConfig(**config), name=name, clock=clock)
    result = Rig(breaker, clock)
    breaker.add_listener(lambda old, new: result.events.append((old, new)))
    return result


def opened(now: float = 0.0, **config: Any) -> Rig:
    """A rig whose circuit opened at ``now`` (with failure_threshold failures)."""
    config.setdefault("failure_threshold", 3)
    config.setdefault("timeout", 10.0)
    r = rig(now, **config)
    r.fail(config["failure_threshold"])
    assert r.breaker.state is OPEN
    return r


def half_open(**config: Any) -> Rig:
    """A rig whose circuit opened at 0.0 and is half-open at 10.0 (timeout 10)."""
    r = opened(0.0, **config)
    r.clock.now = 10.0
    assert r.breaker.state is HALF_OPEN
    return r


# --- state and config basics ----------------------------------------------------------------


def test_state_values_and_str() -> None:
    assert [state.value for state in CircuitState] == ["closed", "open", "half_open"]
    assert str(HALF_OPEN) == "half_open"
    assert f"{OPEN}" == "open"


def test_config_defaults() -> None:
    config = CircuitBreakerConfig()
    assert config.failure_threshold == 5
    assert config.success_threshold == 2
    assert config.timeout == 10.0
    assert config.on_state_change is None
    assert config.is_failure is None
    assert config.max_probes == 1
    assert config.window is None
    window = FailureRateWindow()
    assert (window.kind, window.size, window.failure_rate_threshold) == ("count", 100, 0.5)
    assert (window.minimum_calls, window.slow_call_duration) == (10, None)
    assert window.slow_call_rate_threshold == 1.0


def test_configs_are_frozen_and_slotted() -> None:
    config = CircuitBreakerConfig()
    with pytest.raises(AttributeError):
        config.timeout = 1.0  # type: ignore[misc]
    assert not hasattr(config, "__dict__")
    assert not hasattr(FailureRateWindow(), "__dict__")


def test_breaker_properties() -> None:
    config = CircuitBreakerConfig(failure_threshold=2)
    breaker = CircuitBreaker(config, name="kv", clock=FakeClock())
    assert breaker.config is config
    assert breaker.name == "kv"
    assert breaker.state is CLOSED
    assert repr(breaker) == "<CircuitBreaker 'kv' closed>"
    assert CircuitBreaker().config == CircuitBreakerConfig()
    assert CircuitBreaker().name == ""


def test_default_clock_is_not_read_outside_trio() -> None:
    breaker = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1))
    assert breaker.state is CLOSED
    breaker.admit().record(None)
    assert breaker.statistics().consecutive_successes == 1


async def test_default_clock_is_trio_time(autojump_clock: trio.testing.MockClock) -> None:
    breaker = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1, timeout=10.0), name="kv")
    breaker.admit().record(outage())
    with pytest.raises(CircuitOpenError) as caught:
        breaker.admit()
    assert caught.value.retry_after == pytest.approx(10.0)
    await trio.sleep(10.0)
    assert breaker.state is HALF_OPEN


# --- CLOSED ---------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [1, 2, 5])
def test_opens_at_exactly_failure_threshold(threshold: int) -> None:
    r = rig(42.0, failure_threshold=threshold)
    r.fail(threshold - 1)
    assert r.breaker.state is CLOSED
    assert r.stats().consecutive_failures == threshold - 1
    assert r.events == []
    r.fail()
    assert r.breaker.state is OPEN
    assert r.events == [(CLOSED, OPEN)]
    assert r.stats().times_opened == 1
    assert r.rejection().retry_after == 10.0  # opened at 42.0, now 42.0


def test_success_resets_consecutive_failures() -> None:
    r = rig(failure_threshold=3)
    r.fail(2)
    r.succeed()
    stats = r.stats()
    assert (stats.consecutive_failures, stats.consecutive_successes) == (0, 1)
    r.fail(2)
    assert r.breaker.state is CLOSED
    assert r.stats().consecutive_failures == 2
    assert r.stats().consecutive_successes == 0
    r.fail()
    assert r.breaker.state is OPEN


def test_non_failure_error_counts_as_success() -> None:
    r = rig(failure_threshold=2)
    r.fail()
    r.breaker.admit().record(ConnectError(Code.NOT_FOUND, "no such key"))
    assert r.stats().consecutive_failures == 0
    assert r.stats().consecutive_successes == 1
    r.fail()
    assert r.breaker.state is CLOSED


def test_closed_calls_are_not_probes_and_unlimited() -> None:
    r = rig(max_probes=1)
    permits = [r.breaker.admit() for _ in range(50)]
    assert not any(permit.is_probe for permit in permits)
    assert r.stats().probes_in_flight == 0


# --- OPEN -----------------------------------------------------------------------------------


def test_open_rejects_with_exact_retry_after_until_timeout() -> None:
    r = opened(100.0, timeout=10.0)
    first = r.rejection()
    assert first.retry_after == 10.0
    assert first.reason == "open"
    r.clock.now = 102.5
    assert r.rejection().retry_after == 7.5
    r.clock.now = 110.0 - EPS
    assert r.rejection().retry_after == (100.0 + 10.0) - (110.0 - EPS)
    assert r.breaker.state is OPEN
    assert r.stats().rejected == 3
    assert r.events == [(CLOSED, OPEN)]
    r.clock.now = 110.0
    assert r.breaker.state is HALF_OPEN
    assert r.events == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    assert r.stats().rejected == 3


def test_admit_at_timeout_moves_to_half_open_and_admits_a_probe() -> None:
    r = opened(0.0, timeout=10.0)
    r.clock.now = 10.0
    permit = r.breaker.admit()
    assert permit.is_probe
    assert r.events == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    assert r.stats().probes_in_flight == 1
    assert r.stats().rejected == 0


def test_long_after_timeout_still_half_opens_once() -> None:
    r = opened(0.0, timeout=10.0)
    r.clock.now = 1e6
    assert r.breaker.state is HALF_OPEN
    assert r.breaker.state is HALF_OPEN
    assert r.events == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


def test_open_rejection_error() -> None:
    r = opened(0.0, timeout=10.0)
    r.clock.now = 6.8
    error = r.rejection()
    assert isinstance(error, ConnectError)
    assert error.code is Code.UNAVAILABLE
    assert not error.wire
    assert error.breaker_name == "kv"
    cause = " (last failure: unavailable: connection refused)"
    assert error.message == "circuit open for 'kv': calls are refused for 3.2 s more" + cause
    assert str(error) == (
        "unavailable: circuit open for 'kv': calls are refused for 3.2 s more" + cause
    )


def test_timeout_elapsing_without_a_read_rejects_nothing_extra() -> None:
    r = opened(0.0, timeout=10.0)
    r.clock.now = 5.0
    r.rejection()
    r.clock.now = 20.0
    stats = r.stats()  # statistics read the state too
    assert stats.state is HALF_OPEN
    assert stats.rejected == 1


# --- HALF_OPEN ------------------------------------------------------------------------------


@pytest.mark.parametrize("max_probes", [1, 3, 10])
def test_half_open_admits_exactly_max_probes(max_probes: int) -> None:
    r = half_open(max_probes=max_probes)
    permits: list[Permit] = []
    errors: list[CircuitOpenError] = []
    for _ in range(10):  # ten would-be concurrent callers
        try:
            permits.append(r.breaker.admit())
        except CircuitOpenError as refusal:
            errors.append(refusal)
    assert len(permits) == max_probes
    assert all(permit.is_probe for permit in permits)
    assert len(errors) == 10 - max_probes
    for error in errors:
        assert error.retry_after == 0.0
        assert error.reason == "half_open"
        assert error.message.startswith("circuit half-open for 'kv': a probe is already in flight")
    stats = r.stats()
    assert stats.probes_in_flight == max_probes
    assert stats.rejected == 10 - max_probes
    assert stats.state is HALF_OPEN


def test_released_probe_frees_its_slot_only() -> None:
    r = half_open(max_probes=1)
    probe = r.breaker.admit()
    assert r.rejection().reason == "half_open"
    probe.release()
    stats = r.stats()
    assert (stats.state, stats.probes_in_flight, stats.consecutive_successes) == (HALF_OPEN, 0, 0)
    assert r.events == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    again = r.breaker.admit()
    assert again.is_probe
    again.record(None)
    assert r.stats().consecutive_successes == 1


@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), Interrupt(), SystemExit(1)])
def test_probe_ended_by_base_exception_is_a_release(interruption: BaseException) -> None:
    r = half_open(max_probes=1)
    r.breaker.admit().record(interruption)
    stats = r.stats()
    assert (stats.state, stats.probes_in_flight) == (HALF_OPEN, 0)
    assert (stats.consecutive_failures, stats.consecutive_successes) == (0, 0)
    assert r.breaker.admit().is_probe


def test_probe_failure_reopens_with_a_fresh_opened_at() -> None:
    r = half_open(max_probes=1, timeout=10.0)
    r.clock.now = 15.0
    probe = r.breaker.admit()
    r.clock.now = 17.0
    probe.record(outage())
    assert r.breaker.state is OPEN
    assert r.events == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]
    assert r.rejection().retry_after == 10.0
    r.clock.now = 27.0 - EPS
    assert r.breaker.state is OPEN
    r.clock.now = 27.0
    assert r.breaker.state is HALF_OPEN
    assert r.stats().times_opened == 2


def test_one_failing_probe_among_several_reopens() -> None:
    r = half_open(max_probes=3, success_threshold=3)
    first, second, third = (r.breaker.admit() for _ in range(3))
    first.record(None)
    second.record(outage())
    assert r.breaker.state is OPEN
    third.record(None)  # stale: its slot died with the half-open generation
    stats = r.stats()
    assert (stats.state, stats.probes_in_flight, stats.consecutive_successes) == (OPEN, 0, 0)


@pytest.mark.parametrize("success_threshold", [1, 2, 4])
def test_success_threshold_probe_successes_close(success_threshold: int) -> None:
    r = half_open(max_probes=1, success_threshold=success_threshold)
    for done in range(1, success_threshold):
        r.breaker.admit().record(None)
        assert r.breaker.state is HALF_OPEN
        assert r.stats().consecutive_successes == done
    r.breaker.admit().record(None)
    assert r.breaker.state is CLOSED
    assert r.events[-1] == (HALF_OPEN, CLOSED)
    stats = r.stats()
    assert (stats.consecutive_failures, stats.consecutive_successes) == (0, 0)
    assert not r.breaker.admit().is_probe


def test_probe_with_non_failure_error_is_a_success() -> None:
    r = half_open(success_threshold=1)
    r.breaker.admit().record(ConnectError(Code.INVALID_ARGUMENT, "bad key"))
    assert r.breaker.state is CLOSED


def test_closing_with_probes_still_in_flight_makes_them_stale() -> None:
    r = half_open(max_probes=3, success_threshold=2)
    probes = [r.breaker.admit() for _ in range(3)]
    probes[0].record(None)
    probes[1].record(None)
    assert r.breaker.state is CLOSED
    probes[2].record(outage())
    stats = r.stats()
    assert (stats.state, stats.consecutive_failures, stats.probes_in_flight) == (CLOSED, 0, 0)


# --- generations ----------------------------------------------------------------------------


def test_failure_admitted_before_opening_does_not_extend_the_open_period() -> None:
    r = rig(0.0, failure_threshold=2, timeout=10.0)
    late = r.breaker.admit()
    r.fail(2)
    assert r.breaker.state is OPEN
    r.clock.now = 5.0
    late.record(outage())
    assert r.events == [(CLOSED, OPEN)]
    assert r.rejection().retry_after == 5.0
    assert r.stats().times_opened == 1
    r.clock.now = 10.0
    assert r.breaker.state is HALF_OPEN


def test_closed_era_calls_finishing_in_half_open_are_neither_success_nor_failure() -> None:
    r = rig(0.0, failure_threshold=2, timeout=10.0, success_threshold=1, max_probes=1)
    succeeds_late, fails_late, released_late = (r.breaker.admit() for _ in range(3))
    r.fail(2)
    r.clock.now = 10.0
    probe = r.breaker.admit()
    succeeds_late.record(None)
    fails_late.record(outage())
    released_late.release()
    stats = r.stats()
    assert (stats.state, stats.probes_in_flight) == (HALF_OPEN, 1)
    assert (stats.consecutive_failures, stats.consecutive_successes) == (0, 0)
    probe.record(None)
    assert r.breaker.state is CLOSED


def test_stale_probe_release_does_not_free_a_current_slot() -> None:
    r = half_open(max_probes=1, timeout=10.0)
    old_probe = r.breaker.admit()
    r.breaker.force_open()
    r.breaker.reset()
    r.fail(3)
    r.clock.now = 20.0
    current = r.breaker.admit()
    old_probe.release()
    assert r.stats().probes_in_flight == 1
    assert r.rejection().reason == "half_open"
    current.release()
    assert r.stats().probes_in_flight == 0


def test_a_permit_reports_once() -> None:
    r = rig(failure_threshold=3)
    permit = r.breaker.admit()
    permit.record(outage())
    permit.record(outage())
    permit.release()
    assert r.stats().consecutive_failures == 1
    other = r.breaker.admit()
    other.release()
    other.record(outage())
    assert r.stats().consecutive_failures == 1


def test_probe_reports_once() -> None:
    r = half_open(max_probes=2, success_threshold=2)
    probe = r.breaker.admit()
    probe.record(None)
    probe.record(None)
    probe.release()
    stats = r.stats()
    assert (stats.state, stats.consecutive_successes, stats.probes_in_flight) == (HALF_OPEN, 1, 0)


def test_calls_admitted_before_reset_are_stale() -> None:
    r = rig(failure_threshold=2)
    before = r.breaker.admit()
    r.breaker.reset()
    before.record(outage())
    assert r.stats().consecutive_failures == 0


# --- what counts as a failure ---------------------------------------------------------------

FIVE = [
    Code.UNAVAILABLE,
    Code.RESOURCE_EXHAUSTED,
    Code.INTERNAL,
    Code.UNKNOWN,
    Code.DEADLINE_EXCEEDED,
]
OTHERS = [code for code in Code if code not in FIVE]


def test_default_failure_codes() -> None:
    assert frozenset(FIVE) == DEFAULT_FAILURE_CODES
    assert len(OTHERS) == 11


@pytest.mark.parametrize("code", FIVE, ids=str)
def test_each_default_code_is_a_failure(code: Code) -> None:
    assert is_failure_by_default(ConnectError(code, "x", wire=True))
    r = rig(failure_threshold=1)
    r.breaker.admit().record(ConnectError(code, "x", wire=True))
    assert r.breaker.state is OPEN


def test_a_deadline_that_passed_here_is_the_callers_not_the_plugins() -> None:
    assert not is_failure_by_default(ConnectError(Code.DEADLINE_EXCEEDED, "not sent in time"))
    timed_out = AttemptTimeoutError("/s/M", attempt=2, timeout=1.0)
    assert is_failure_by_default(timed_out)
    assert is_failure_by_default(ConnectError(Code.UNAVAILABLE, "local too"))


@pytest.mark.parametrize("code", OTHERS, ids=str)
def test_other_codes_are_successes(code: Code) -> None:
    assert not is_failure_by_default(ConnectError(code, "x"))
    r = rig(failure_threshold=1)
    r.breaker.admit().record(ConnectError(code, "x"))
    assert r.breaker.state is CLOSED
    assert r.stats().consecutive_successes == 1


def test_circuit_open_error_never_counts() -> None:
    assert not is_failure_by_default(CircuitOpenError("downstream", 1.0))
    assert not is_failure_by_default(CircuitOpenError("downstream", 0.0, reason="half_open"))
    r = rig(failure_threshold=1)
    r.breaker.admit().record(CircuitOpenError("downstream", math.inf, reason="forced"))
    assert r.breaker.state is CLOSED


@pytest.mark.parametrize("error", [RuntimeError("boom"), OSError("reset"), ValueError()])
def test_a_plain_exception_is_a_failure(error: Exception) -> None:
    assert is_failure_by_default(error)
    r = rig(failure_threshold=1)
    r.breaker.admit().record(error)
    assert r.breaker.state is OPEN


@pytest.mark.parametrize("error", [KeyboardInterrupt(), Interrupt(), SystemExit(0)])
def test_a_base_exception_is_not_counted(error: BaseException) -> None:
    assert not is_failure_by_default(error)
    r = rig(failure_threshold=3)
    r.fail(2)
    r.breaker.admit().record(error)  # neither a failure nor a success: the count stays
    assert r.stats().consecutive_failures == 2
    r.fail()
    assert r.breaker.state is OPEN


def test_exception_groups_count_by_their_leaves() -> None:
    assert is_failure_by_default(ExceptionGroup("g", [ConnectError(Code.NOT_FOUND), outage()]))
    assert not is_failure_by_default(ExceptionGroup("g", [ConnectError(Code.NOT_FOUND)]))
    assert not is_failure_by_default(
        ExceptionGroup("g", [CircuitOpenError("kv", 1.0), ConnectError(Code.ABORTED)])
    )
    assert not is_failure_by_default(BaseExceptionGroup("g", [Interrupt(), outage()]))


def test_is_failure_replaces_the_default() -> None:
    def only_internal(error: BaseException) -> bool:
        return isinstance(error, ConnectError) and error.code is Code.INTERNAL

    r = rig(failure_threshold=2, is_failure=only_internal)
    for _ in range(5):
        r.breaker.admit().record(outage())
        r.breaker.admit().record(RuntimeError("not counted either"))
    assert r.breaker.state is CLOSED
    assert r.stats().consecutive_successes == 10
    r.breaker.admit().record(ConnectError(Code.INTERNAL, "x"))
    assert r.stats().consecutive_failures == 1
    r.breaker.admit().record(ConnectError(Code.INTERNAL, "x"))
    assert r.breaker.state is OPEN


def test_is_failure_can_count_circuit_open_errors_and_is_not_asked_about_base_exceptions() -> None:
    asked: list[BaseException] = []

    def everything(error: BaseException) -> bool:
        asked.append(error)
        return True

    r = rig(failure_threshold=2, is_failure=everything)
    r.breaker.admit().record(KeyboardInterrupt())
    assert asked == []
    nested = CircuitOpenError("downstream", 1.0)
    r.breaker.admit().record(nested)
    assert asked == [nested]
    assert r.stats().consecutive_failures == 1


def test_raising_is_failure_counts_a_failure_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(error: BaseException) -> bool:
        raise LookupError("predicate bug")

    r = rig(failure_threshold=1, is_failure=broken)
    with caplog.at_level(logging.ERROR, logger="trioplugin.resilience"):
        r.breaker.admit().record(ConnectError(Code.NOT_FOUND))
    assert r.breaker.state is OPEN
    [entry] = caplog.records
    assert entry.name == "trioplugin.resilience"
    assert entry.exc_info is not None
    assert isinstance(entry.exc_info[1], LookupError)


# --- callbacks ------------------------------------------------------------------------------


def test_callbacks_across_a_full_cycle_in_order() -> None:
    log: list[tuple[str, CircuitState, CircuitState]] = []
    r = rig(
        failure_threshold=1,
        success_threshold=1,
        timeout=10.0,
        on_state_change=lambda old, new: log.append(("config", old, new)),
    )
    r.breaker.add_listener(lambda old, new: log.append(("first", old, new)))
    r.breaker.add_listener(lambda old, new: log.append(("second", old, new)))
    r.fail()
    r.clock.now = 10.0
    r.succeed()
    r.fail()
    cycle = [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED), (CLOSED, OPEN)]
    assert r.events == cycle
    # on_state_change first, then the listeners in registration order (rig's own is first).
    expected = [(who, old, new) for old, new in cycle for who in ("config", "first", "second")]
    assert log == expected


def test_removed_listener_is_not_called() -> None:
    r = rig(failure_threshold=1)
    seen: list[Transition] = []
    remove = r.breaker.add_listener(lambda old, new: seen.append((old, new)))
    r.fail()
    remove()
    remove()  # a second removal does nothing
    r.breaker.reset()
    assert seen == [(CLOSED, OPEN)]
    assert r.events == [(CLOSED, OPEN), (OPEN, CLOSED)]


def test_the_same_function_may_listen_twice_and_be_removed_once() -> None:
    r = rig(failure_threshold=1)
    seen: list[Transition] = []

    def listener(old: CircuitState, new: CircuitState) -> None:
        seen.append((old, new))

    remove_first = r.breaker.add_listener(listener)
    r.breaker.add_listener(listener)
    remove_first()
    r.fail()
    assert seen == [(CLOSED, OPEN)]


def test_raising_callbacks_are_logged_and_change_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(old: CircuitState, new: CircuitState) -> None:
        raise RuntimeError(f"callback bug on {old} -> {new}")

    r = rig(failure_threshold=1, timeout=10.0, on_state_change=broken)
    later: list[Transition] = []
    r.breaker.add_listener(broken)
    r.breaker.add_listener(lambda old, new: later.append((old, new)))
    with caplog.at_level(logging.ERROR, logger="trioplugin.resilience"):
        r.fail()
        assert r.breaker.state is OPEN
        r.clock.now = 10.0
        assert r.breaker.state is HALF_OPEN
    assert later == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    assert r.events == later
    assert len(caplog.records) == 4  # two broken callbacks, two transitions
    for entry in caplog.records:
        assert entry.name == "trioplugin.resilience"
        assert entry.levelno == logging.ERROR
        assert entry.exc_info is not None
        assert isinstance(entry.exc_info[1], RuntimeError)
    assert "closed -> open" in caplog.records[0].getMessage()
    assert "'kv'" in caplog.records[0].getMessage()


def test_reentrant_transition_from_a_callback_is_queued_not_nested() -> None:
    depth = 0
    log: list[tuple[str, CircuitState, CircuitState, int]] = []
    breaker = CircuitBreaker(
        CircuitBreakerConfig(failure_threshold=1), name="kv", clock=FakeClock()
    )

    def resetter(old: CircuitState, new: CircuitState) -> None:
        nonlocal depth
        depth += 1
        log.append(("resetter", old, new, depth))
        if new is OPEN:
            breaker.reset()
            assert breaker.state is CLOSED  # applied at once
            assert log[-1][0] == "resetter"  # but not announced yet
        depth -= 1

    def watcher(old: CircuitState, new: CircuitState) -> None:
        nonlocal depth
        depth += 1
        log.append(("watcher", old, new, depth))
        depth -= 1

    breaker.add_listener(resetter)
    breaker.add_listener(watcher)
    breaker.admit().record(outage())
    assert log == [
        ("resetter", CLOSED, OPEN, 1),
        ("watcher", CLOSED, OPEN, 1),
        ("resetter", OPEN, CLOSED, 1),
        ("watcher", OPEN, CLOSED, 1),
    ]
    assert breaker.state is CLOSED


def test_chain_of_reentrant_transitions_is_delivered_in_order() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1), clock=clock)
    seen: list[Transition] = []

    def driver(old: CircuitState, new: CircuitState) -> None:
        seen.append((old, new))
        if len(seen) == 1:
            breaker.disable()  # OPEN -> CLOSED
            breaker.force_open()  # CLOSED -> OPEN
        elif len(seen) == 2:
            breaker.reset()  # from CLOSED, announced later: OPEN -> CLOSED

    breaker.add_listener(driver)
    breaker.admit().record(outage())
    assert seen == [(CLOSED, OPEN), (OPEN, CLOSED), (CLOSED, OPEN), (OPEN, CLOSED)]
    assert breaker.state is CLOSED
    assert breaker.statistics().times_opened == 2


def test_callbacks_see_the_new_state() -> None:
    states: list[CircuitState] = []
    breaker = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1), clock=FakeClock())
    breaker.add_listener(lambda old, new: states.append(breaker.state))
    breaker.admit().record(outage())
    assert states == [OPEN]


def test_listener_added_during_a_round_hears_only_later_transitions() -> None:
    breaker = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1), clock=FakeClock())
    late: list[Transition] = []

    def adder(old: CircuitState, new: CircuitState) -> None:
        if new is OPEN:
            breaker.add_listener(lambda o, n: late.append((o, n)))
            breaker.reset()

    breaker.add_listener(adder)
    breaker.admit().record(outage())
    assert late == [(OPEN, CLOSED)]


def test_a_listener_removed_by_an_earlier_one_is_skipped() -> None:
    breaker = CircuitBreaker(CircuitBreakerConfig(failure_threshold=1), clock=FakeClock())
    seen: list[Transition] = []
    removers: list[Callable[[], None]] = []
    breaker.add_listener(lambda old, new: removers[0]())
    removers.append(breaker.add_listener(lambda old, new: seen.append((old, new))))
    breaker.admit().record(outage())
    assert seen == []


# --- force_open, disable, reset -------------------------------------------------------------


def test_force_open_holds_until_reset() -> None:
    r = rig(0.0, timeout=10.0)
    r.breaker.force_open()
    assert r.events == [(CLOSED, OPEN)]
    error = r.rejection()
    assert error.retry_after == math.inf
    assert error.reason == "forced"
    assert error.message == "circuit forced open for 'kv': calls are refused until it is reset"
    r.clock.now = 1e9
    assert r.breaker.state is OPEN
    assert r.rejection().retry_after == math.inf
    stats = r.stats()
    assert (stats.state, stats.forced_open, stats.times_opened, stats.rejected) == (
        OPEN,
        True,
        1,
        2,
    )
    r.breaker.force_open()  # again: nothing new
    assert r.events == [(CLOSED, OPEN)]
    r.breaker.reset()
    assert r.events == [(CLOSED, OPEN), (OPEN, CLOSED)]
    assert r.breaker.state is CLOSED
    assert not r.stats().forced_open
    r.succeed()


def test_force_open_while_open_keeps_it_open_without_a_transition() -> None:
    r = opened(0.0, timeout=10.0)
    r.breaker.force_open()
    assert r.events == [(CLOSED, OPEN)]
    r.clock.now = 10.0
    assert r.breaker.state is OPEN
    assert r.rejection().retry_after == math.inf
    assert r.stats().times_opened == 1


def test_force_open_from_half_open_makes_probes_stale() -> None:
    r = half_open(max_probes=1, success_threshold=1)
    probe = r.breaker.admit()
    r.breaker.force_open()
    assert r.events[-1] == (HALF_OPEN, OPEN)
    probe.record(None)
    assert r.breaker.state is OPEN
    assert r.stats().probes_in_flight == 0


def test_disable_admits_everything_and_still_counts() -> None:
    r = rig(failure_threshold=2, window=FailureRateWindow(size=5, minimum_calls=1))
    r.breaker.disable()
    assert r.events == []
    r.fail(7)
    stats = r.stats()
    assert stats.state is CLOSED
    assert stats.disabled
    assert stats.consecutive_failures == 7
    assert stats.calls_in_window == 5
    assert stats.failure_rate == 1.0
    assert stats.times_opened == 0
    assert r.events == []
    r.succeed()
    assert r.stats().consecutive_successes == 1
    assert r.stats().consecutive_failures == 0


def test_disable_from_open_notifies_and_admits() -> None:
    r = opened(0.0)
    r.breaker.disable()
    assert r.events == [(CLOSED, OPEN), (OPEN, CLOSED)]
    assert r.breaker.state is CLOSED
    assert not r.breaker.admit().is_probe
    r.breaker.disable()
    assert r.events == [(CLOSED, OPEN), (OPEN, CLOSED)]


def test_disable_from_half_open_ends_the_probes() -> None:
    r = half_open(max_probes=2)
    probe = r.breaker.admit()
    r.breaker.disable()
    assert r.events[-1] == (HALF_OPEN, CLOSED)
    probe.record(outage())
    assert r.stats().consecutive_failures == 0
    assert r.stats().probes_in_flight == 0


def test_reset_after_disable_restores_the_thresholds() -> None:
    r = rig(failure_threshold=2)
    r.breaker.disable()
    r.fail(5)
    r.breaker.reset()
    stats = r.stats()
    assert (stats.disabled, stats.consecutive_failures) == (False, 0)
    assert r.events == []
    r.fail(2)
    assert r.breaker.state is OPEN


def test_force_open_and_disable_replace_each_other() -> None:
    r = rig()
    r.breaker.disable()
    r.breaker.force_open()
    stats = r.stats()
    assert (stats.state, stats.forced_open, stats.disabled) == (OPEN, True, False)
    r.breaker.disable()
    stats = r.stats()
    assert (stats.state, stats.forced_open, stats.disabled) == (CLOSED, False, True)
    assert r.events == [(CLOSED, OPEN), (OPEN, CLOSED)]


def test_reset_clears_counts_and_window_but_keeps_lifetime_totals() -> None:
    r = rig(failure_threshold=3, window=FailureRateWindow(size=10, minimum_calls=5))
    r.fail(3)
    r.rejection()
    r.breaker.reset()
    assert r.events == [(CLOSED, OPEN), (OPEN, CLOSED)]
    r.fail(2)
    r.breaker.reset()  # from CLOSED: no transition to announce
    assert r.events == [(CLOSED, OPEN), (OPEN, CLOSED)]
    stats = r.stats()
    assert (stats.consecutive_failures, stats.calls_in_window, stats.failure_rate) == (0, 0, None)
    assert (stats.times_opened, stats.rejected) == (1, 1)


# --- windows in the breaker -----------------------------------------------------------------


def record_pattern(r: Rig, pattern: str) -> None:
    for mark in pattern:
        r.breaker.admit().record(outage() if mark == "F" else None)


def test_count_window_no_verdict_below_minimum_calls() -> None:
    window = FailureRateWindow(size=10, minimum_calls=5, failure_rate_threshold=0.5)
    r = rig(failure_threshold=100, window=window)
    record_pattern(r, "FFFF")
    stats = r.stats()
    assert (stats.state, stats.calls_in_window, stats.failure_rate) == (CLOSED, 4, None)
    record_pattern(r, "F")
    assert r.breaker.state is OPEN
    assert r.stats().calls_in_window == 0  # cleared by the transition


def test_count_window_exact_threshold_boundary() -> None:
    window = FailureRateWindow(size=10, minimum_calls=10, failure_rate_threshold=0.5)
    r = rig(failure_threshold=100, window=window)
    record_pattern(r, "SFSFSFSFS")
    assert r.stats().failure_rate is None
    record_pattern(r, "S")
    stats = r.stats()
    assert (stats.calls_in_window, stats.failure_rate, stats.state) == (10, 0.4, CLOSED)
    record_pattern(r, "F")  # the oldest S leaves: 5 of 10
    assert r.breaker.state is OPEN
    assert r.events == [(CLOSED, OPEN)]


def test_count_window_threshold_that_is_not_a_binary_fraction() -> None:
    window = FailureRateWindow(size=10, minimum_calls=10, failure_rate_threshold=0.3)
    r = rig(failure_threshold=100, window=window)
    record_pattern(r, "SSSSSSSSFF")
    assert r.stats().failure_rate == 0.2
    record_pattern(r, "F")  # 3 of 10 == 0.3
    assert r.breaker.state is OPEN


def test_count_window_minimum_is_capped_at_size() -> None:
    window = FailureRateWindow(size=4, minimum_calls=100, failure_rate_threshold=1.0)
    r = rig(failure_threshold=100, window=window)
    record_pattern(r, "FFF")
    assert r.stats().failure_rate is None
    record_pattern(r, "F")
    assert r.breaker.state is OPEN


def test_time_window_calls_leave_after_size_seconds() -> None:
    # 10 s window: buckets of 10/64 = 0.15625 s; these times are bucket starts.
    window = FailureRateWindow(kind="time", size=10.0, minimum_calls=3, failure_rate_threshold=0.5)
    r = rig(0.0, failure_threshold=100, window=window)
    record_pattern(r, "F")
    r.clock.now = 1.25
    record_pattern(r, "S")
    r.clock.now = 2.5
    record_pattern(r, "S")
    stats = r.stats()
    assert (stats.calls_in_window, stats.failure_rate) == (3, 1 / 3)
    r.clock.now = 10.0 - EPS
    assert r.stats().calls_in_window == 3
    r.clock.now = 10.0
    stats = r.stats()
    assert (stats.calls_in_window, stats.failure_rate) == (2, None)
    record_pattern(r, "F")  # S S F
    assert r.stats().failure_rate == 1 / 3
    r.clock.now = 11.25  # the S of 1.25 leaves: S F F
    record_pattern(r, "F")
    assert r.breaker.state is OPEN


def test_time_window_empties_after_a_long_quiet_spell() -> None:
    window = FailureRateWindow(kind="time", size=5.0, minimum_calls=1)
    r = rig(0.0, failure_threshold=100, window=window)
    record_pattern(r, "SSSS")
    r.clock.now = 1000.0
    assert r.stats().calls_in_window == 0
    record_pattern(r, "S")
    assert r.stats().calls_in_window == 1


def test_slow_call_rate_opens() -> None:
    window = FailureRateWindow(
        size=4,
        minimum_calls=4,
        failure_rate_threshold=1.0,
        slow_call_duration=2.0,
        slow_call_rate_threshold=0.5,
    )
    r = rig(0.0, failure_threshold=100, window=window)

    def call(duration: float, *, fail: bool = False) -> None:
        permit = r.breaker.admit()
        r.clock.now += duration
        permit.record(outage() if fail else None)

    call(1.0)
    call(2.0)  # exactly the slow duration: slow
    call(2.0 - EPS)
    stats = r.stats()
    assert (stats.calls_in_window, stats.slow_call_rate, stats.failure_rate) == (3, None, None)
    call(0.5, fail=True)
    stats = r.stats()
    assert (stats.slow_call_rate, stats.failure_rate, stats.state) == (0.25, 0.25, CLOSED)
    call(3.0, fail=True)  # the first call leaves: slow 2 of 4 (a slow failure is slow)
    assert r.breaker.state is OPEN


def test_slow_call_rate_is_none_without_a_slow_rule() -> None:
    r = rig(window=FailureRateWindow(size=2, minimum_calls=1))
    record_pattern(r, "S")
    stats = r.stats()
    assert (stats.failure_rate, stats.slow_call_rate) == (0.0, None)


def test_window_ignores_calls_in_half_open() -> None:
    window = FailureRateWindow(size=10, minimum_calls=5)
    r = half_open(max_probes=1, success_threshold=2, window=window)
    r.breaker.admit().record(None)
    assert r.stats().calls_in_window == 0


# --- statistics -----------------------------------------------------------------------------


def test_statistics_fields() -> None:
    window = FailureRateWindow(
        size=4, minimum_calls=2, failure_rate_threshold=1.0, slow_call_duration=1.0
    )
    r = rig(0.0, name="kv", failure_threshold=3, max_probes=2, window=window)
    assert r.stats() == CircuitBreakerStatistics(
        name="kv",
        state=CLOSED,
        consecutive_failures=0,
        consecutive_successes=0,
        probes_in_flight=0,
        calls_in_window=0,
        failure_rate=None,
        slow_call_rate=None,
        times_opened=0,
        rejected=0,
        forced_open=False,
        disabled=False,
    )
    record_pattern(r, "SSF")
    assert r.stats() == CircuitBreakerStatistics(
        name="kv",
        state=CLOSED,
        consecutive_failures=1,
        consecutive_successes=0,
        probes_in_flight=0,
        calls_in_window=3,
        failure_rate=1 / 3,
        slow_call_rate=0.0,
        times_opened=0,
        rejected=0,
        forced_open=False,
        disabled=False,
    )
    record_pattern(r, "FF")
    r.rejection()
    r.clock.now = 10.0
    r.breaker.admit()
    stats = r.stats()
    assert (stats.state, stats.probes_in_flight, stats.times_opened, stats.rejected) == (
        HALF_OPEN,
        1,
        1,
        1,
    )
    assert (stats.calls_in_window, stats.failure_rate, stats.slow_call_rate) == (0, None, None)


def test_statistics_without_a_window() -> None:
    r = rig()
    record_pattern(r, "FS")
    stats = r.stats()
    assert (stats.calls_in_window, stats.failure_rate, stats.slow_call_rate) == (0, None, None)


# --- config validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("failure_threshold", 0),
        ("failure_threshold", -1),
        ("failure_threshold", 2.0),
        ("failure_threshold", True),
        ("success_threshold", 0),
        ("success_threshold", "2"),
        ("max_probes", 0),
        ("max_probes", 1.5),
        ("timeout", 0),
        ("timeout", -1.0),
        ("timeout", math.nan),
        ("timeout", math.inf),
        ("timeout", "10"),
        ("timeout", False),
        ("on_state_change", 3),
        ("is_failure", "yes"),
        ("window", object()),
    ],
)
def test_config_validation_names_the_field(field_name: str, value: object) -> None:
    with pytest.raises(ValueError, match=re.escape(field_name)) as caught:
        CircuitBreakerConfig(**{field_name: value})  # type: ignore[arg-type]
    assert repr(value) in str(caught.value)


def test_config_accepts_boundaries() -> None:
    config = CircuitBreakerConfig(
        failure_threshold=1, success_threshold=1, timeout=EPS, max_probes=1
    )
    assert config.timeout == EPS
    assert CircuitBreakerConfig(timeout=3).timeout == 3


# --- CircuitOpenError -----------------------------------------------------------------------


def test_circuit_open_error_messages() -> None:
    assert CircuitOpenError("kv", 3.2).message == (
        "circuit open for 'kv': calls are refused for 3.2 s more"
    )
    assert CircuitOpenError("kv", 0.0123).message == (
        "circuit open for 'kv': calls are refused for 0.012 s more"
    )
    assert CircuitOpenError("", 2.0).message == "circuit open: calls are refused for 2.0 s more"
    assert CircuitOpenError("kv", 0.0, reason="half_open").message == (
        "circuit half-open for 'kv': a probe is already in flight"
    )
    forced = CircuitOpenError("kv", math.inf, reason="forced")
    assert forced.message.startswith("circuit forced open for 'kv'")
    assert CircuitOpenError("kv", math.inf).message == "circuit open for 'kv': calls are refused"
    for error in (forced, CircuitOpenError("kv", 1.0)):
        assert "circuit" in str(error)
        assert error.code is Code.UNAVAILABLE
        assert not error.wire


def test_circuit_open_error_is_distinguishable_from_an_outage() -> None:
    real = ConnectError(Code.UNAVAILABLE, "connection refused")
    refusal = CircuitOpenError("kv", 1.0)
    assert refusal.code is real.code
    assert isinstance(refusal, CircuitOpenError)
    assert not isinstance(real, CircuitOpenError)
    assert refusal.message.startswith("circuit ")


def test_circuit_open_error_copies_and_pickles() -> None:
    error = CircuitOpenError("kv", 2.5, reason="open")
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert isinstance(clone, CircuitOpenError)
        assert (clone.breaker_name, clone.retry_after, clone.reason) == ("kv", 2.5, "open")
        assert clone.message == error.message
    assert repr(error) == "CircuitOpenError('kv', 2.5, reason='open')"


@pytest.mark.parametrize(
    ("retry_after", "reason", "needle"),
    [(-1.0, "open", "retry_after"), (math.nan, "open", "retry_after"), (1.0, "shut", "reason")],
)
def test_circuit_open_error_validation(retry_after: float, reason: Any, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        CircuitOpenError("kv", retry_after, reason=reason)


# --- property: random operation sequences ---------------------------------------------------


@dataclass
class Model:
    """What the test can know about the breaker from outside."""

    breaker: CircuitBreaker
    clock: FakeClock
    config: CircuitBreakerConfig
    events: list[tuple[CircuitState, CircuitState, float]] = field(default_factory=list)
    config_events: list[Transition] = field(default_factory=list)
    quiet_resets: int = 0  # resets from CLOSED start a generation without a transition
    consecutive_failures: int = 0
    rejected: int = 0
    permits: list[tuple[Permit, int]] = field(default_factory=list)  # (permit, epoch)
    seen_epoch: int = 0

    @property
    def epoch(self) -> int:
        return len(self.events) + self.quiet_resets

    def sync(self) -> None:
        """A new generation starts every count afresh."""
        if self.epoch != self.seen_epoch:
            self.seen_epoch = self.epoch
            self.consecutive_failures = 0

    def check(self) -> CircuitBreakerStatistics:
        stats = self.breaker.statistics()
        self.sync()
        transitions = [(old, new) for old, new, _ in self.events]
        assert transitions == self.config_events  # each transition announced once to each
        assert all(old is not new for old, new in transitions)
        if transitions:
            assert transitions[0][0] is CLOSED
            for (_, new), (old, _) in itertools.pairwise(transitions):
                assert new is old
        assert stats.state is (transitions[-1][1] if transitions else CLOSED)
        assert stats.times_opened == sum(new is OPEN for _, new in transitions)
        assert stats.rejected == self.rejected
        assert 0 <= stats.probes_in_flight <= self.config.max_probes
        live_probes = sum(p.is_probe and e == self.epoch for p, e in self.permits)
        assert stats.probes_in_flight == live_probes
        if stats.state is not HALF_OPEN:
            assert stats.probes_in_flight == 0
        if stats.state is CLOSED:
            assert stats.consecutive_failures == self.consecutive_failures
            if not stats.disabled:
                assert stats.consecutive_failures < self.config.failure_threshold
        if stats.forced_open:
            assert stats.state is OPEN
        return stats

    def opened_at(self) -> float:
        return next(at for _, new, at in reversed(self.events) if new is OPEN)


_DURATIONS = [0.0, EPS, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]


@st.composite
def operation(draw: st.DrawFn) -> tuple[str, Any]:
    """One step, weighted so that sequences often get through OPEN into HALF_OPEN."""
    roll = draw(st.integers(0, 99))
    if roll < 30:
        return ("admit", 0)
    if roll < 60:
        return (draw(st.sampled_from(["succeed", "fail"])), draw(st.integers(0, 20)))
    if roll < 80:
        return ("advance", draw(st.sampled_from(_DURATIONS)))
    if roll < 92:
        return (draw(st.sampled_from(["cancel", "release"])), draw(st.integers(0, 20)))
    if roll < 97:
        return ("state", 0)
    # Rare: force_open and disable hold the circuit until a reset.
    return (draw(st.sampled_from(["reset", "force_open", "reset", "disable"])), 0)


@settings(max_examples=300, deadline=None)
@given(
    failure_threshold=st.integers(1, 4),
    success_threshold=st.integers(1, 3),
    max_probes=st.integers(1, 3),
    timeout=st.sampled_from([1.0, 2.5, 10.0]),
    operations=st.lists(operation(), min_size=40, max_size=120),
)
def test_random_operation_sequences_keep_the_invariants(
    failure_threshold: int,
    success_threshold: int,
    max_probes: int,
    timeout: float,
    operations: list[tuple[str, Any]],
) -> None:
    clock = FakeClock(100.0)
    config_events: list[Transition] = []
    config = CircuitBreakerConfig(
        failure_threshold=failure_threshold,
        success_threshold=success_threshold,
        max_probes=max_probes,
        timeout=timeout,
        on_state_change=lambda old, new: config_events.append((old, new)),
    )
    breaker = CircuitBreaker(config, name="prop", clock=clock)
    model = Model(breaker, clock, config, config_events=config_events)
    breaker.add_listener(lambda old, new: model.events.append((old, new, clock.now)))

    for name, argument in operations:
        stats = model.check()
        if name == "admit":
            try:
                permit = breaker.admit()
            except CircuitOpenError as error:
                model.rejected += 1
                event(f"rejected: {error.reason}")
                stats = breaker.statistics()
                assert stats.state in (OPEN, HALF_OPEN)
                if error.reason == "forced":
                    assert stats.forced_open
                    assert error.retry_after == math.inf
                elif error.reason == "open":
                    assert stats.state is OPEN
                    assert error.retry_after == model.opened_at() + timeout - clock.now
                    assert error.retry_after > 0
                else:
                    assert stats.state is HALF_OPEN
                    assert stats.probes_in_flight == max_probes
                    assert error.retry_after == 0.0
            else:
                if breaker.statistics().state is CLOSED:
                    assert not permit.is_probe
                model.permits.append((permit, model.epoch))
        elif name in ("succeed", "fail", "cancel", "release"):
            if not model.permits:
                continue
            permit, epoch = model.permits.pop(argument % len(model.permits))
            current = epoch == model.epoch
            before_events = len(model.events)
            if name == "succeed":
                permit.record(None)
            elif name == "fail":
                permit.record(outage())
            elif name == "cancel":
                permit.record(Interrupt())
            else:
                permit.release()
            if not current or name in ("cancel", "release"):
                assert len(model.events) == before_events  # stale or uncounted: no effect
                after = breaker.statistics()
                assert after.state is stats.state
                assert after.consecutive_failures == stats.consecutive_failures
                assert after.consecutive_successes == stats.consecutive_successes
                expected_probes = stats.probes_in_flight - (current and permit.is_probe)
                assert after.probes_in_flight == expected_probes
            elif not permit.is_probe:
                if name == "succeed":
                    model.consecutive_failures = 0
                    assert len(model.events) == before_events
                elif len(model.events) == before_events:
                    model.consecutive_failures += 1
                else:
                    assert [e[:2] for e in model.events[before_events:]] == [(CLOSED, OPEN)]
                    assert model.consecutive_failures + 1 == failure_threshold
                    assert not stats.disabled
            else:
                new = [e[:2] for e in model.events[before_events:]]
                if name == "fail":
                    assert new == [(HALF_OPEN, OPEN)]
                else:
                    closes = stats.consecutive_successes + 1 == success_threshold
                    assert new == ([(HALF_OPEN, CLOSED)] if closes else [])
        elif name == "advance":
            clock.now += argument
        elif name == "force_open":
            breaker.force_open()
            assert breaker.statistics().forced_open
        elif name == "disable":
            breaker.disable()
        elif name == "reset":
            before_events = len(model.events)
            was_closed = stats.state is CLOSED
            breaker.reset()
            if was_closed:
                assert len(model.events) == before_events
                model.quiet_resets += 1
        else:
            assert breaker.state is breaker.statistics().state
    model.check()
    for source, target, _ in model.events:
        event(f"{source} -> {target}")
