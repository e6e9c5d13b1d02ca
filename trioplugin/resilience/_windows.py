"""Sliding windows of call outcomes: the circuit breaker's failure-rate and slow-call rules."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, final

TIME_WINDOW_BUCKETS: Final = 64
"""How many buckets a time window is cut into.

A time window's memory is constant: a call leaves it between
``size - size / 64`` and ``size`` seconds after it was recorded.
"""

_FAILED: Final = 1
_SLOW: Final = 2


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_rate(field: str, value: float) -> None:
    if not _is_number(value) or not 0 < value <= 1:
        raise ValueError(f"{field} must be a rate in (0, 1], not {value!r}")


@final
@dataclass(frozen=True, slots=True)
class FailureRateWindow:
    """A sliding window of recent calls (resilience4j style), beside the consecutive count.

    The circuit opens when the window holds at least ``minimum_calls`` calls
    and their failure rate reaches ``failure_rate_threshold``, or (when
    ``slow_call_duration`` is set) their slow-call rate reaches
    ``slow_call_rate_threshold``.

    Attributes:
        kind: ``"count"`` keeps the last ``size`` calls; ``"time"`` keeps the
            calls recorded in the last ``size`` seconds (in
            :data:`TIME_WINDOW_BUCKETS` buckets, so at that granularity).
        size: Calls (a whole number >= 1) or seconds (> 0, finite).
        failure_rate_threshold: In (0, 1]; the circuit opens at a failure rate
            greater than or equal to it.
        minimum_calls: No rate verdict while the window holds fewer calls (>= 1).
            A count window caps it at ``size``, or it could never decide.
        slow_call_duration: Seconds (> 0, finite); a call lasting at least
            this long is slow, whether it succeeded or failed. None: no
            slow-call rule.
        slow_call_rate_threshold: In (0, 1]; the circuit opens at a slow-call
            rate greater than or equal to it.

    Raises:
        ValueError: a field is out of range (the message names it and its value).
    """

    kind: Literal["count", "time"] = "count"
    size: float = 100
    failure_rate_threshold: float = 0.5
    minimum_calls: int = 10
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float = 1.0

    def __post_init__(self) -> None:
        size = self.size
        if self.kind == "count":
            if not _is_number(size) or not float(size).is_integer() or size < 1:
                raise ValueError(
                    f"size of a count window must be a whole number >= 1, not {size!r}"
                )
        elif self.kind == "time":
            if not _is_number(size) or not 0 < size < math.inf:
                raise ValueError(f"size of a time window must be finite seconds > 0, not {size!r}")
        else:
            raise ValueError(f"kind must be 'count' or 'time', not {self.kind!r}")
        _check_rate("failure_rate_threshold", self.failure_rate_threshold)
        if not _is_int(self.minimum_calls) or self.minimum_calls < 1:
            raise ValueError(f"minimum_calls must be an int >= 1, not {self.minimum_calls!r}")
        slow = self.slow_call_duration
        if slow is not None and (not _is_number(slow) or not 0 < slow < math.inf):
            raise ValueError(f"slow_call_duration must be finite seconds > 0 or None, not {slow!r}")
        _check_rate("slow_call_rate_threshold", self.slow_call_rate_threshold)


@final
@dataclass(frozen=True, slots=True)
class WindowSnapshot:
    """What a window holds now, and whether it calls for opening the circuit.

    The rates are None below the window's minimum number of calls (no
    verdict); ``slow_call_rate`` is also None without a slow-call rule.
    """

    calls: int
    failure_rate: float | None
    slow_call_rate: float | None
    tripped: bool


class _CountStore:
    """The last ``size`` outcomes, each a bit set of _FAILED and _SLOW, with running totals."""

    __slots__ = ("_outcomes", "calls", "failures", "slow")

    def __init__(self, size: int) -> None:
        self._outcomes: deque[int] = deque(maxlen=size)  # grows with the calls, up to size
        self.calls = self.failures = self.slow = 0

    def record(self, now: float, outcome: int) -> None:
        if len(self._outcomes) == self._outcomes.maxlen:
            self._count(self._outcomes[0], -1)
        self._outcomes.append(outcome)
        self._count(outcome, 1)

    def advance(self, now: float) -> None:
        pass

    def clear(self) -> None:
        self._outcomes.clear()
        self.calls = self.failures = self.slow = 0

    def _count(self, outcome: int, step: int) -> None:
        self.calls += step
        self.failures += step if outcome & _FAILED else 0
        self.slow += step if outcome & _SLOW else 0


class _TimeStore:
    """A ring of TIME_WINDOW_BUCKETS buckets, each ``size / TIME_WINDOW_BUCKETS`` seconds wide.

    Bucket ``k`` (absolute) holds the calls recorded at ``k * width <= t <
    (k + 1) * width``; the window is the newest bucket and the ones before it.
    """

    __slots__ = ("_buckets", "_head", "_width", "calls", "failures", "slow")

    def __init__(self, size: float) -> None:
        self._width = size / TIME_WINDOW_BUCKETS
        self._buckets = [[0, 0, 0] for _ in range(TIME_WINDOW_BUCKETS)]
        self._head: int | None = None  # absolute index of the newest bucket
        self.calls = self.failures = self.slow = 0

    def record(self, now: float, outcome: int) -> None:
        self.advance(now)
        assert self._head is not None
        bucket = self._buckets[self._head % TIME_WINDOW_BUCKETS]
        failed, slow = (1 if outcome & _FAILED else 0), (1 if outcome & _SLOW else 0)
        bucket[0] += 1
        bucket[1] += failed
        bucket[2] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow

    def advance(self, now: float) -> None:
        index = math.floor(now / self._width)
        if self._head is None:
            self._head = index
            return
        if index <= self._head:
            return  # a clock that steps back records into the newest bucket
        for absolute in range(
            self._head + 1, self._head + 1 + min(index - self._head, TIME_WINDOW_BUCKETS)
        ):
            bucket = self._buckets[absolute % TIME_WINDOW_BUCKETS]
            self.calls -= bucket[0]
            self.failures -= bucket[1]
            self.slow -= bucket[2]
            bucket[:] = (0, 0, 0)
        self._head = index

    def clear(self) -> None:
        for bucket in self._buckets:
            bucket[:] = (0, 0, 0)
        self._head = None
        self.calls = self.failures = self.slow = 0


@final
class WindowTracker:
    """Records call outcomes into a :class:`FailureRateWindow` and judges them.

    Not thread-safe, like the breaker that owns it. The clock is read only
    by a time window.
    """

    __slots__ = ("_clock", "_config", "_minimum", "_store")

    def __init__(self, config: FailureRateWindow, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._store: _CountStore | _TimeStore
        if config.kind == "count":
            self._store = _CountStore(int(config.size))
            self._minimum = min(config.minimum_calls, int(config.size))
        else:
            self._store = _TimeStore(config.size)
            self._minimum = config.minimum_calls

    @property
    def config(self) -> FailureRateWindow:
        """The window's configuration."""
        return self._config

    def record(self, *, failed: bool, duration: float) -> None:
        """Add one call; it is slow when it lasted at least ``slow_call_duration``."""
        threshold = self._config.slow_call_duration
        outcome = (_FAILED if failed else 0) | (
            _SLOW if threshold is not None and duration >= threshold else 0
        )
        self._store.record(self._now(), outcome)

    def snapshot(self) -> WindowSnapshot:
        """The calls in the window now, their rates, and whether they trip the circuit."""
        store = self._store
        store.advance(self._now())
        if store.calls < self._minimum:
            return WindowSnapshot(store.calls, None, None, tripped=False)
        config = self._config
        # Division, not `failures >= threshold * calls`: 3 / 10 rounds to the
        # same float as 0.3, while 0.3 * 10 rounds above 3.
        failure_rate = store.failures / store.calls
        slow_rate = None if config.slow_call_duration is None else store.slow / store.calls
        tripped = failure_rate >= config.failure_rate_threshold or (
            slow_rate is not None and slow_rate >= config.slow_call_rate_threshold
        )
        return WindowSnapshot(store.calls, failure_rate, slow_rate, tripped=tripped)

    def clear(self) -> None:
        """Forget every call."""
        self._store.clear()

    def _now(self) -> float:
        return self._clock() if self._config.kind == "time" else 0.0
