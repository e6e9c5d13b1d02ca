"""What a service handle tells its subscribers: endpoints joining, leaving, ejected, back, ill."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from ..actor import HealthStatus, PluginEvent


@dataclass(frozen=True, slots=True)
class ServiceEvent(PluginEvent):
    """Something that happened to one endpoint of a service (``plugin`` is the service's name)."""

    url: str
    """The endpoint's base URL."""


@final
@dataclass(frozen=True, slots=True)
class EndpointAdded(ServiceEvent):
    """The source found a new endpoint: it has an actor and is in rotation."""


@final
@dataclass(frozen=True, slots=True)
class EndpointRemoved(ServiceEvent):
    """The source no longer lists the endpoint: out of rotation, its calls left to finish."""


@final
@dataclass(frozen=True, slots=True)
class EndpointEjected(ServiceEvent):
    """The endpoint went out of rotation while listed: its circuit opened, or it is not serving."""

    reason: str
    """``circuit open`` or ``not serving``."""


@final
@dataclass(frozen=True, slots=True)
class EndpointReturned(ServiceEvent):
    """An ejected endpoint is back in rotation (its circuit half-opened or closed, or it serves)."""


@final
@dataclass(frozen=True, slots=True)
class EndpointHealthChanged(ServiceEvent):
    """The endpoint's health service reported another status."""

    old: HealthStatus
    new: HealthStatus
