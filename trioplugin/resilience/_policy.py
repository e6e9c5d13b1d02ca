"""What a retry does: the reference's RetryPolicy, and the hedging policy beside it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, final

from ..protocol import Code, ConnectError
from ..rpc import Idempotency, MethodInfo, StreamType
from ..transport import TLSError
from ._backoff import BackoffSchedule, Jitter, RandomSource, exponential_backoff
from ._errors import CircuitOpenError, timed_out_remotely
from ._limiters import RetryBudget, RetryThrottling

RETRYABLE_CODES: Final = frozenset(
    {Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.INTERNAL, Code.UNKNOWN}
)
"""Codes retried by default; ``deadline_exceeded`` too, when the server sent it."""

DEFAULT_MAX_REPLAY_BYTES: Final = 256 * 1024
"""Streamed requests kept for replay by default (gRPC's per-call retry buffer)."""

_SAFE: Final = frozenset({Idempotency.NO_SIDE_EFFECTS, Idempotency.IDEMPOTENT})


def is_retryable_by_default(error: ConnectError) -> bool:
    """The reference's rule of which failures are worth another attempt.

    ``unavailable``, ``resource_exhausted``, ``internal``, ``unknown``, and a
    ``deadline_exceeded`` that the server sent or an attempt timeout.

    Never an open circuit (:class:`CircuitOpenError`), never a failed TLS
    handshake (:class:`~trioplugin.transport.TLSError`, although its code
    is ``unavailable``: a certificate the client does not trust, one the
    server refuses, or no TLS version in common fails the same way again,
    and a retry only hides the cause), never a client-side code
    (``invalid_argument``, ``not_found``, ``permission_denied``,
    ``canceled``, ``unauthenticated``, ...), and never a deadline the caller
    set and this process noticed: that time is up.
    """
    if isinstance(error, CircuitOpenError | TLSError):
        return False
    if error.code is Code.DEADLINE_EXCEEDED:
        return timed_out_remotely(error)
    return error.code in RETRYABLE_CODES


def _check(condition: bool, name: str, value: object, rule: str) -> None:
    if not condition:
        raise ValueError(f"{name} must be {rule}, not {value!r}")


@final
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How calls are retried: connect-plugin-go's ``RetryPolicy``, field for field, and more.

    The reference fields: up to ``max_attempts`` attempts in all (the first
    included); the wait before retry *n* is ``min(initial_backoff *
    backoff_multiplier**(n-1), max_backoff)`` seconds, multiplied with
    ``jitter`` by a uniform factor in [0.5, 1.0); ``is_retryable(error)``
    replaces :func:`is_retryable_by_default`.

    Beyond it: ``jitter_mode`` picks full or decorrelated jitter instead of
    the reference's (equal) jitter; ``attempt_timeout`` bounds each attempt
    (it also goes on the wire as ``Connect-Timeout-Ms``); ``pushback``
    honours a server's ``Retry-After`` / ``grpc-retry-pushback-ms``;
    ``retry_unsafe`` retries methods not declared idempotent even when the
    request may have reached the handler; ``max_replay_bytes`` bounds what a
    streaming call keeps for replay; ``budget`` (:class:`RetryBudget` or
    :class:`RetryThrottling`) limits retries per endpoint; ``random`` is the
    jitter's random source (for tests).
    """

    max_attempts: int = 3
    initial_backoff: float = 0.1
    max_backoff: float = 10.0
    backoff_multiplier: float = 2.0
    jitter: bool = True
    is_retryable: Callable[[ConnectError], bool] | None = None
    jitter_mode: Jitter = Jitter.EQUAL
    attempt_timeout: float | None = None
    pushback: bool = True
    retry_unsafe: bool = False
    max_replay_bytes: int = DEFAULT_MAX_REPLAY_BYTES
    budget: RetryBudget | RetryThrottling | None = None
    random: RandomSource | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check(
            isinstance(self.max_attempts, int) and self.max_attempts >= 1,
            "max_attempts",
            self.max_attempts,
            "an int of at least 1",
        )
        for name in ("initial_backoff", "max_backoff"):
            value = getattr(self, name)
            _check(value >= 0 and math.isfinite(value), name, value, "finite and >= 0")
        _check(
            self.backoff_multiplier >= 1 and math.isfinite(self.backoff_multiplier),
            "backoff_multiplier",
            self.backoff_multiplier,
            "finite and >= 1",
        )
        _check(
            self.max_backoff >= self.initial_backoff,
            "max_backoff",
            self.max_backoff,
            f">= initial_backoff ({self.initial_backoff})",
        )
        _check(
            self.attempt_timeout is None or self.attempt_timeout > 0,
            "attempt_timeout",
            self.attempt_timeout,
            "None or > 0",
        )
        _check(self.max_replay_bytes >= 0, "max_replay_bytes", self.max_replay_bytes, ">= 0")
        _check(isinstance(self.jitter_mode, Jitter), "jitter_mode", self.jitter_mode, "a Jitter")

    @classmethod
    def default(cls) -> RetryPolicy:
        """The reference's ``DefaultRetryPolicy()``: 3 attempts, 0.1 s doubling to 10 s, jitter."""
        return cls()

    def backoff(self, retry: int) -> float:
        """The wait before retry ``retry`` (1, 2, ...) without jitter."""
        return exponential_backoff(
            retry,
            initial=self.initial_backoff,
            multiplier=self.backoff_multiplier,
            maximum=self.max_backoff,
        )

    def schedule(self) -> BackoffSchedule:
        """A fresh backoff sequence for one call."""
        return BackoffSchedule(
            initial=self.initial_backoff,
            multiplier=self.backoff_multiplier,
            maximum=self.max_backoff,
            jitter=self.jitter_mode if self.jitter else Jitter.NONE,
            random=self.random,
        )

    def retryable(self, error: ConnectError) -> bool:
        """Whether ``error`` is worth another attempt (``is_retryable`` or the default)."""
        if isinstance(error, CircuitOpenError):
            return False
        rule = self.is_retryable or is_retryable_by_default
        return bool(rule(error))

    def may_resend(self, method: MethodInfo[Any, Any], request_sent: bool) -> bool:
        """Whether a request can go again: surely unprocessed, idempotent, or opted in."""
        return not request_sent or self.retry_unsafe or method.idempotency in _SAFE


HEDGE_NON_FATAL_CODES: Final = frozenset({Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED})


@final
@dataclass(frozen=True, slots=True)
class HedgingPolicy:
    """Hedged calls (gRPC proposal A6 ``hedgingPolicy``): race copies of an idempotent unary call.

    The first attempt goes at once, another every ``delay`` seconds (or at
    once after a non-fatal failure) up to ``max_attempts`` in all; the first
    success wins and the others are cancelled (their handlers see the
    cancel). A failure whose code is not in ``non_fatal_codes`` ends the
    call; so does a :class:`~trioplugin.transport.TLSError`, whatever its
    code (a failed TLS handshake fails every copy alike). Hedges draw on the
    endpoint's retry budget like retries. Only unary methods declared
    ``NO_SIDE_EFFECTS`` or ``IDEMPOTENT`` are hedged; others are retried by
    the policy instead.
    """

    max_attempts: int = 3
    delay: float = 0.05
    non_fatal_codes: frozenset[Code] = HEDGE_NON_FATAL_CODES

    def __post_init__(self) -> None:
        _check(
            isinstance(self.max_attempts, int) and self.max_attempts >= 1,
            "max_attempts",
            self.max_attempts,
            "an int of at least 1",
        )
        _check(self.delay >= 0 and math.isfinite(self.delay), "delay", self.delay, ">= 0")

    def applies_to(self, method: MethodInfo[Any, Any]) -> bool:
        """Whether calls of ``method`` are hedged (idempotent unary methods)."""
        return method.stream_type is StreamType.UNARY and method.idempotency in _SAFE
