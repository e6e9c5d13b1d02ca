"""Retry limiters: two ways to keep retries from turning into storms, behind one protocol.

:class:`RetryThrottling` is gRPC's retry throttling (proposal A6): a token
count that failures drain and successes refill; below half, no retries.
:class:`RetryBudget` is Finagle's ``RetryBudget``: retries may be a fixed
share of the calls made in the last ``ttl`` seconds, plus a reserve.

Both are configurations whose ``new_limiter()`` builds the mutable
:class:`RetryLimiter`. Limiters are pure and synchronous (an injected
clock, no awaits, no locks): they belong to one endpoint's actor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from typing import Final, Protocol, final

import trio

__all__ = [
    "RetryBudget",
    "RetryLimiter",
    "RetryLimiterStatistics",
    "RetryThrottling",
]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@final
@dataclass(frozen=True, slots=True)
class RetryLimiterStatistics:
    """What a retry limiter holds now, and what it has decided so far.

    Attributes:
        kind: ``"throttling"`` (:class:`RetryThrottling`) or ``"budget"``
            (:class:`RetryBudget`).
        balance: A6's ``token_count``, or Finagle's ``balance``: the retries
            the budget allows now. A budget's balance can be negative for a
            while, when the deposits that paid for retries expire before the
            withdrawals do (Finagle reports the same).
        capacity: A6's ``maxTokens``, or the budget's current maximum: the
            retries its live deposits and its reserve would allow, ignoring
            withdrawals.
        allowed: Retries (and hedges) allowed so far.
        refused: Retries (and hedges) refused so far.
    """

    kind: str
    balance: float
    capacity: float
    allowed: int
    refused: int


class RetryLimiter(Protocol):
    """What the retry interceptor asks before each retry or hedge.

    One per endpoint, unless shared on purpose.
    The interceptor tells it about every logical call (:meth:`record_call`)
    and every attempt's end (:meth:`record_outcome`), and asks
    :meth:`try_acquire_retry` before each further attempt. To match gRPC,
    record an attempt's outcome before asking whether to retry it: gRPC
    decides on the token count after the failure was counted.
    """

    def record_call(self) -> None:
        """A logical call started (its first attempt): a budget deposit."""
        ...

    def record_outcome(self, *, failure: bool) -> None:
        """An attempt ended: ``failure=True`` when it ended with a retryable failure or pushback.

        Per A6 ("Throttling Retry Attempts and Hedged RPCs") the failures are
        the attempts that ended with a retryable (or, for hedging, non-fatal)
        code, or with a server pushback saying not to retry;
        ``failure=False`` is a success. Do not record an attempt that ended
        with a non-retryable error (``invalid_argument`` …): it is neither,
        and gRPC counts it as nothing, so that malformed requests do not
        throttle retries.
        """
        ...

    def try_acquire_retry(self) -> bool:
        """May another attempt (retry or hedge) go now? Never blocks; False = refused (counted)."""
        ...

    def statistics(self) -> RetryLimiterStatistics:
        """The limiter's balance, capacity and decisions so far."""
        ...


# --- gRPC A6 retry throttling -------------------------------------------------------

_MILLI: Final = 1000
_MAX_MAX_TOKENS: Final = 1000


def _milli_token_ratio(ratio: float) -> int:
    # The decimal the user wrote (repr is the shortest round-tripping form),
    # cut after 3 places as A6 says and gRPC core does on the JSON text.
    return int(Decimal(repr(float(ratio))).quantize(Decimal("0.001"), rounding=ROUND_DOWN) * 1000)


