"""Backoff schedules: exact exponential values, each jitter mode's arithmetic, reset, validation."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioplugin.resilience._backoff import (
    BackoffSchedule,
    Jitter,
    RandomSource,
    exponential_backoff,
)

JUST_BELOW_ONE = math.nextafter(1.0, 0.0)  # the largest float random.random() can return


class Parameters(TypedDict):
    initial: float
    multiplier: float
    maximum: float


# The reference's RetryPolicy defaults (initial_backoff, backoff_multiplier, max_backoff).
DEFAULTS: Parameters = {"initial": 0.1, "multiplier": 2.0, "maximum": 10.0}


class FixedRandom:
    """A RandomSource returning the same value every time."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls = 0

    def random(self) -> float:
        self.calls += 1
        return self.value


class SequenceRandom:
    """A RandomSource returning the given values in order."""

    def __init__(self, values: Iterable[float]) -> None:
        self._values = iter(values)

    def random(self) -> float:
        return next(self._values)


def schedule(jitter: Jitter, source: RandomSource, **overrides: float) -> BackoffSchedule:
    return BackoffSchedule(
        initial=overrides.get("initial", DEFAULTS["initial"]),
        multiplier=overrides.get("multiplier", DEFAULTS["multiplier"]),
        maximum=overrides.get("maximum", DEFAULTS["maximum"]),
        jitter=jitter,
        random=source,
    )


# --- exponential_backoff -------------------------------------------------------------


def test_reference_defaults_exact_schedule() -> None:
    expected = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]
    assert [exponential_backoff(n, **DEFAULTS) for n in range(1, 11)] == expected


def test_cap_starts_at_the_eighth_retry() -> None:
    assert exponential_backoff(7, **DEFAULTS) == 6.4
    uncapped = 0.1 * 2**7  # what the 8th retry would be without the cap
    assert uncapped == pytest.approx(12.8)
    assert exponential_backoff(8, initial=0.1, multiplier=2.0, maximum=100.0) == uncapped
    assert exponential_backoff(8, **DEFAULTS) == 10.0


def test_custom_multiplier() -> None:
    values = [exponential_backoff(n, initial=1.0, multiplier=1.5, maximum=5.0) for n in range(1, 7)]
    assert values == [1.0, 1.5, 2.25, 3.375, 5.0, 5.0]  # 5.0625 capped from the 5th on
    values = [exponential_backoff(n, initial=0.5, multiplier=3, maximum=100) for n in range(1, 6)]
    assert values == [0.5, 1.5, 4.5, 13.5, 40.5]


def test_multiplier_one_is_constant_and_below_one_decays() -> None:
    assert [
        exponential_backoff(n, initial=0.3, multiplier=1.0, maximum=1.0) for n in (1, 5, 99)
    ] == [
        0.3,
        0.3,
        0.3,
    ]
    assert [
        exponential_backoff(n, initial=1.0, multiplier=0.5, maximum=1.0) for n in (1, 2, 3)
    ] == [
        1.0,
        0.5,
        0.25,
    ]


def test_initial_equal_to_maximum() -> None:
    assert exponential_backoff(1, initial=2.0, multiplier=2.0, maximum=2.0) == 2.0
    assert exponential_backoff(50, initial=2.0, multiplier=2.0, maximum=2.0) == 2.0


@pytest.mark.parametrize("retry", [1_100, 10_000, 10**9, 10**30])
def test_no_overflow_for_huge_retry_numbers(retry: int) -> None:
    assert exponential_backoff(retry, **DEFAULTS) == 10.0
    assert (
        exponential_backoff(retry, initial=0.1, multiplier=2, maximum=10) == 10.0
    )  # int multiplier


def test_no_overflow_when_the_product_becomes_infinite() -> None:
    # 1e300 * 1e10 is inf without an OverflowError: still capped
    assert exponential_backoff(2, initial=1e300, multiplier=1e10, maximum=1e300) == 1e300


def test_underflow_decays_to_zero() -> None:
    assert exponential_backoff(10_000, initial=1.0, multiplier=0.5, maximum=1.0) == 0.0


