"""Retry limiters: gRPC A6 throttling and Finagle's RetryBudget, step by step."""

from __future__ import annotations

import math

import pytest
import trio

from trioplugin.resilience._limiters import (
    RetryBudget,
    RetryLimiter,
    RetryLimiterStatistics,
    RetryThrottling,
    _Budget,
    _WindowedAdder,
)


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def tokens(limiter: RetryLimiter) -> float:
    return limiter.statistics().balance


def fail(limiter: RetryLimiter, times: int = 1) -> None:
    for _ in range(times):
        limiter.record_outcome(failure=True)


def succeed(limiter: RetryLimiter, times: int = 1) -> None:
    for _ in range(times):
        limiter.record_outcome(failure=False)


# --- gRPC A6 throttling ----------------------------------------------------------------


def test_throttling_defaults_are_a6s_example() -> None:
    config = RetryThrottling()
    assert (config.max_tokens, config.token_ratio) == (10.0, 0.1)


def test_throttle_starts_full() -> None:
    limiter = RetryThrottling().new_limiter()
    assert limiter.statistics() == RetryLimiterStatistics(
        kind="throttling", balance=10.0, capacity=10.0, allowed=0, refused=0
    )


def test_each_failure_takes_one_token_and_half_is_refused() -> None:
    limiter = RetryThrottling(max_tokens=10, token_ratio=0.1).new_limiter()
    for expected in (9.0, 8.0, 7.0, 6.0):
        fail(limiter)
        assert tokens(limiter) == expected
        assert limiter.try_acquire_retry() is True
    fail(limiter)
    assert tokens(limiter) == 5.0  # exactly max_tokens / 2: A6 says "less than or equal" throttles
    assert limiter.try_acquire_retry() is False
    succeed(limiter)
    assert tokens(limiter) == 5.1  # rises over the threshold
    assert limiter.try_acquire_retry() is True
    assert limiter.statistics().allowed == 5
    assert limiter.statistics().refused == 1


def test_threshold_is_strict_at_the_smallest_step() -> None:
    limiter = RetryThrottling(max_tokens=10, token_ratio=0.001).new_limiter()
    fail(limiter, 5)
    assert tokens(limiter) == 5.0
    assert limiter.try_acquire_retry() is False
    succeed(limiter)
    assert tokens(limiter) == 5.001
    assert limiter.try_acquire_retry() is True


def test_odd_max_tokens_threshold() -> None:
    limiter = RetryThrottling(max_tokens=3, token_ratio=0.5).new_limiter()
    fail(limiter)
    assert tokens(limiter) == 2.0
    assert limiter.try_acquire_retry() is True  # 2 > 1.5
    fail(limiter)
    assert limiter.try_acquire_retry() is False  # 1 <= 1.5
    succeed(limiter)
    assert tokens(limiter) == 1.5
    assert limiter.try_acquire_retry() is False  # 1.5 is not over 1.5
    succeed(limiter)
    assert limiter.try_acquire_retry() is True  # 2.0


def test_tokens_floor_at_zero() -> None:
    limiter = RetryThrottling().new_limiter()
    fail(limiter, 25)
    assert tokens(limiter) == 0.0
    succeed(limiter)
    assert tokens(limiter) == 0.1  # not -14.9


def test_tokens_cap_at_max() -> None:
    limiter = RetryThrottling().new_limiter()
    succeed(limiter, 100)
    assert tokens(limiter) == 10.0
    fail(limiter)
    succeed(limiter, 3)
    assert tokens(limiter) == 9.3
    succeed(limiter, 20)
    assert tokens(limiter) == 10.0


def test_refill_by_successes_is_exact() -> None:
    # 0.1 added fifty times in floats is 5.000000000000002, which would re-allow
    # retries a success early; milli-tokens keep A6's arithmetic exact.
    limiter = RetryThrottling().new_limiter()
    fail(limiter, 10)
    assert tokens(limiter) == 0.0
    succeed(limiter, 50)
    assert tokens(limiter) == 5.0
    assert limiter.try_acquire_retry() is False
    succeed(limiter)
    assert tokens(limiter) == 5.1
    assert limiter.try_acquire_retry() is True


