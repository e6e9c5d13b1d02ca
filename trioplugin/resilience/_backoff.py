"""Backoff schedules for retries: exponential, capped, with a choice of jitter.

Pure and synchronous: the random source is injected, nothing sleeps here.
The retry interceptor asks a :class:`BackoffSchedule` how long to wait and
does the waiting itself (never past the call's deadline).
"""

from __future__ import annotations

import enum
import math
import random as _random
from typing import Final, Protocol, final

__all__ = ["BackoffSchedule", "Jitter", "RandomSource", "exponential_backoff"]


class Jitter(enum.Enum):
    """How a backoff is randomised, so that clients failing together do not retry together.

    ``value`` below is :func:`exponential_backoff` for the retry, ``r`` one
    draw from the schedule's :class:`RandomSource` (uniform in [0, 1)).
    The three random modes are the ones of the AWS Architecture Blog post
    "Exponential Backoff And Jitter" (Marc Brooker, 2015).
    """

    NONE = "none"
    """The exact exponential value; the random source is not used."""

    EQUAL = "equal"
    """``value * (0.5 + 0.5 * r)``: uniform in [value / 2, value).

    AWS's "Equal Jitter" (``temp / 2 + random_between(0, temp / 2)``), and
    the reference plugin runtime's jitter (connect-plugin-go: "actual =
    calculated * random(0.5, 1.0)"). The default: half of the backoff is
    guaranteed, so retries are never bunched right after the failure.
    """

    FULL = "full"
    """``value * r``: uniform in [0, value).

    AWS's "Full Jitter", and gRPC's retry backoff (proposal A6, "Exponential
    Backoff": the n-th retry happens at
    ``random(0, min(initialBackoff * backoffMultiplier^(n-1), maxBackoff))``).
    """

    DECORRELATED = "decorrelated"
    """``min(maximum, initial + (previous * 3 - initial) * r)``: uniform in [initial, previous * 3).

    AWS's "Decorrelated Jitter" (``sleep = min(cap, random_between(base,
    sleep * 3))``): each wait grows from the previous one (the capped value
    returned last, ``initial`` before the first retry), not from the retry
    number, so the multiplier is not used.
    """


class RandomSource(Protocol):
    """Where a schedule draws its jitter from; :class:`random.Random` is one."""

    def random(self) -> float:
        """A float uniformly distributed in [0, 1)."""
        ...


_DEFAULT_RANDOM: Final = _random.Random()
"""Shared by schedules built without a random source (jitter needs no cryptographic quality)."""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_seconds(field: str, value: float) -> None:
    if not _is_number(value) or not 0 < value < math.inf:
        raise ValueError(f"{field} must be finite seconds > 0, not {value!r}")


def _check_parameters(initial: float, multiplier: float, maximum: float) -> None:
    _check_seconds("initial", initial)
    if not _is_number(multiplier) or not 0 < multiplier < math.inf:
        raise ValueError(f"multiplier must be a finite number > 0, not {multiplier!r}")
    _check_seconds("maximum", maximum)
    if maximum < initial:
        raise ValueError(f"maximum must be >= initial ({initial!r}), not {maximum!r}")


def _exponential(retry: int, initial: float, multiplier: float, maximum: float) -> float:
    try:
        value = initial * float(multiplier) ** (retry - 1)
    except OverflowError:  # multiplier^(n-1) beyond the largest float: far past the cap
        return float(maximum)
    return float(min(value, maximum))  # an infinite product is capped here too


def exponential_backoff(retry: int, *, initial: float, multiplier: float, maximum: float) -> float:
    """Backoff before retry n (n = 1, 2, ...), no jitter: min(initial * multiplier^(n-1), maximum).

    This is gRPC's backoff ceiling (proposal A6, "Exponential Backoff") and
    the reference runtime's schedule: with ``initial=0.1, multiplier=2,
    maximum=10`` it gives 0.1, 0.2, 0.4, … and 10 from the 8th retry on
    (0.1 * 2^7 = 12.8 is capped). It never overflows: a power too large for
    a float is the cap.

    Args:
        retry: Which retry (1 for the first one, after the original attempt).
        initial: The first retry's backoff in seconds (finite, > 0).
        multiplier: The growth factor per retry (finite, > 0; A6 allows < 1).
        maximum: The cap in seconds (finite, >= ``initial``).

    Raises:
        TypeError: ``retry`` is not an int.
        ValueError: ``retry`` < 1, or a parameter is out of range (the
            message names it and its value).
    """
    if not isinstance(retry, int) or isinstance(retry, bool):
        raise TypeError(f"retry must be an int, not {type(retry).__name__}")
    if retry < 1:
        raise ValueError(f"retry must be >= 1, not {retry!r}")
    _check_parameters(initial, multiplier, maximum)
    return _exponential(retry, initial, multiplier, maximum)


