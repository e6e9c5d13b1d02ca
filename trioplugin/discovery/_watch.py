"""What a service handle follows for each endpoint: its breaker's changes and its health.

Both end when the endpoint's actor closes: the service cancels
``member.watching`` before closing it, and its own ``aclose`` cancels every
watcher with the service's background nursery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import trio

from ..actor import HealthStatus
from ..protocol import Code, ConnectError
from ..resilience import BackoffSchedule, CircuitStateChanged
from ._member import Member
from ._options import HealthWatch

logger = logging.getLogger("trioplugin.discovery")

HEALTH_RECONNECT_INITIAL: Final = 0.5
"""Seconds before a broken health watch is opened again (doubling, jittered)."""

HEALTH_RECONNECT_MAX: Final = 10.0
"""The most seconds between attempts to open a health watch again."""

_NO_HEALTH_SERVICE: Final = frozenset({Code.UNIMPLEMENTED, Code.NOT_FOUND})


HealthChanged = Callable[[Member, HealthStatus], None]
"""Told an endpoint's health now, when it differs from ``member.serving``."""


async def watch_member(
    member: Member,
    health: HealthWatch | None,
    circuit_changed: Callable[[], None],
    health_changed: HealthChanged,
) -> None:
    """Say whenever ``member``'s circuit or health changes, until its watch is cancelled."""
    with member.watching:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_follow_circuit, member, circuit_changed)
            if health is not None:
                nursery.start_soon(_follow_health, member, health, health_changed)


async def _follow_circuit(member: Member, changed: Callable[[], None]) -> None:
    async with member.handle.events() as events:
        async for event in events:  # ends: the actor closes
            if isinstance(event, CircuitStateChanged):
                changed()


async def _follow_health(member: Member, health: HealthWatch, changed: HealthChanged) -> None:
    schedule = BackoffSchedule(
        initial=HEALTH_RECONNECT_INITIAL, multiplier=2.0, maximum=HEALTH_RECONNECT_MAX
    )

    def report(status: HealthStatus) -> None:
        schedule.reset()  # it answered: a later break starts the backoff again
        if status is not member.serving:
            changed(member, status)

    while True:  # ends: the endpoint has no health service, or the watch is cancelled
        try:
            await health(member.handle, report)
        except ConnectError as error:
            if error.code in _NO_HEALTH_SERVICE:
                logger.debug("endpoint %s serves no health: taken as serving", member.url)
                report(HealthStatus.SERVING)
                return
            logger.debug("health watch of %s broke: %s", member.url, error)
        await trio.sleep(schedule.next())
