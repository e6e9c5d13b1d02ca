"""What the resilience interceptors tell an endpoint's subscribers (``handle.events()``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import final

from ..protocol import ConnectError
from ._breaker import CircuitState


@final
@dataclass(frozen=True, slots=True)
class CircuitStateChanged:
    """The endpoint's circuit breaker moved from one state to another."""

    plugin: str
    """The name the endpoint was connected under."""
    old: CircuitState
    new: CircuitState


@final
@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """An attempt failed and another will start after ``delay`` seconds (0 for a hedge)."""

    plugin: str
    """The name the endpoint was connected under."""
    procedure: str
    """The method called, e.g. ``/demo.kv.v1.KVService/Get``."""
    attempt: int
    """The number of the attempt about to start (2 for the first retry)."""
    delay: float
    """Seconds until it starts."""
    error: ConnectError | None = field(compare=False)
    """Why: the failure of the previous attempt (None for a hedge sent on its timer)."""
    pushback: bool = False
    """Whether the delay is the server's (``Retry-After`` or ``grpc-retry-pushback-ms``)."""
    hedge: bool = False
    """Whether it is a hedge, racing the attempts still in flight."""