def test_failure_ratio_above_token_ratio_keeps_throttling() -> None:
    # A6: throttles when failures exceed ~10% of successes with tokenRatio 0.1
    limiter = RetryThrottling().new_limiter()
    fail(limiter, 5)
    for _ in range(100):  # 1 failure per 9 successes: loses 0.1 every round
        succeed(limiter, 9)
        fail(limiter)
    assert tokens(limiter) == 0.0
    limiter = RetryThrottling().new_limiter()
    for _ in range(100):  # 1 failure per 11 successes: back at the cap every round
        succeed(limiter, 11)
        fail(limiter)
        assert limiter.try_acquire_retry() is True
    assert tokens(limiter) == 9.0  # never below 9 after a failure at the cap


def test_asking_does_not_change_tokens() -> None:
    limiter = RetryThrottling().new_limiter()
    fail(limiter, 2)
    for _ in range(1000):
        assert limiter.try_acquire_retry() is True
    assert tokens(limiter) == 8.0
    fail(limiter, 3)
    for _ in range(1000):
        assert limiter.try_acquire_retry() is False
    assert tokens(limiter) == 5.0
    assert limiter.statistics().allowed == 1000
    assert limiter.statistics().refused == 1000


def test_record_call_does_nothing_for_a6() -> None:
    limiter = RetryThrottling().new_limiter()
    fail(limiter, 5)
    before = limiter.statistics()
    for _ in range(100):
        limiter.record_call()
    assert limiter.statistics() == before


def test_new_limiters_are_independent() -> None:
    config = RetryThrottling()
    a, b = config.new_limiter(), config.new_limiter()
    fail(a, 10)
    assert tokens(a) == 0.0
    assert tokens(b) == 10.0


def test_statistics_counts() -> None:
    limiter = RetryThrottling(max_tokens=4, token_ratio=1).new_limiter()
    decisions = []
    for _ in range(4):
        fail(limiter)
        decisions.append(limiter.try_acquire_retry())
    assert decisions == [True, False, False, False]  # 3 > 2, then 2, 1, 0
    stats = limiter.statistics()
    assert (stats.kind, stats.balance, stats.capacity) == ("throttling", 0.0, 4.0)
    assert (stats.allowed, stats.refused) == (1, 3)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (0.5466, 0.546),  # A6's example: truncated, not rounded
        (0.1, 0.1),
        (0.0019, 0.001),
        (0.9999, 0.999),
        (1, 1.0),
        (2.5, 2.5),
        (0.001, 0.001),
        (0.29, 0.29),
        (1.0005, 1.0),
    ],
)
def test_token_ratio_keeps_three_decimal_places(given: float, kept: float) -> None:
    assert RetryThrottling(token_ratio=given).token_ratio == kept


def test_truncated_token_ratio_is_what_the_limiter_uses() -> None:
    limiter = RetryThrottling(max_tokens=10, token_ratio=0.5466).new_limiter()
    fail(limiter, 10)
    succeed(limiter)
    assert tokens(limiter) == 0.546
    assert RetryThrottling(token_ratio=0.5466) == RetryThrottling(token_ratio=0.546)


def test_max_tokens_bounds_are_accepted() -> None:
    assert RetryThrottling(max_tokens=1).max_tokens == 1.0
    assert RetryThrottling(max_tokens=1000).max_tokens == 1000.0
    assert RetryThrottling(max_tokens=10.0).new_limiter().statistics().capacity == 10.0
    limiter = RetryThrottling(max_tokens=1).new_limiter()
    assert limiter.try_acquire_retry() is True  # 1 > 0.5
    fail(limiter)
    assert limiter.try_acquire_retry() is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 0}, r"^max_tokens must be a whole number in \(0, 1000\], not 0$"),
        ({"max_tokens": -1}, r"^max_tokens must .*, not -1$"),
        ({"max_tokens": 1001}, r"^max_tokens must .*, not 1001$"),
        ({"max_tokens": 1000.5}, r"^max_tokens must .*, not 1000.5$"),
        ({"max_tokens": 10.5}, r"^max_tokens must .*, not 10.5$"),
        ({"max_tokens": math.nan}, r"^max_tokens must .*, not nan$"),
        ({"max_tokens": math.inf}, r"^max_tokens must .*, not inf$"),
        ({"max_tokens": True}, r"^max_tokens must .*, not True$"),
        ({"max_tokens": "10"}, r"^max_tokens must .*, not '10'$"),
        ({"token_ratio": 0}, r"^token_ratio must be a finite number > 0, not 0$"),
        ({"token_ratio": -0.1}, r"^token_ratio must .*, not -0.1$"),
        ({"token_ratio": math.nan}, r"^token_ratio must .*, not nan$"),
        ({"token_ratio": math.inf}, r"^token_ratio must .*, not inf$"),
        ({"token_ratio": True}, r"^token_ratio must .*, not True$"),
        ({"token_ratio": 0.0009}, r"^token_ratio must be at least 0.001 .*, not 0.0009$"),
    ],
)
def test_throttling_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryThrottling(**kwargs)  # type: ignore[arg-type]


