"""A circuit breaker as a pure, synchronous state machine with an injected clock."""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Final, final

import trio

from .._util import NoPublicConstructor
from ..protocol import ConnectError
from ._breaker_config import (
    DEFAULT_FAILURE_CODES,
    CircuitBreakerConfig,
    CircuitBreakerStatistics,
    CircuitState,
    StateListener,
    is_failure_by_default,
)
from ._errors import CircuitOpenError, RejectionReason
from ._windows import FailureRateWindow, WindowTracker

__all__ = [
    "DEFAULT_FAILURE_CODES",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitBreakerStatistics",
    "CircuitOpenError",
    "CircuitState",
    "FailureRateWindow",
    "Permit",
    "StateListener",
    "is_failure_by_default",
]

_log: Final = logging.getLogger("trioplugin.resilience")


@final
class Permit(metaclass=NoPublicConstructor):
    """One admitted call; report how it ended exactly once (later reports are ignored).

    Obtained from :meth:`CircuitBreaker.admit`. A permit admitted before the
    breaker's latest transition (or reset) is stale: its report changes nothing.
    """

    __slots__ = ("_breaker", "_done", "_generation", "_is_probe", "_started_at")

    def __init__(
        self, breaker: CircuitBreaker, generation: int, *, is_probe: bool, started_at: float
    ) -> None:
        self._breaker = breaker
        self._generation = generation
        self._is_probe = is_probe
        self._started_at = started_at
        self._done = False

    @property
    def is_probe(self) -> bool:
        """Whether the call was admitted in HALF_OPEN, as one of the probes."""
        return self._is_probe

    def record(self, error: BaseException | None) -> None:
        """Report that the call ended: None for a success, else the exception it raised.

        The breaker's ``is_failure`` decides whether the exception is a
        failure or a success. A ``BaseException`` that is not an ``Exception``
        (``trio.Cancelled``, ``KeyboardInterrupt``) is not counted at all, as
        with :meth:`release`.
        """
        if not self._done:
            self._done = True
            self._breaker._settle(self, error, released=False)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """``with permit:`` around the call reports how it ended (cancellation: released)."""
        if exc is None:
            self.record(None)
        elif isinstance(exc, Exception):
            self.record(exc)
        else:
            self.release()  # cancelled or abandoned: not the plugin's doing

    def release(self) -> None:
        """Report that the call was cancelled or abandoned: it is not counted.

        A probe's slot is freed at once; the circuit stays HALF_OPEN.
        """
        if not self._done:
            self._done = True
            self._breaker._settle(self, None, released=True)