@final
@dataclass(frozen=True, slots=True)
class RetryThrottling:
    """gRPC's retry throttling (proposal A6) as configuration.

    From grpc/proposal A6-client-retries.md, "Throttling Retry Attempts and
    Hedged RPCs": a ``token_count`` starts at ``max_tokens`` and stays in
    [0, max_tokens]; every failed attempt takes 1 from it, every successful
    one adds ``token_ratio``. Retries and hedges are allowed only while
    ``token_count > max_tokens / 2`` (strictly: at exactly half they are
    refused, until a success lifts the count over it). Asking does not
    change the count, and neither does the start of a call. What counts as
    a failure is described at :meth:`RetryLimiter.record_outcome`.

    The arithmetic is gRPC core's (``retry_throttle.cc``): integer
    milli-tokens, so a hundred successes of 0.1 add exactly 10 tokens.

    Attributes:
        max_tokens: A whole number in (0, 1000], as A6's validation rules
            ask of ``maxTokens`` ("a JSON integer value in the range (0,
            1000]"); 10.0 is accepted as 10, 10.5 is not.
        token_ratio: > 0. A6: "Decimal places beyond 3 are ignored (eg.
            0.5466 is treated as 0.546)": the value is truncated (not
            rounded) to 3 decimal places and stored so; one that truncates
            to 0 (below 0.001) is rejected, as gRPC core does.

    Raises:
        ValueError: a field is out of range (the message names it and its value).
    """

    max_tokens: float = 10.0
    token_ratio: float = 0.1

    def __post_init__(self) -> None:
        tokens = self.max_tokens
        if (
            not _is_number(tokens)
            or not 0 < tokens <= _MAX_MAX_TOKENS
            or not float(tokens).is_integer()
        ):
            raise ValueError(f"max_tokens must be a whole number in (0, 1000], not {tokens!r}")
        ratio = self.token_ratio
        if not _is_number(ratio) or not 0 < ratio < math.inf:
            raise ValueError(f"token_ratio must be a finite number > 0, not {ratio!r}")
        milli = _milli_token_ratio(ratio)
        if milli <= 0:
            raise ValueError(
                f"token_ratio must be at least 0.001 (A6 keeps 3 decimal places), not {ratio!r}"
            )
        object.__setattr__(self, "max_tokens", float(tokens))
        object.__setattr__(self, "token_ratio", milli / _MILLI)

    def new_limiter(self) -> RetryLimiter:
        """A fresh throttle, its ``token_count`` at ``max_tokens``."""
        return _Throttle(int(self.max_tokens) * _MILLI, _milli_token_ratio(self.token_ratio))


@final
class _Throttle:
    """A6's token count in milli-tokens (see :class:`RetryThrottling`)."""

    __slots__ = ("_allowed", "_max", "_ratio", "_refused", "_tokens")

    def __init__(self, max_milli_tokens: int, milli_token_ratio: int) -> None:
        self._max = max_milli_tokens
        self._ratio = milli_token_ratio
        self._tokens = max_milli_tokens
        self._allowed = 0
        self._refused = 0

    def record_call(self) -> None:
        """Nothing: A6 counts attempts' outcomes, not calls."""

    def record_outcome(self, *, failure: bool) -> None:
        """A failure takes 1 token (down to 0); a success adds ``token_ratio`` (up to max)."""
        if failure:
            self._tokens = max(0, self._tokens - _MILLI)
        else:
            self._tokens = min(self._max, self._tokens + self._ratio)

    def try_acquire_retry(self) -> bool:
        """True while ``token_count > max_tokens / 2``; the count does not change."""
        if 2 * self._tokens > self._max:
            self._allowed += 1
            return True
        self._refused += 1
        return False

    def statistics(self) -> RetryLimiterStatistics:
        """``balance`` is the token count, ``capacity`` the maximum."""
        return RetryLimiterStatistics(
            kind="throttling",
            balance=self._tokens / _MILLI,
            capacity=self._max / _MILLI,
            allowed=self._allowed,
            refused=self._refused,
        )

    def __repr__(self) -> str:
        return f"<RetryThrottling limiter tokens={self._tokens / _MILLI}/{self._max / _MILLI}>"


# --- Finagle's RetryBudget ----------------------------------------------------------

_SCALE_FACTOR: Final = 1000
"""Finagle's TokenRetryBudget.ScaleFactor: a deposit's worth in tokens."""

_SLICES: Final = 10
"""TokenBucket.newLeakyBucket's WindowedAdder slices: the current one and 9 kept."""

_INT_MAX: Final = 2**31 - 1
"""Where Java's Double.toInt saturates (the withdrawal of a tiny percent_can_retry)."""


