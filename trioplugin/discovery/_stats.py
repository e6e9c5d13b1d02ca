"""Snapshots of a service handle: each endpoint's share, and what happened to the set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from ..actor import HealthStatus
from ..resilience import CircuitState


@final
@dataclass(frozen=True, slots=True)
class EndpointStatistics:
    """One endpoint of a service, as :meth:`ServiceHandle.statistics` saw it."""

    url: str
    priority: int
    weight: int
    in_flight: int
    """Calls the service handle sent it that have not ended."""
    calls: int
    """Calls and retried attempts the service handle has sent it."""
    circuit_state: CircuitState | None
    """Its breaker's state (None without a breaker)."""
    serving: HealthStatus
    """What its health says (serving where nothing says otherwise)."""
    ejected: str | None
    """Why it is out of rotation (``circuit open``, ``not serving``), or None."""
    draining: bool
    """No longer listed: it finishes the calls it has, then its actor closes."""


@final
@dataclass(frozen=True, slots=True)
class ServiceStatistics:
    """A service handle's endpoints and counters."""

    name: str
    endpoints: tuple[EndpointStatistics, ...]
    """Every endpoint it holds, listed or draining, by URL."""
    in_rotation: int
    """Endpoints that take calls now."""
    added: int
    """Endpoints the source has added since the handle opened (the first answer's included)."""
    removed: int
    """Endpoints the source has removed."""
    ejections: int
    """Times an endpoint went out of rotation while listed."""
    retries: int
    """Attempts made after a failed one (on another endpoint where there was one)."""
    failovers: int
    """Calls an endpoint's open circuit refused that went to another endpoint at once."""
    unavailable: int
    """Calls failed because no endpoint was in rotation."""


@final
class Counters:
    """What a service handle counts as it goes, for its statistics."""

    __slots__ = ("added", "ejections", "failovers", "removed", "retries", "unavailable")

    def __init__(self) -> None:
        self.added = self.removed = self.ejections = 0
        self.retries = self.failovers = self.unavailable = 0