@pytest.mark.parametrize("retry", [0, -1, -10_000])
def test_retry_below_one_is_refused(retry: int) -> None:
    with pytest.raises(ValueError, match=rf"retry must be >= 1, not {retry}"):
        exponential_backoff(retry, **DEFAULTS)


@pytest.mark.parametrize("retry", [1.0, True, "1", None])
def test_retry_must_be_an_int(retry: object) -> None:
    with pytest.raises(TypeError, match="retry must be an int"):
        exponential_backoff(retry, **DEFAULTS)  # type: ignore[arg-type]


BAD_PARAMETERS = [
    ({"initial": 0.0}, "initial", "0.0"),
    ({"initial": -0.1}, "initial", "-0.1"),
    ({"initial": math.inf}, "initial", "inf"),
    ({"initial": math.nan}, "initial", "nan"),
    ({"initial": True}, "initial", "True"),
    ({"multiplier": 0.0}, "multiplier", "0.0"),
    ({"multiplier": -2.0}, "multiplier", "-2.0"),
    ({"multiplier": math.inf}, "multiplier", "inf"),
    ({"multiplier": math.nan}, "multiplier", "nan"),
    ({"maximum": 0.0}, "maximum", "0.0"),
    ({"maximum": math.inf}, "maximum", "inf"),
    ({"maximum": math.nan}, "maximum", "nan"),
    ({"maximum": 0.05}, "maximum", "0.05"),  # below initial
    ({"initial": "0.1"}, "initial", "'0.1'"),
]


@pytest.mark.parametrize(("override", "field", "shown"), BAD_PARAMETERS)
def test_exponential_backoff_validation(
    override: dict[str, object], field: str, shown: str
) -> None:
    params = {**DEFAULTS, **override}
    with pytest.raises(ValueError, match=rf"^{field} must .*, not {shown}$"):
        exponential_backoff(1, **params)  # type: ignore[arg-type]


@pytest.mark.parametrize(("override", "field", "shown"), BAD_PARAMETERS)
def test_schedule_validation(override: dict[str, object], field: str, shown: str) -> None:
    params = {**DEFAULTS, **override}
    with pytest.raises(ValueError, match=rf"^{field} must .*, not {shown}$"):
        BackoffSchedule(**params)  # type: ignore[arg-type]


def test_schedule_jitter_must_be_a_jitter() -> None:
    with pytest.raises(TypeError, match="jitter must be a Jitter"):
        BackoffSchedule(**DEFAULTS, jitter="equal")  # type: ignore[arg-type]


# --- BackoffSchedule: each jitter mode -------------------------------------------------


def test_none_is_exact_and_ignores_random() -> None:
    source = FixedRandom(0.5)
    s = schedule(Jitter.NONE, source)
    assert [s.next() for _ in range(10)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]
    assert source.calls == 0


def test_equal_is_the_default_jitter() -> None:
    s = BackoffSchedule(**DEFAULTS, random=FixedRandom(0.0))
    assert s.next() == 0.05


def test_default_random_source_is_used_without_one() -> None:
    s = BackoffSchedule(**DEFAULTS)
    waits = [s.next() for _ in range(20)]
    for n, wait in enumerate(waits, start=1):
        value = exponential_backoff(n, **DEFAULTS)
        assert value / 2 <= wait < value


def test_random_random_satisfies_the_protocol() -> None:
    a = schedule(Jitter.FULL, random.Random(7))
    b = schedule(Jitter.FULL, random.Random(7))
    assert [a.next() for _ in range(5)] == [b.next() for _ in range(5)]