# --- Finagle RetryBudget: amounts ------------------------------------------------------


def budget(clock: FakeClock, **kwargs: float) -> RetryLimiter:
    return RetryBudget(**kwargs).new_limiter(clock)


def internals(limiter: RetryLimiter) -> _Budget:
    assert isinstance(limiter, _Budget)
    return limiter


def test_budget_defaults_are_finagles() -> None:
    config = RetryBudget()
    assert (config.ttl, config.min_retries_per_sec, config.percent_can_retry) == (10.0, 10.0, 0.2)


def test_reserve_only() -> None:
    clock = FakeClock()
    limiter = budget(clock)
    assert limiter.statistics() == RetryLimiterStatistics(
        kind="budget", balance=100.0, capacity=100.0, allowed=0, refused=0
    )
    inner = internals(limiter)
    assert (inner._deposit, inner._withdrawal, inner._reserve) == (1000, 5000, 500_000)
    assert all(limiter.try_acquire_retry() for _ in range(100))
    assert limiter.try_acquire_retry() is False
    stats = limiter.statistics()
    assert (stats.balance, stats.capacity, stats.allowed, stats.refused) == (0.0, 100.0, 100, 1)


def test_deposits_raise_the_budget_by_percent() -> None:
    clock = FakeClock()
    limiter = budget(clock)
    for _ in range(1000):
        limiter.record_call()
    stats = limiter.statistics()
    assert (stats.balance, stats.capacity) == (300.0, 300.0)  # 100 + 1000 * 0.2
    assert sum(limiter.try_acquire_retry() for _ in range(400)) == 300


def test_five_calls_buy_one_retry_without_reserve() -> None:
    clock = FakeClock()
    limiter = budget(clock, min_retries_per_sec=0)
    assert limiter.try_acquire_retry() is False
    for _ in range(4):
        limiter.record_call()
    assert limiter.statistics().balance == 0.0  # 4000 tokens < 5000
    assert limiter.try_acquire_retry() is False
    limiter.record_call()
    assert limiter.statistics().balance == 1.0
    assert limiter.try_acquire_retry() is True
    assert limiter.try_acquire_retry() is False


def test_withdrawals_lower_the_balance_not_the_capacity() -> None:
    clock = FakeClock()
    limiter = budget(clock)
    for _ in range(50):
        limiter.record_call()
    assert limiter.statistics().balance == 110.0
    for _ in range(30):
        assert limiter.try_acquire_retry() is True
    stats = limiter.statistics()
    assert (stats.balance, stats.capacity, stats.allowed) == (80.0, 110.0, 30)


def test_record_outcome_does_nothing_for_a_budget() -> None:
    clock = FakeClock()
    limiter = budget(clock)
    limiter.record_call()
    before = limiter.statistics()
    fail(limiter, 1000)
    succeed(limiter, 1000)
    assert limiter.statistics() == before


def test_withdrawal_is_truncated() -> None:
    clock = FakeClock()
    limiter = budget(clock, min_retries_per_sec=0, percent_can_retry=0.3)
    assert internals(limiter)._withdrawal == 3333  # int(1000 / 0.3)
    for _ in range(10):
        limiter.record_call()
    assert limiter.statistics().balance == 3.0  # 10000 // 3333


def test_percent_above_one() -> None:
    clock = FakeClock()
    limiter = budget(clock, min_retries_per_sec=0, percent_can_retry=2.0)
    for _ in range(10_000):
        limiter.record_call()
    assert limiter.statistics().balance == 20_000.0  # Finagle's test: (nReqs * percent).toInt
    limiter = budget(clock, min_retries_per_sec=0, percent_can_retry=1000)
    limiter.record_call()
    assert limiter.statistics().balance == 1000.0
    limiter = budget(clock, min_retries_per_sec=0, percent_can_retry=600)
    limiter.record_call()
    assert limiter.statistics().balance == 1000.0  # withdrawal int(1000 / 600) = 1, as Finagle


