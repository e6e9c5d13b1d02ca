"""A snapshot of what an endpoint actor is doing."""

from __future__ import annotations

from dataclasses import dataclass

from ..resilience import CircuitBreakerStatistics, CircuitState, RetryStatistics
from ._events import ActorState


@dataclass(frozen=True, slots=True)
class ActorStatistics:
    """Counters of one endpoint actor, as :meth:`PluginHandle.statistics` returns them."""

    plugin: str
    """The name the plugin was connected under."""
    state: ActorState
    """Starting, running, closing or closed."""
    queued: int
    """Calls waiting for admission: in the inbox, or taken from it and held
    until a slot is free (or, for the first call, until the transport is open)."""
    in_flight: int
    """Calls admitted and running."""
    completed: int
    """Calls answered with a response."""
    failed: int
    """Calls answered with an error (cancellations included)."""
    canceled: int
    """Calls the caller gave up on (cancelled or out of time) before their answer."""
    retried: int
    """Attempts beyond the first, hedges included (the retry interceptor reports them)."""
    circuit_state: CircuitState | None
    """The circuit breaker's state, or None when the endpoint has no breaker."""
    inbox_capacity: int
    """How many calls may wait before callers are held back."""
    max_in_flight: int
    """How many admitted calls may run at once."""
    events_dropped: int
    """Events subscribers missed because they fell behind."""
    circuit: CircuitBreakerStatistics | None = None
    """The endpoint's circuit breaker in detail (the first, if it has several)."""
    retry: RetryStatistics | None = None
    """The endpoint's retry interceptor in detail: retries, hedges, its budget."""
