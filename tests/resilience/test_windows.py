from __future__ import annotations

import math
import re
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trioplugin.resilience._windows import (
    TIME_WINDOW_BUCKETS,
    FailureRateWindow,
    WindowSnapshot,
    WindowTracker,
)

EPS = 1e-9


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def tracker(now: float = 0.0, **config: object) -> tuple[WindowTracker, FakeClock]:
    clock = FakeClock(now)
    return WindowTracker(FailureRateWindow(**config), clock), clock  # type: ignore[arg-type]


def test_buckets_constant() -> None:
    assert TIME_WINDOW_BUCKETS == 64


def test_count_window_keeps_the_last_size_calls() -> None:
    window, _ = tracker(size=3, minimum_calls=1, failure_rate_threshold=1.0)
    for failed in (True, True, False):
        window.record(failed=failed, duration=0.0)
    assert window.snapshot() == WindowSnapshot(3, 2 / 3, None, tripped=False)
    window.record(failed=False, duration=0.0)  # the first failure leaves
    assert window.snapshot() == WindowSnapshot(3, 1 / 3, None, tripped=False)
    window.record(failed=True, duration=0.0)
    window.record(failed=True, duration=0.0)
    window.record(failed=True, duration=0.0)
    assert window.snapshot() == WindowSnapshot(3, 1.0, None, tripped=True)


def test_count_window_does_not_read_the_clock() -> None:
    def no_clock() -> float:
        raise AssertionError("a count window read the clock")

    window = WindowTracker(FailureRateWindow(size=2, minimum_calls=1), no_clock)
    window.record(failed=True, duration=0.0)
    assert window.snapshot().calls == 1


def test_minimum_calls_gates_the_verdict() -> None:
    window, _ = tracker(size=10, minimum_calls=3, failure_rate_threshold=0.5)
    window.record(failed=True, duration=0.0)
    window.record(failed=True, duration=0.0)
    assert window.snapshot() == WindowSnapshot(2, None, None, tripped=False)
    window.record(failed=False, duration=0.0)
    assert window.snapshot() == WindowSnapshot(3, 2 / 3, None, tripped=True)


@pytest.mark.parametrize(
    ("failures", "threshold", "tripped"),
    [(4, 0.5, False), (5, 0.5, True), (2, 0.3, False), (3, 0.3, True), (7, 0.7, True)],
)
def test_failure_rate_boundary(failures: int, threshold: float, tripped: bool) -> None:
    window, _ = tracker(size=10, minimum_calls=10, failure_rate_threshold=threshold)
    for index in range(10):
        window.record(failed=index < failures, duration=0.0)
    snapshot = window.snapshot()
    assert snapshot.failure_rate == failures / 10
    assert snapshot.tripped is tripped


def test_slow_calls_at_and_beyond_the_duration() -> None:
    window, _ = tracker(
        size=4,
        minimum_calls=4,
        failure_rate_threshold=1.0,
        slow_call_duration=1.0,
        slow_call_rate_threshold=0.75,
    )
    window.record(failed=False, duration=1.0 - EPS)
    window.record(failed=False, duration=1.0)
    window.record(failed=True, duration=5.0)
    window.record(failed=False, duration=0.0)
    assert window.snapshot() == WindowSnapshot(4, 0.25, 0.5, tripped=False)
    window.record(failed=False, duration=2.0)  # the 1 - EPS call leaves
    assert window.snapshot() == WindowSnapshot(4, 0.25, 0.75, tripped=True)


def test_time_window_boundaries_on_bucket_starts() -> None:
    # size 10: buckets of 0.15625 s; 2.5 is the start of bucket 16.
    window, clock = tracker(2.5, kind="time", size=10.0, minimum_calls=1)
    window.record(failed=True, duration=0.0)
    clock.now = 12.5 - EPS
    assert window.snapshot().calls == 1
    clock.now = 12.5
    assert window.snapshot().calls == 0


def test_time_window_granularity_is_one_bucket() -> None:
    # 1.0 falls in the bucket starting at 0.9375, so the call leaves at 10.9375.
    window, clock = tracker(1.0, kind="time", size=10.0, minimum_calls=1)
    window.record(failed=False, duration=0.0)
    clock.now = 10.9375 - EPS
    assert window.snapshot().calls == 1
    clock.now = 10.9375
    assert window.snapshot().calls == 0


def test_time_window_with_a_large_clock_offset() -> None:
    window, clock = tracker(123456.0, kind="time", size=60.0, minimum_calls=2)
    window.record(failed=True, duration=0.0)
    clock.now += 30.0
    window.record(failed=False, duration=0.0)
    assert window.snapshot() == WindowSnapshot(2, 0.5, None, tripped=True)
    clock.now += 31.0
    assert window.snapshot().calls == 1
    clock.now += 1e6
    assert window.snapshot().calls == 0


def test_time_window_clock_stepping_back_records_into_the_newest_bucket() -> None:
    window, clock = tracker(100.0, kind="time", size=10.0, minimum_calls=1)
    window.record(failed=False, duration=0.0)
    clock.now = 50.0
    window.record(failed=True, duration=0.0)
    assert window.snapshot().calls == 2
    clock.now = 110.0
    assert window.snapshot().calls == 0