def test_percent_zero_means_reserve_only() -> None:
    clock = FakeClock()
    limiter = budget(clock, ttl=2, min_retries_per_sec=5, percent_can_retry=0)
    inner = internals(limiter)
    assert (inner._deposit, inner._withdrawal, inner._reserve) == (0, 1, 10)
    for _ in range(1000):
        limiter.record_call()
    assert limiter.statistics().balance == 10.0
    assert sum(limiter.try_acquire_retry() for _ in range(20)) == 10


def test_no_reserve_and_no_percent_never_allows() -> None:
    clock = FakeClock()
    limiter = budget(clock, min_retries_per_sec=0, percent_can_retry=0)
    for _ in range(1000):
        limiter.record_call()
        assert limiter.try_acquire_retry() is False
    stats = limiter.statistics()
    assert (stats.balance, stats.capacity, stats.allowed, stats.refused) == (0.0, 0.0, 0, 1000)


def test_tiny_percent_saturates_like_java() -> None:
    clock = FakeClock()
    limiter = budget(clock, percent_can_retry=1e-12)
    inner = internals(limiter)
    assert inner._withdrawal == 2**31 - 1
    assert inner._reserve == 100 * (2**31 - 1)
    assert limiter.statistics().balance == 100.0


def test_reserve_uses_whole_seconds_of_ttl() -> None:
    clock = FakeClock()
    limiter = budget(clock, ttl=1.5, min_retries_per_sec=10)
    assert limiter.statistics().balance == 10.0  # 10 * ttl.inSeconds (1), as Finagle
    assert internals(limiter)._adder._window == 150  # but the window is 1500 ms


def test_fractional_min_retries_per_sec() -> None:
    clock = FakeClock()
    assert budget(clock, min_retries_per_sec=0.5).statistics().balance == 5.0
    assert internals(budget(clock, min_retries_per_sec=0.33))._reserve == 16_500


def test_ttl_in_whole_milliseconds() -> None:
    clock = FakeClock()
    assert internals(budget(clock, ttl=1.001))._adder._window == 100  # 1001 ms // 10
    assert internals(budget(clock, ttl=60))._adder._window == 6000


@pytest.mark.parametrize(
    ("percent", "min_retries_per_sec", "ttl"),
    [
        (0.1, 0, 60),
        (0.5, 0, 60),
        (0.25, 0, 60),
        (0.75, 0, 60),
        (0.99, 0, 60),
        (0.999, 0, 60),
        (0.9999, 0, 60),
        (0.01, 0, 60),
        (0.001, 0, 60),
        (0.0001, 0, 60),
        (0.0, 10, 1),
        (0.0, 5, 2),
        (0.1, 10, 1),
        (0.5, 5, 2),
    ],
)
def test_finagles_own_budget_test(percent: float, min_retries_per_sec: int, ttl: float) -> None:
    # RetryBudgetTest.testBudget: frozen time, deposit then try a retry, 10,000 times
    clock = FakeClock()
    limiter = budget(
        clock, ttl=ttl, min_retries_per_sec=min_retries_per_sec, percent_can_retry=percent
    )
    min_retries = int(ttl) * min_retries_per_sec
    assert limiter.statistics().balance == min_retries
    retried = 0
    for _ in range(10_000):
        limiter.record_call()
        if limiter.try_acquire_retry():
            retried += 1
        else:
            assert limiter.statistics().balance == 0
    expected = int(10_000 * percent) + min_retries
    assert abs(expected - retried) <= 1


# --- Finagle RetryBudget: time ---------------------------------------------------------


def test_a_read_just_before_ttl_keeps_the_deposit_a_slice_longer() -> None:
    clock = FakeClock(0.0)
    limiter = budget(clock, min_retries_per_sec=0)
    for _ in range(5):
        limiter.record_call()  # the first use: the first slice begins at t = 0
    clock.now = 9.999
    assert limiter.statistics().balance == 1.0  # 9 slices skipped: 8 zeroed, the deposit kept
    clock.now = 10.0
    assert limiter.statistics().balance == 1.0  # the slice begun at 9.999 is not over yet


def test_deposit_expires_at_ttl_without_reads_in_between() -> None:
    clock = FakeClock(0.0)
    limiter = budget(clock, min_retries_per_sec=0)
    for _ in range(5):
        limiter.record_call()
    clock.now = 10.0
    assert limiter.statistics().balance == 0.0  # 10 slices passed: all 9 kept ones zeroed


