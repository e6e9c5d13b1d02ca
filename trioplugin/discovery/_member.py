"""One endpoint of a service as its handle keeps it: the record, the actor's handle, its load."""

from __future__ import annotations

from typing import final

import trio

from ..actor import HealthStatus, PluginHandle
from ..resilience import CircuitState
from ._source import ServiceEndpoint


@final
class Member:
    """A listed (or draining) endpoint: its record, its actor's handle and the calls it carries."""

    __slots__ = (
        "_idle",
        "calls",
        "draining",
        "endpoint",
        "handle",
        "in_flight",
        "serving",
        "watching",
    )

    def __init__(self, endpoint: ServiceEndpoint, handle: PluginHandle) -> None:
        self.endpoint = endpoint
        self.handle = handle
        self.in_flight = 0
        """Calls the service handle sent it that have not ended."""
        self.calls = 0
        """Calls (and attempts) the service handle has sent it."""
        self.draining = False
        """No longer listed: out of rotation, its calls left to finish before its actor closes."""
        self.serving = HealthStatus.SERVING
        """What its health service last said (serving where it has none)."""
        self.watching = trio.CancelScope()
        """Where its circuit and health are followed; cancelled before its actor closes."""
        self._idle = trio.Event()
        self._idle.set()

    @property
    def url(self) -> str:
        """The endpoint's base URL."""
        return self.endpoint.url

    @property
    def priority(self) -> int:
        """Its SRV priority (lower first)."""
        return self.endpoint.priority

    @property
    def weight(self) -> int:
        """Its SRV weight."""
        return self.endpoint.weight

    def circuit_state(self) -> CircuitState | None:
        """Its breaker's state (None without one)."""
        return self.handle.circuit_state()

    def started(self) -> None:
        """A call went to it."""
        if not self.in_flight:
            self._idle = trio.Event()
        self.in_flight += 1
        self.calls += 1

    def ended(self) -> None:
        """A call it carried ended."""
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no call it carries is in flight."""
        await self._idle.wait()

    def __repr__(self) -> str:
        return f"<Member {self.url} in_flight={self.in_flight}>"