@final
class CircuitBreaker:
    """Decides whether a call may go to its endpoint, from how earlier calls ended.

    CLOSED: calls flow; ``failure_threshold`` consecutive failures (or the
    window's rate rules) open the circuit. OPEN: calls are refused with
    :class:`CircuitOpenError` until ``timeout`` has elapsed, then HALF_OPEN:
    up to ``max_probes`` calls at once go through; ``success_threshold``
    consecutive probe successes close the circuit and any probe failure
    opens it again.

    Every transition starts a new generation; a call admitted in an earlier
    one is stale and its outcome changes nothing. Callbacks run on every
    transition, in order and never nested: a transition made from inside a
    callback is applied at once and announced after the current round.
    There are no awaits and no locks: use a breaker from one task (the
    endpoint's actor), or from tasks of one trio run.
    """

    def __init__(
        self,
        config: CircuitBreakerConfig | None = None,
        *,
        name: str = "",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._config = config if config is not None else CircuitBreakerConfig()
        self._name = name
        # trio.current_time is looked up here but only called later, inside trio.run.
        self._clock: Callable[[], float] = clock if clock is not None else trio.current_time
        self._is_failure = self._config.is_failure or is_failure_by_default
        window = self._config.window
        self._window = WindowTracker(window, self._clock) if window is not None else None
        self._times_calls = window is not None and window.slow_call_duration is not None
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._opened_at = 0.0
        self._forced = False
        self._disabled = False
        self._consecutive_failures = 0
        self._consecutive_successes = 0
        self._last_failure: ConnectError | None = None
        self._probes = 0
        self._times_opened = 0
        self._rejected = 0
        self._listeners: dict[int, StateListener] = {}
        self._next_listener = 0
        self._pending: deque[tuple[CircuitState, CircuitState]] = deque()
        self._notifying = False

    @property
    def config(self) -> CircuitBreakerConfig:
        """The breaker's configuration."""
        return self._config

    @property
    def name(self) -> str:
        """The breaker's name, as error messages and statistics show it."""
        return self._name

    @property
    def state(self) -> CircuitState:
        """The current state (CLOSED while disabled).

        Reading it when the circuit is OPEN and ``timeout`` has elapsed moves
        it to HALF_OPEN first, with callbacks. A forced-open circuit stays OPEN.
        """
        try:
            self._maybe_half_open()
        finally:
            self._deliver()
        return self._state

    @property
    def closed(self) -> bool:
        """Whether the circuit is CLOSED (it refuses nothing then); cheaper than :attr:`state`."""
        return self._state is CircuitState.CLOSED

    @property
    def rejected(self) -> int:
        """Calls refused so far (as in :meth:`statistics`, without building a snapshot)."""
        return self._rejected

    def admit(self) -> Permit:
        """Let one call through, or refuse it.

        Raises:
            CircuitOpenError: the circuit is OPEN (``retry_after`` is the time
                left until probes, ``math.inf`` when forced open), or HALF_OPEN
                with every probe slot taken (``retry_after`` 0).
        """
        if self._state is CircuitState.CLOSED and not self._times_calls:
            # The healthy case, on every call: nothing can be refused or announced.
            return Permit._create(self, self._generation, is_probe=False, started_at=0.0)
        try:
            return self._admit()
        finally:
            self._deliver()

    def check(self, *, half_open: bool = True) -> None:
        """Refuse now what :meth:`admit` would refuse, without admitting anything.

        For callers that can fail fast before doing any work for the call
        (an endpoint's handle, before queueing it); a call that passes still
        goes through :meth:`admit`. It never changes the state. With
        ``half_open=False`` only an open circuit refuses (a half-open one
        whose probe slots are taken may free one before the call is admitted).

        Raises:
            CircuitOpenError: as :meth:`admit` would.
        """
        state = self._state
        if state is CircuitState.OPEN:
            if self._forced:
                self._reject(math.inf, "forced")
            now = self._clock()
            reopens_at = self._opened_at + self._config.timeout
            if now < reopens_at:
                self._reject(reopens_at - now, "open")
        elif (
            half_open
            and state is CircuitState.HALF_OPEN
            and self._probes >= self._config.max_probes
        ):
            self._reject(0.0, "half_open")

    def force_open(self) -> None:
        """Hold the circuit OPEN, refusing every call, until :meth:`reset` (or :meth:`disable`)."""
        self._disabled = False
        self._forced = True
        if self._state is not CircuitState.OPEN:
            self._transition(CircuitState.OPEN)
        self._deliver()

    def disable(self) -> None:
        """Admit every call and stay CLOSED, until :meth:`reset` (or :meth:`force_open`).

        Outcomes are still counted (consecutive counts, window, statistics)
        but never cause a transition.
        """
        self._forced = False
        self._disabled = True
        if self._state is not CircuitState.CLOSED:
            self._transition(CircuitState.CLOSED)
        self._deliver()

    def reset(self) -> None:
        """Go back to CLOSED as if new: clears the counts, the window, forced and disabled.

        Calls admitted before the reset are stale. ``times_opened`` and
        ``rejected`` are lifetime totals and stay.
        """
        self._forced = False
        self._disabled = False
        if self._state is CircuitState.CLOSED:
            self._new_generation()
        else:
            self._transition(CircuitState.CLOSED)
        self._deliver()

    def add_listener(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(from_state, to_state)`` on every transition, after ``on_state_change``.

        Returns:
            A function that removes the listener (calling it again does nothing).
        """
        key = self._next_listener
        self._next_listener += 1
        self._listeners[key] = listener

        def remove() -> None:
            self._listeners.pop(key, None)

        return remove

    def statistics(self) -> CircuitBreakerStatistics:
        """A snapshot of the breaker (reading its :attr:`state`, so it may move to HALF_OPEN)."""
        state = self.state
        snapshot = self._window.snapshot() if self._window is not None else None
        return CircuitBreakerStatistics(
            name=self._name,
            state=state,
            consecutive_failures=self._consecutive_failures,
            consecutive_successes=self._consecutive_successes,
            probes_in_flight=self._probes,
            calls_in_window=snapshot.calls if snapshot is not None else 0,
            failure_rate=snapshot.failure_rate if snapshot is not None else None,
            slow_call_rate=snapshot.slow_call_rate if snapshot is not None else None,
            times_opened=self._times_opened,
            rejected=self._rejected,
            forced_open=self._forced,
            disabled=self._disabled,
        )

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self._name!r} {self._state}>"

    def _admit(self) -> Permit:
        if self._state is CircuitState.OPEN:
            if self._forced:
                self._reject(math.inf, "forced")
            now = self._clock()
            reopens_at = self._opened_at + self._config.timeout
            if now < reopens_at:
                self._reject(reopens_at - now, "open")
            self._transition(CircuitState.HALF_OPEN)
        is_probe = self._state is CircuitState.HALF_OPEN
        if is_probe:
            if self._probes >= self._config.max_probes:
                self._reject(0.0, "half_open")
            self._probes += 1
        started_at = self._clock() if self._times_calls else 0.0
        return Permit._create(self, self._generation, is_probe=is_probe, started_at=started_at)

    def _reject(self, retry_after: float, reason: RejectionReason) -> None:
        self._rejected += 1
        last = self._last_failure if reason != "forced" else None
        raise CircuitOpenError(self._name, retry_after, reason=reason, last_failure=last)

    def _settle(self, permit: Permit, error: BaseException | None, *, released: bool) -> None:
        """Apply the outcome of one current-generation call (Permit calls this once)."""
        if permit._generation != self._generation:
            return
        if error is None and not released and not permit.is_probe and self._window is None:
            # A success in CLOSED with no window (every healthy call): no transition.
            self._consecutive_failures = 0
            self._consecutive_successes += 1
            return
        try:
            if released or (error is not None and not isinstance(error, Exception)):
                if permit.is_probe:
                    self._probes -= 1
                return
            failed = error is not None and self._judge(error)
            if failed and isinstance(error, ConnectError):
                self._last_failure = error  # what refusals will name as the cause
            if permit.is_probe:
                self._probes -= 1
                if failed:
                    self._transition(CircuitState.OPEN)
                else:
                    self._consecutive_successes += 1
                    if self._consecutive_successes >= self._config.success_threshold:
                        self._transition(CircuitState.CLOSED)
                return
            if failed:
                self._consecutive_failures += 1
                self._consecutive_successes = 0
            else:
                self._consecutive_failures = 0
                self._consecutive_successes += 1
            tripped = False
            if self._window is not None:
                duration = self._clock() - permit._started_at if self._times_calls else 0.0
                self._window.record(failed=failed, duration=duration)
                tripped = not self._disabled and self._window.snapshot().tripped
            if self._disabled:
                return
            if tripped or self._consecutive_failures >= self._config.failure_threshold:
                self._transition(CircuitState.OPEN)
        finally:
            self._deliver()

    def _judge(self, error: BaseException) -> bool:
        try:
            return bool(self._is_failure(error))
        except Exception:
            # The call did fail; a broken predicate must not hide that.
            _log.exception(
                "circuit %r: is_failure raised; counting the call as a failure", self._name
            )
            return True

    def _maybe_half_open(self) -> None:
        if (
            self._state is CircuitState.OPEN
            and not self._forced
            and self._clock() >= self._opened_at + self._config.timeout
        ):
            self._transition(CircuitState.HALF_OPEN)

    def _new_generation(self) -> None:
        self._generation += 1
        self._consecutive_failures = 0
        self._consecutive_successes = 0
        self._probes = 0
        if self._window is not None:
            self._window.clear()

    def _transition(self, to: CircuitState) -> None:
        """Change state now; the callbacks run at the next :meth:`_deliver`."""
        previous = self._state
        self._state = to
        self._new_generation()
        if to is CircuitState.OPEN:
            self._opened_at = self._clock()
            self._times_opened += 1
        self._pending.append((previous, to))

    def _deliver(self) -> None:
        """Announce the pending transitions, in order, unless a callback is running already."""
        if self._notifying:
            return  # the outer _deliver, lower in this stack, will announce them
        self._notifying = True
        try:
            while self._pending:
                previous, to = self._pending.popleft()
                if self._config.on_state_change is not None:
                    self._call(self._config.on_state_change, previous, to)
                for key, listener in list(self._listeners.items()):
                    if key in self._listeners:  # not removed by an earlier callback
                        self._call(listener, previous, to)
        finally:
            self._notifying = False

    def _call(self, callback: StateListener, previous: CircuitState, to: CircuitState) -> None:
        try:
            callback(previous, to)
        except Exception:
            _log.exception(
                "circuit %r: state-change callback %r raised on %s -> %s",
                self._name,
                callback,
                previous,
                to,
            )