def test_deposit_expires_at_ttl_when_read_every_slice() -> None:
    clock = FakeClock(0.0)
    limiter = budget(clock, min_retries_per_sec=0)
    for _ in range(5):
        limiter.record_call()
    for second in range(1, 10):
        clock.now = float(second)
        assert limiter.statistics().balance == 1.0, second
    clock.now = 9.999
    assert limiter.statistics().balance == 1.0
    clock.now = 10.0
    assert limiter.statistics().balance == 0.0


def test_deposit_late_in_a_slice_lives_a_slice_less() -> None:
    clock = FakeClock(0.0)
    limiter = budget(clock, min_retries_per_sec=0)
    limiter.statistics()  # the first slice begins at t = 0
    clock.now = 0.999
    for _ in range(5):
        limiter.record_call()  # still in the first slice
    clock.now = 9.999
    assert limiter.statistics().balance == 1.0
    clock.now = 10.0
    assert limiter.statistics().balance == 1.0  # the slice that began at 9.999 holds on
    # without the read at 9.999 it would be gone at 10.0, 9.001 s after the deposit
    clock = FakeClock(0.0)
    limiter = budget(clock, min_retries_per_sec=0)
    limiter.statistics()
    clock.now = 0.999
    for _ in range(5):
        limiter.record_call()
    clock.now = 10.0
    assert limiter.statistics().balance == 0.0


def test_slices_drift_with_the_reads() -> None:
    # A slice begins at the first use a width after the last one began (util's
    # WindowedAdder sets old = now()), so a read at 9.5 moves the last boundary.
    clock = FakeClock(0.0)
    limiter = budget(clock, min_retries_per_sec=0)
    for _ in range(5):
        limiter.record_call()
    clock.now = 9.5
    assert limiter.statistics().balance == 1.0
    clock.now = 10.499
    assert limiter.statistics().balance == 1.0
    clock.now = 10.5
    assert limiter.statistics().balance == 0.0


def test_withdrawals_expire_too_so_the_reserve_refills() -> None:
    clock = FakeClock(0.0)
    limiter = budget(clock)
    assert sum(limiter.try_acquire_retry() for _ in range(150)) == 100
    clock.now = 9.999
    assert limiter.try_acquire_retry() is False
    clock.now = 10.998  # the 9.999 read began the current slice
    assert limiter.statistics().balance == 0.0
    clock.now = 10.999  # it ends: the withdrawals' slice is overwritten
    assert limiter.statistics().balance == 100.0
    assert limiter.try_acquire_retry() is True


def test_balance_goes_negative_when_deposits_expire_before_withdrawals() -> None:
    clock = FakeClock(0.0)
    limiter = budget(clock, min_retries_per_sec=0)
    for _ in range(5):
        limiter.record_call()
    clock.now = 5.0
    assert limiter.try_acquire_retry() is True  # its withdrawal is in a later slice
    clock.now = 10.0
    stats = limiter.statistics()
    assert (stats.balance, stats.capacity) == (-1.0, 0.0)  # as Finagle's balance would say
    limiter.record_call()
    assert limiter.statistics().balance == 0.0  # -5000 + 1000 truncates toward zero
    assert limiter.try_acquire_retry() is False
    clock.now = 15.0
    assert limiter.statistics().balance == 0.0  # the withdrawal is gone, 1 deposit left
    for _ in range(4):
        limiter.record_call()
    assert limiter.try_acquire_retry() is True


def test_clock_stepping_back_stays_in_the_current_slice() -> None:
    clock = FakeClock(100.0)
    limiter = budget(clock, min_retries_per_sec=0)
    for _ in range(5):
        limiter.record_call()
    clock.now = 50.0
    assert limiter.statistics().balance == 1.0
    clock.now = 100.999
    assert limiter.statistics().balance == 1.0


def test_new_budget_reads_no_clock_until_used() -> None:
    def exploding() -> float:
        raise AssertionError("read at construction")

    limiter = RetryBudget().new_limiter(exploding)
    assert isinstance(limiter, _Budget)
    default = RetryBudget().new_limiter()  # outside trio.run: trio.current_time not called
    with pytest.raises(RuntimeError):
        default.statistics()


async def test_default_clock_is_trios() -> None:
    limiter = RetryBudget().new_limiter()
    for _ in range(10):
        limiter.record_call()
    assert limiter.statistics().balance == 102.0
    await trio.sleep(0.01)  # the clock moves on: still within the first slice
    assert limiter.try_acquire_retry() is True