def _whole_ms(seconds: float) -> int:
    # Through whole nanoseconds first, so that 1.001 s is 1001 ms, not 1000.
    return round(seconds * 1e9) // 1_000_000


@final
@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Finagle's RetryBudget as configuration: retries as a share of recent calls, plus a reserve.

    Retries <= ``percent_can_retry`` of the calls in the last ``ttl``
    seconds, plus a reserve of ``min_retries_per_sec * ttl``.

    From twitter/finagle ``finagle-core/.../service/RetryBudget.scala``
    (``RetryBudget.apply``) over twitter/util ``TokenBucket.newLeakyBucket``
    and ``WindowedAdder``, reproduced in integer tokens:

    * a call deposits ``1000`` tokens (``0`` when ``percent_can_retry`` is
      0); a retry withdraws ``int(1000 / percent_can_retry)`` tokens
      (``1`` when it is 0), truncated, so 0.2 costs 5000 and 0.3 costs 3333;
    * the reserve is ``min_retries_per_sec * whole seconds of ttl *
      withdrawal`` tokens (truncated), always present and never spent for
      good: with the defaults, 10 * 10 * 5000 = 500,000 tokens, 100 retries;
    * a retry is allowed when ``window sum + reserve >= withdrawal``, and
      then withdraws; ``balance = (window sum + reserve) / withdrawal``,
      truncated toward zero. With the defaults, 1,000 calls in the window
      allow 100 + 1000 * 0.2 = 300 retries.

    The window sum is a WindowedAdder over ``ttl`` in whole milliseconds
    cut into 10 slices of ``ttl_ms // 10`` ms (1 s for the default 10 s):
    the current slice and 9 past ones. A slice ends at the first use at
    least a slice's width after it began (a use after k widths also drops
    k - 1 slices); deposits and withdrawals leave the window with their
    slice, between ``ttl - slice`` and ``ttl + slice`` after they were
    made. The memory is those 10 slices, whatever the call rate.

    Attributes:
        ttl: Seconds a deposit lasts, within Finagle's documented bounds
            ``1 <= ttl <= 60``.
        min_retries_per_sec: >= 0; the reserve's rate (0: no reserve).
            Finagle takes an int; a fraction is allowed here and the
            reserve is truncated to whole tokens.
        percent_can_retry: ``0 <= p <= 1000``, Finagle's bounds: the share
            of calls that may be retried (0.2: one retry per 5 calls; 2.0:
            two per call). With both this and ``min_retries_per_sec`` at 0
            no retry is ever allowed (Finagle's ``RetryBudget.Empty``).

    Raises:
        ValueError: a field is out of range (the message names it and its value).
    """

    ttl: float = 10.0
    min_retries_per_sec: float = 10.0
    percent_can_retry: float = 0.2

    def __post_init__(self) -> None:
        if not _is_number(self.ttl) or not 1 <= self.ttl <= 60:
            raise ValueError(f"ttl must be seconds in [1, 60], not {self.ttl!r}")
        rate = self.min_retries_per_sec
        if not _is_number(rate) or not 0 <= rate < math.inf:
            raise ValueError(f"min_retries_per_sec must be a finite number >= 0, not {rate!r}")
        percent = self.percent_can_retry
        if not _is_number(percent) or not 0 <= percent <= _SCALE_FACTOR:
            raise ValueError(f"percent_can_retry must be in [0, 1000], not {percent!r}")

    def new_limiter(self, clock: Callable[[], float] | None = None) -> RetryLimiter:
        """A fresh budget: only the reserve, until calls deposit.

        Args:
            clock: Seconds, monotonic; :func:`trio.current_time` by default.
                It is first read at the limiter's first use, so a limiter
                can be built outside ``trio.run``; the first slice begins
                then (Finagle's begins at construction, when nothing can
                be in the window yet).
        """
        percent = self.percent_can_retry
        if percent == 0:
            deposit, withdrawal = 0, 1
        else:
            deposit = _SCALE_FACTOR
            quotient = _SCALE_FACTOR / percent
            withdrawal = _INT_MAX if quotient >= _INT_MAX else int(quotient)
        ttl_ms = _whole_ms(self.ttl)
        reserve = int(Fraction(self.min_retries_per_sec) * (ttl_ms // 1000) * withdrawal)
        return _Budget(
            clock if clock is not None else trio.current_time,
            window_ms=ttl_ms // _SLICES,
            deposit=deposit,
            withdrawal=withdrawal,
            reserve=reserve,
        )


@final
class _WindowedAdder:
    """util's WindowedAdder with 10 slices, its deposits also summed apart (for the capacity).

    ``_net[k]`` / ``_deposits[k]`` are the 9 past slices, ``_index`` the one
    the current slice goes into when it ends (it holds the oldest), the
    ``_current_*`` pair the current slice, ``_start`` when it began (ms).
    """

    __slots__ = (
        "_clock",
        "_current_deposits",
        "_current_net",
        "_deposits",
        "_index",
        "_net",
        "_start",
        "_window",
    )

    def __init__(self, clock: Callable[[], float], window_ms: int) -> None:
        self._clock = clock
        self._window = window_ms
        self._net = [0] * (_SLICES - 1)
        self._deposits = [0] * (_SLICES - 1)
        self._index = 0
        self._current_net = 0
        self._current_deposits = 0
        self._start: int | None = None

    def _advance(self) -> None:
        now = _whole_ms(self._clock())
        start = self._start
        if start is None:
            self._start = now
            return
        elapsed = now - start
        if elapsed < self._window:
            return
        kept = _SLICES - 1
        self._net[self._index] = self._current_net
        self._deposits[self._index] = self._current_deposits
        self._current_net = self._current_deposits = 0
        self._index = (self._index + 1) % kept
        skipped = min(elapsed // self._window - 1, kept)  # slices that passed unused
        for _ in range(skipped):
            self._net[self._index] = self._deposits[self._index] = 0
            self._index = (self._index + 1) % kept
        self._start = now

    def add(self, tokens: int) -> None:
        self._advance()
        self._current_net += tokens
        if tokens > 0:
            self._current_deposits += tokens

    def sums(self) -> tuple[int, int]:
        """The window's net sum and its deposits alone."""
        self._advance()
        return (
            self._current_net + sum(self._net),
            self._current_deposits + sum(self._deposits),
        )


def _truncating_div(numerator: int, denominator: int) -> int:
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


@final
class _Budget:
    """Finagle's TokenRetryBudget over a leaky token bucket (see :class:`RetryBudget`)."""

    __slots__ = ("_adder", "_allowed", "_deposit", "_refused", "_reserve", "_withdrawal")

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        window_ms: int,
        deposit: int,
        withdrawal: int,
        reserve: int,
    ) -> None:
        self._adder = _WindowedAdder(clock, window_ms)
        self._deposit = deposit
        self._withdrawal = withdrawal
        self._reserve = reserve
        self._allowed = 0
        self._refused = 0

    def record_call(self) -> None:
        """Deposit: the call earns ``percent_can_retry`` retries for the next ``ttl``."""
        self._adder.add(self._deposit)

    def record_outcome(self, *, failure: bool) -> None:
        """Nothing: a Finagle budget counts calls, not outcomes."""

    def try_acquire_retry(self) -> bool:
        """Withdraw a retry's cost if the window and the reserve hold it."""
        net, _ = self._adder.sums()
        if net + self._reserve >= self._withdrawal:
            self._adder.add(-self._withdrawal)
            self._allowed += 1
            return True
        self._refused += 1
        return False

    def statistics(self) -> RetryLimiterStatistics:
        """``balance`` is Finagle's; ``capacity`` the same without the withdrawals."""
        net, deposits = self._adder.sums()
        return RetryLimiterStatistics(
            kind="budget",
            balance=float(_truncating_div(net + self._reserve, self._withdrawal)),
            capacity=float((deposits + self._reserve) // self._withdrawal),
            allowed=self._allowed,
            refused=self._refused,
        )

    def __repr__(self) -> str:
        return (
            f"<RetryBudget limiter deposit={self._deposit} withdrawal={self._withdrawal} "
            f"reserve={self._reserve}>"
        )