def test_clear_forgets_everything() -> None:
    for kind, size in (("count", 5.0), ("time", 5.0)):
        window, clock = tracker(kind=kind, size=size, minimum_calls=1)
        window.record(failed=True, duration=0.0)
        window.clear()
        assert window.snapshot() == WindowSnapshot(0, None, None, tripped=False)
        clock.now = 3.0
        window.record(failed=False, duration=0.0)
        assert window.snapshot() == WindowSnapshot(1, 0.0, None, tripped=False)


def test_count_size_may_be_a_whole_float() -> None:
    window, _ = tracker(size=2.0, minimum_calls=1)
    for _ in range(3):
        window.record(failed=False, duration=0.0)
    assert window.snapshot().calls == 2
    assert window.config.size == 2.0


@pytest.mark.parametrize(
    ("config", "field_name", "value"),
    [
        ({"kind": "sliding"}, "kind", "sliding"),
        ({"size": 0}, "size", 0),
        ({"size": 2.5}, "size", 2.5),
        ({"size": True}, "size", True),
        ({"size": math.inf}, "size", math.inf),
        ({"kind": "time", "size": 0.0}, "size", 0.0),
        ({"kind": "time", "size": -1.0}, "size", -1.0),
        ({"kind": "time", "size": math.inf}, "size", math.inf),
        ({"kind": "time", "size": math.nan}, "size", math.nan),
        ({"failure_rate_threshold": 0.0}, "failure_rate_threshold", 0.0),
        ({"failure_rate_threshold": 1.5}, "failure_rate_threshold", 1.5),
        ({"failure_rate_threshold": math.nan}, "failure_rate_threshold", math.nan),
        ({"minimum_calls": 0}, "minimum_calls", 0),
        ({"minimum_calls": 2.0}, "minimum_calls", 2.0),
        ({"slow_call_duration": 0.0}, "slow_call_duration", 0.0),
        ({"slow_call_duration": -1.0}, "slow_call_duration", -1.0),
        ({"slow_call_duration": math.inf}, "slow_call_duration", math.inf),
        ({"slow_call_rate_threshold": 0.0}, "slow_call_rate_threshold", 0.0),
        ({"slow_call_rate_threshold": 1.01}, "slow_call_rate_threshold", 1.01),
    ],
)
def test_window_validation_names_the_field(
    config: dict[str, object], field_name: str, value: object
) -> None:
    with pytest.raises(ValueError, match=re.escape(field_name)) as caught:
        FailureRateWindow(**config)  # type: ignore[arg-type]
    assert repr(value) in str(caught.value)


def test_window_accepts_boundaries() -> None:
    FailureRateWindow(size=1, minimum_calls=1, failure_rate_threshold=1.0)
    FailureRateWindow(kind="time", size=EPS, slow_call_duration=EPS, slow_call_rate_threshold=EPS)


# --- property: the windows against naive models --------------------------------------------

OUTCOMES = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=200)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 20), minimum=st.integers(1, 25), outcomes=OUTCOMES)
def test_count_window_matches_the_last_calls(
    size: int, minimum: int, outcomes: list[tuple[bool, bool]]
) -> None:
    window, _ = tracker(size=size, minimum_calls=minimum, slow_call_duration=1.0)
    recent: deque[tuple[bool, bool]] = deque(maxlen=size)
    for failed, slow in outcomes:
        window.record(failed=failed, duration=2.0 if slow else 0.0)
        recent.append((failed, slow))
        snapshot = window.snapshot()
        assert snapshot.calls == len(recent)
        if len(recent) < min(minimum, size):
            assert (snapshot.failure_rate, snapshot.slow_call_rate) == (None, None)
        else:
            assert snapshot.failure_rate == sum(f for f, _ in recent) / len(recent)
            assert snapshot.slow_call_rate == sum(s for _, s in recent) / len(recent)


@settings(max_examples=200, deadline=None)
@given(
    size=st.sampled_from([1.0, 2.5, 10.0, 60.0]),
    steps=st.lists(st.tuples(st.floats(0.0, 20.0, allow_nan=False), st.booleans()), max_size=100),
)
def test_time_window_matches_a_bucket_model(size: float, steps: list[tuple[float, bool]]) -> None:
    window, clock = tracker(1000.0, kind="time", size=size, minimum_calls=1)
    width = size / TIME_WINDOW_BUCKETS
    calls: list[tuple[int, bool]] = []  # (bucket, failed)
    for advance, failed in steps:
        clock.now += advance
        bucket = math.floor(clock.now / width)
        window.record(failed=failed, duration=0.0)
        calls.append((bucket, failed))
        inside = [f for b, f in calls if b > bucket - TIME_WINDOW_BUCKETS]
        snapshot = window.snapshot()
        assert snapshot.calls == len(inside)
        assert snapshot.failure_rate == sum(inside) / len(inside)