def test_storm_never_exceeds_percent_of_calls_plus_reserve() -> None:
    # 10,000 calls, every attempt failing, each trying up to 3 retries
    clock = FakeClock(0.0)
    limiter = budget(clock)
    for calls in range(1, 10_001):
        clock.now = calls * 0.0009  # all within 9 s: nothing expires
        limiter.record_call()
        for _ in range(3):
            fail(limiter)
            if not limiter.try_acquire_retry():
                break
        allowed = limiter.statistics().allowed
        assert allowed <= 0.2 * calls + 100
    stats = limiter.statistics()
    assert stats.allowed == 2100  # 0.2 * 10,000 + 100, exactly
    assert stats.refused > 0


def test_long_storm_is_bounded_per_ttl() -> None:
    # 10,000 calls over 50 s: the reserve comes back as its withdrawals expire, at
    # the earliest ttl - slice (9 s) after they were made
    clock = FakeClock(0.0)
    limiter = budget(clock)
    for i in range(10_000):
        clock.now = i * 0.005
        limiter.record_call()
        while limiter.try_acquire_retry():
            pass
    allowed = limiter.statistics().allowed
    assert allowed <= 0.2 * 10_000 + 100 * (50 / 9 + 1)
    assert allowed >= 0.2 * 10_000  # the percent is honoured
    assert allowed == 2500  # the deposits' 2000, and the reserve once in each of the 5 ttls


def test_memory_is_bounded_regardless_of_call_rate() -> None:
    clock = FakeClock(0.0)
    limiter = budget(clock)
    adder = internals(limiter)._adder
    assert isinstance(adder, _WindowedAdder)
    sizes = (len(adder._net), len(adder._deposits))
    assert sizes == (9, 9)
    for i in range(100_000):
        clock.now = i * 0.001  # 100 s at 1,000 calls per second
        limiter.record_call()
        limiter.try_acquire_retry()
    assert (len(adder._net), len(adder._deposits)) == sizes
    assert set(adder.__slots__) == {
        "_clock",
        "_current_deposits",
        "_current_net",
        "_deposits",
        "_index",
        "_net",
        "_start",
        "_window",
    }
    clock.now = 1000.0
    assert limiter.statistics().balance == 100.0  # all expired: the reserve alone


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": 0}, r"^ttl must be seconds in \[1, 60\], not 0$"),
        ({"ttl": 0.999}, r"^ttl must .*, not 0.999$"),
        ({"ttl": 60.001}, r"^ttl must .*, not 60.001$"),
        ({"ttl": 61}, r"^ttl must .*, not 61$"),
        ({"ttl": math.nan}, r"^ttl must .*, not nan$"),
        ({"ttl": math.inf}, r"^ttl must .*, not inf$"),
        ({"ttl": True}, r"^ttl must .*, not True$"),
        ({"ttl": "10"}, r"^ttl must .*, not '10'$"),
        ({"min_retries_per_sec": -1}, r"^min_retries_per_sec must be .* >= 0, not -1$"),
        ({"min_retries_per_sec": math.nan}, r"^min_retries_per_sec must .*, not nan$"),
        ({"min_retries_per_sec": math.inf}, r"^min_retries_per_sec must .*, not inf$"),
        ({"min_retries_per_sec": True}, r"^min_retries_per_sec must .*, not True$"),
        ({"percent_can_retry": -0.1}, r"^percent_can_retry must be in \[0, 1000\], not -0.1$"),
        ({"percent_can_retry": 1000.5}, r"^percent_can_retry must .*, not 1000.5$"),
        ({"percent_can_retry": math.nan}, r"^percent_can_retry must .*, not nan$"),
        ({"percent_can_retry": math.inf}, r"^percent_can_retry must .*, not inf$"),
        ({"percent_can_retry": False}, r"^percent_can_retry must .*, not False$"),
    ],
)
def test_budget_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryBudget(**kwargs)  # type: ignore[arg-type]


def test_budget_bounds_are_accepted() -> None:
    RetryBudget(ttl=1, min_retries_per_sec=0, percent_can_retry=0)
    RetryBudget(ttl=60, min_retries_per_sec=1e6, percent_can_retry=1000)


def test_configs_are_frozen() -> None:
    with pytest.raises(AttributeError):
        RetryBudget().ttl = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        RetryThrottling().max_tokens = 5  # type: ignore[misc]
