"""What a circuit breaker is configured with and reports: its states, config and statistics."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, final

from ..protocol import Code, ConnectError
from ._errors import CircuitOpenError, timed_out_remotely
from ._windows import FailureRateWindow


class CircuitState(enum.Enum):
    """Where a circuit breaker is: calls flow, are refused, or are probing."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value


StateListener = Callable[[CircuitState, CircuitState], None]
"""A state-change callback: ``listener(from_state, to_state)``."""

DEFAULT_FAILURE_CODES: Final[frozenset[Code]] = frozenset(
    {Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.INTERNAL, Code.UNKNOWN, Code.DEADLINE_EXCEEDED}
)
"""The codes that count as a failure of the plugin by default (the retryable ones)."""


def is_failure_by_default(error: BaseException) -> bool:
    """Whether ``error`` counts against the circuit unless ``is_failure`` says otherwise.

    A :class:`ConnectError` counts when its code is in
    :data:`DEFAULT_FAILURE_CODES`, except a :class:`CircuitOpenError` (a
    breaker's refusal is not a failure of the plugin) and a
    ``deadline_exceeded`` that is the caller's (see
    :func:`timed_out_remotely`: only one the server sent, or an attempt's own
    timeout, is the plugin's). A failed TLS handshake
    (:class:`~trioplugin.transport.TLSError`, ``unavailable``) counts: the
    endpoint cannot be used until its certificates or ours change, and an
    open circuit then refuses at once instead of handshaking again for
    every call (the calls that opened it raised the TLSError that says
    why). Any other
    ``Exception`` counts. A ``BaseException`` that is not an ``Exception``
    (cancellation, ``KeyboardInterrupt``) never does. An exception group
    counts when one of its exceptions does.
    """
    if not isinstance(error, Exception):
        return False
    if isinstance(error, CircuitOpenError):
        return False
    if isinstance(error, ConnectError):
        if error.code is Code.DEADLINE_EXCEEDED:
            return timed_out_remotely(error)
        return error.code in DEFAULT_FAILURE_CODES
    if isinstance(error, ExceptionGroup):
        return any(is_failure_by_default(inner) for inner in error.exceptions)
    return True


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@final
@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """How a circuit breaker counts failures and when it opens and closes.

    Attributes:
        failure_threshold: Consecutive failures in CLOSED that open the circuit (>= 1).
        success_threshold: Consecutive probe successes in HALF_OPEN that close it (>= 1).
        timeout: Seconds the circuit stays OPEN before it admits probes (> 0, finite;
            to keep it open, use :meth:`CircuitBreaker.force_open`).
        on_state_change: Called as ``on_state_change(from_state, to_state)`` on
            every transition, before the listeners.
        is_failure: Decides whether a call's exception counts as a failure;
            replaces :func:`is_failure_by_default`. A call that ended with a
            ``BaseException`` that is not an ``Exception`` is never counted.
        max_probes: Probes admitted at once in HALF_OPEN (>= 1).
        window: A failure-rate and slow-call window, beside the consecutive count.

    Raises:
        ValueError: a field is out of range (the message names it and its value).
    """

    failure_threshold: int = 5
    success_threshold: int = 2
    timeout: float = 10.0
    on_state_change: StateListener | None = None
    is_failure: Callable[[BaseException], bool] | None = None
    max_probes: int = 1
    window: FailureRateWindow | None = None

    def __post_init__(self) -> None:
        for field in ("failure_threshold", "success_threshold", "max_probes"):
            value = getattr(self, field)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{field} must be an int >= 1, not {value!r}")
        timeout = self.timeout
        number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
        if not number or not 0 < timeout < math.inf:
            raise ValueError(f"timeout must be finite seconds > 0, not {timeout!r}")
        for field in ("on_state_change", "is_failure"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise ValueError(f"{field} must be callable or None, not {value!r}")
        if self.window is not None and not isinstance(self.window, FailureRateWindow):
            raise ValueError(f"window must be a FailureRateWindow or None, not {self.window!r}")


@final
@dataclass(frozen=True, slots=True)
class CircuitBreakerStatistics:
    """A snapshot of a circuit breaker.

    Attributes:
        name: The breaker's name.
        state: Its state (CLOSED while disabled).
        consecutive_failures: Failures since the last success or transition.
        consecutive_successes: Successes (in HALF_OPEN: probe successes) since
            the last failure or transition.
        probes_in_flight: Probes admitted in HALF_OPEN that have not ended.
        calls_in_window: Calls the failure-rate window holds (0 without one).
        failure_rate: Failures / calls in the window; None without a window or
            below its ``minimum_calls``.
        slow_call_rate: Slow calls / calls in the window; None as for
            ``failure_rate``, or without a slow-call rule.
        times_opened: Transitions into OPEN, ever.
        rejected: Calls refused with :class:`CircuitOpenError`, ever.
        forced_open: Whether :meth:`CircuitBreaker.force_open` holds it open.
        disabled: Whether :meth:`CircuitBreaker.disable` holds it closed.
    """

    name: str
    state: CircuitState
    consecutive_failures: int
    consecutive_successes: int
    probes_in_flight: int
    calls_in_window: int
    failure_rate: float | None
    slow_call_rate: float | None
    times_opened: int
    rejected: int
    forced_open: bool
    disabled: bool
