"""A plugin's health as it reports it: three states, per service, watched without queues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import final

import trio

from ..actor import HealthStatus


@dataclass(frozen=True, slots=True)
class _Entry:
    status: HealthStatus
    reason: str
    changed: trio.Event


@final
class HealthReporter:
    """The health a plugin reports to its host: serving, degraded or not serving.

    The plugin as a whole is the service ``""``, serving from the start;
    a named service is known once it has been :meth:`set`. The host (and
    any gRPC health checker) reads it through the plugin's built-in
    health services, which :func:`serve` adds.

    Example::

        health = HealthReporter()
        trioplugin.serve({KV_SERVICE: store}, health=health)
        ...
        health.set(HealthStatus.DEGRADED, reason="disk 93% full")  # in a handler

    Watchers never fall behind: each sees the latest status, not every
    step in between.
    """

    __slots__ = ("_added", "_entries")

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._added = trio.Event()  # set, and replaced, each time a service is first set
        self.set(HealthStatus.SERVING)

    def set(self, status: HealthStatus, service: str = "", *, reason: str = "") -> None:
        """Report ``status`` for ``service`` (``""``: the plugin as a whole), with a ``reason``.

        Raises:
            TypeError: ``status`` is not a :class:`HealthStatus`.
        """
        if not isinstance(status, HealthStatus):
            raise TypeError(f"status must be a HealthStatus, not {status!r}")
        if not isinstance(service, str):
            raise TypeError(f"service must be a str, not {service!r}")
        old = self._entries.get(service)
        if old is not None and (old.status, old.reason) == (status, reason):
            return
        self._entries[service] = _Entry(status, reason, trio.Event())
        if old is not None:
            old.changed.set()
        else:
            added, self._added = self._added, trio.Event()
            added.set()

    def status(self, service: str = "") -> HealthStatus:
        """The status of ``service``.

        Raises:
            LookupError: no status was ever set for it (the message lists those there are).
        """
        return self._entry(service).status

    def reason(self, service: str = "") -> str:
        """Why ``service`` has its status, as last set ("" if no reason was given)."""
        return self._entry(service).reason

    @property
    def services(self) -> tuple[str, ...]:
        """Every service with a status, ``""`` first."""
        return tuple(self._entries)

    def __contains__(self, service: object) -> bool:
        """Whether ``service`` has a status."""
        return service in self._entries

    async def watch(self, service: str = "") -> AsyncIterator[HealthStatus | None]:
        """Yield the status of ``service`` now, then each time it changes.

        ``None`` while the service has no status (it may get one later).
        """
        last: object = object()
        while True:  # ends: when the consumer stops iterating
            entry = self._entries.get(service)
            current = None if entry is None else entry.status
            if current != last:
                last = current
                yield current
            await (self._added if entry is None else entry.changed).wait()

    def _entry(self, service: str) -> _Entry:
        try:
            return self._entries[service]
        except KeyError:
            known = ", ".join(repr(name) for name in self._entries)
            raise LookupError(
                f"no health status for service {service!r}; there are {known}"
            ) from None

    def __repr__(self) -> str:
        statuses = ", ".join(
            f"{name!r}: {entry.status.name}" for name, entry in self._entries.items()
        )
        return f"<HealthReporter {{{statuses}}}>"