def test_equal_with_zero_is_exactly_half() -> None:
    s = schedule(Jitter.EQUAL, FixedRandom(0.0))
    assert [s.next() for _ in range(9)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


def test_equal_with_half_is_three_quarters() -> None:
    s = schedule(Jitter.EQUAL, FixedRandom(0.5))
    assert [s.next() for _ in range(4)] == [0.1 * 0.75, 0.2 * 0.75, 0.4 * 0.75, 0.8 * 0.75]
    s = schedule(Jitter.EQUAL, FixedRandom(0.5), initial=1.0, maximum=8.0)
    assert [s.next() for _ in range(5)] == [0.75, 1.5, 3.0, 6.0, 6.0]


def test_equal_just_below_one_approaches_but_never_reaches_the_value() -> None:
    s = schedule(Jitter.EQUAL, FixedRandom(JUST_BELOW_ONE))
    for n in range(1, 12):
        value = exponential_backoff(n, **DEFAULTS)
        wait = s.next()
        assert wait < value
        assert wait == pytest.approx(value, rel=1e-15)


def test_equal_clamps_when_rounding_would_reach_the_value() -> None:
    # 0.5 + 0.5 * (1 - 2**-53) rounds to 1.0: the wait is pulled just below the value
    assert 0.5 + 0.5 * JUST_BELOW_ONE == 1.0
    s = schedule(Jitter.EQUAL, FixedRandom(JUST_BELOW_ONE), initial=1.0, maximum=1.0)
    assert s.next() == JUST_BELOW_ONE


def test_full_exact_values() -> None:
    s = schedule(Jitter.FULL, FixedRandom(0.0))
    assert [s.next() for _ in range(10)] == [0.0] * 10
    s = schedule(Jitter.FULL, FixedRandom(0.5))
    assert [s.next() for _ in range(9)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    s = schedule(Jitter.FULL, FixedRandom(JUST_BELOW_ONE))
    for n in range(1, 12):
        value = exponential_backoff(n, **DEFAULTS)
        wait = s.next()
        assert wait < value
        assert wait == pytest.approx(value, rel=1e-15)


def test_decorrelated_with_zero_stays_at_initial() -> None:
    s = schedule(Jitter.DECORRELATED, FixedRandom(0.0))
    assert [s.next() for _ in range(5)] == [0.1] * 5


def test_decorrelated_exact_walk() -> None:
    # initial + (previous * 3 - initial) * r, previous starting at initial
    s = schedule(Jitter.DECORRELATED, FixedRandom(0.5), initial=1.0, maximum=100.0)
    # 1 + (3 - 1)/2 = 2; 1 + (6 - 1)/2 = 3.5; 1 + (10.5 - 1)/2 = 5.75; 1 + (17.25 - 1)/2 = 9.125
    assert [s.next() for _ in range(4)] == [2.0, 3.5, 5.75, 9.125]


def test_decorrelated_is_capped_and_the_cap_becomes_previous() -> None:
    s = schedule(
        Jitter.DECORRELATED, SequenceRandom([0.5, 0.5, 0.5, 0.0]), initial=1.0, maximum=3.0
    )
    assert s.next() == 2.0
    assert s.next() == 3.0  # min(3, 1 + (6 - 1) / 2 = 3.5)
    assert s.next() == 3.0  # previous is the capped 3.0: min(3, 1 + (9 - 1) / 2 = 5)
    assert s.next() == 1.0  # r = 0: initial


def test_decorrelated_just_below_one_approaches_three_times_previous() -> None:
    s = schedule(Jitter.DECORRELATED, FixedRandom(JUST_BELOW_ONE), initial=1.0, maximum=1000.0)
    previous = 1.0
    assert 1.0 + 2.0 * JUST_BELOW_ONE == 3.0  # rounding reaches the bound: clamped below it
    for _ in range(5):
        wait = s.next()
        assert wait < previous * 3
        assert wait == pytest.approx(previous * 3, rel=1e-14)
        previous = wait
    s = schedule(Jitter.DECORRELATED, FixedRandom(JUST_BELOW_ONE), initial=1.0, maximum=10.0)
    assert [round(s.next(), 9) for _ in range(4)] == [3.0, 9.0, 10.0, 10.0]


def test_decorrelated_ignores_the_multiplier() -> None:
    a = schedule(Jitter.DECORRELATED, FixedRandom(0.5), multiplier=1.1)
    b = schedule(Jitter.DECORRELATED, FixedRandom(0.5), multiplier=7.0)
    assert [a.next() for _ in range(6)] == [b.next() for _ in range(6)]


def test_decorrelated_with_a_huge_maximum_does_not_produce_nan() -> None:
    source = SequenceRandom([1.0 - 2**-10, 0.9, 0.0, 0.5])
    s = schedule(Jitter.DECORRELATED, source, initial=1e307, maximum=1.7e308)
    waits = [s.next() for _ in range(4)]
    assert not any(math.isnan(w) for w in waits)
    assert waits[2] == 1e307
    assert all(1e307 <= w <= 1.7e308 for w in waits)


# --- retries and reset -----------------------------------------------------------------


def test_retries_counts_next_calls() -> None:
    s = schedule(Jitter.NONE, FixedRandom(0.0))
    assert s.retries == 0
    for expected in range(1, 4):
        s.next()
        assert s.retries == expected
    s.reset()
    assert s.retries == 0


@pytest.mark.parametrize("jitter", list(Jitter))
def test_reset_restarts_each_mode(jitter: Jitter) -> None:
    s = schedule(jitter, FixedRandom(0.5))
    first = [s.next() for _ in range(6)]
    s.reset()
    assert [s.next() for _ in range(6)] == first
    s.next()
    s.reset()
    assert s.next() == first[0]


def test_reset_restarts_decorrelated_previous() -> None:
    s = schedule(Jitter.DECORRELATED, FixedRandom(0.5), initial=1.0, maximum=100.0)
    assert [s.next() for _ in range(3)] == [2.0, 3.5, 5.75]
    s.reset()
    assert s.next() == 2.0  # from previous = initial again, not 5.75


def test_schedule_does_not_overflow_after_many_retries() -> None:
    for jitter in Jitter:
        s = schedule(jitter, FixedRandom(0.5))
        for _ in range(10_000):
            wait = s.next()
        assert s.retries == 10_000
        assert 0.0 <= wait <= 10.0


def test_repr_shows_the_parameters() -> None:
    text = repr(schedule(Jitter.FULL, FixedRandom(0.0)))
    assert "initial=0.1" in text
    assert "Jitter.FULL" in text


# --- properties ------------------------------------------------------------------------

units = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@st.composite
def parameters(draw: st.DrawFn) -> tuple[float, float, float]:
    initial = draw(st.floats(min_value=1e-3, max_value=100.0))
    multiplier = draw(st.floats(min_value=1.0, max_value=10.0))
    maximum = draw(st.floats(min_value=initial, max_value=1e4))
    return initial, multiplier, maximum


@given(parameters(), st.lists(units, min_size=1, max_size=40))
def test_every_mode_stays_in_its_bounds(
    params: tuple[float, float, float], draws: list[float]
) -> None:
    initial, multiplier, maximum = params
    kwargs: Parameters = {"initial": initial, "multiplier": multiplier, "maximum": maximum}
    equal = BackoffSchedule(**kwargs, jitter=Jitter.EQUAL, random=SequenceRandom(draws))
    full = BackoffSchedule(**kwargs, jitter=Jitter.FULL, random=SequenceRandom(draws))
    decorrelated = BackoffSchedule(
        **kwargs, jitter=Jitter.DECORRELATED, random=SequenceRandom(draws)
    )
    none = BackoffSchedule(**kwargs, jitter=Jitter.NONE)
    previous = initial
    for n in range(1, len(draws) + 1):
        value = exponential_backoff(n, **kwargs)
        assert 0 < value <= maximum
        assert none.next() == value
        e = equal.next()
        assert value / 2 <= e < value
        f = full.next()
        assert 0 <= f < value
        d = decorrelated.next()
        assert initial <= d <= maximum
        assert d < previous * 3
        previous = d


@given(parameters(), st.integers(min_value=1, max_value=10**6))
def test_exponential_is_monotonic_and_capped(params: tuple[float, float, float], n: int) -> None:
    initial, multiplier, maximum = params
    kwargs: Parameters = {"initial": initial, "multiplier": multiplier, "maximum": maximum}
    value = exponential_backoff(n, **kwargs)
    assert initial <= value <= maximum
    assert exponential_backoff(n + 1, **kwargs) >= value