@final
class BackoffSchedule:
    """The backoff sequence of one call: next() gives each retry's wait; reset() restarts it.

    Retry n (counted from 1 since creation or the last :meth:`reset`) waits
    ``value = min(initial * multiplier^(n-1), maximum)`` (see
    :func:`exponential_backoff`), randomised by ``jitter`` (see
    :class:`Jitter` for each formula and its source). Every wait is at most
    ``maximum``.

    gRPC (proposal A6, "Pushback") asks that after a retry delayed by the
    server's pushback, later retries start again from the initial backoff:
    the caller then calls :meth:`reset`.

    Not thread-safe; one schedule per call.

    Args:
        initial: The first retry's backoff in seconds (finite, > 0).
        multiplier: The growth factor per retry (finite, > 0).
        maximum: The cap in seconds (finite, >= ``initial``).
        jitter: How each wait is randomised (default :attr:`Jitter.EQUAL`).
        random: Where the jitter comes from; by default a module-level
            :class:`random.Random` shared by all schedules.

    Raises:
        TypeError: ``jitter`` is not a :class:`Jitter`.
        ValueError: a parameter is out of range (the message names it and
            its value).
    """

    __slots__ = (
        "_initial",
        "_jitter",
        "_maximum",
        "_multiplier",
        "_previous",
        "_random",
        "_retries",
    )

    def __init__(
        self,
        *,
        initial: float,
        multiplier: float,
        maximum: float,
        jitter: Jitter = Jitter.EQUAL,
        random: RandomSource | None = None,
    ) -> None:
        _check_parameters(initial, multiplier, maximum)
        if not isinstance(jitter, Jitter):
            raise TypeError(f"jitter must be a Jitter, not {type(jitter).__name__}")
        self._initial = float(initial)
        self._multiplier = float(multiplier)
        self._maximum = float(maximum)
        self._jitter = jitter
        self._random: RandomSource = random if random is not None else _DEFAULT_RANDOM
        self._retries = 0
        self._previous = self._initial  # decorrelated jitter's previous wait

    @property
    def retries(self) -> int:
        """How many waits :meth:`next` has given since creation or the last :meth:`reset`."""
        return self._retries

    def next(self) -> float:
        """The wait in seconds before the next retry; advances the schedule.

        With :attr:`Jitter.EQUAL` and :attr:`Jitter.DECORRELATED` the result
        is clamped just below the upper bound when float rounding would reach
        it, so the intervals stay half-open as documented.
        """
        self._retries += 1
        jitter = self._jitter
        if jitter is Jitter.DECORRELATED:
            initial = self._initial
            high = self._previous * 3.0
            r = self._random.random()
            # r == 0 is initial exactly (and avoids inf * 0 for a huge maximum)
            wait = initial if r == 0 else initial + (high - initial) * r
            if wait >= high:  # rounding reached the open bound
                wait = math.nextafter(high, 0.0)
            wait = min(self._maximum, wait)
            self._previous = wait
            return wait
        value = _exponential(self._retries, self._initial, self._multiplier, self._maximum)
        if jitter is Jitter.NONE:
            return value
        r = self._random.random()
        if jitter is Jitter.FULL:
            return value * r
        wait = value * (0.5 + 0.5 * r)
        return wait if wait < value else math.nextafter(value, 0.0)

    def reset(self) -> None:
        """Restart the schedule: the next :meth:`next` is the first retry's wait again."""
        self._retries = 0
        self._previous = self._initial

    def __repr__(self) -> str:
        return (
            f"BackoffSchedule(initial={self._initial!r}, multiplier={self._multiplier!r}, "
            f"maximum={self._maximum!r}, jitter={self._jitter}, retries={self._retries})"
        )
