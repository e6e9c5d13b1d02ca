"""What an actor tells its subscribers: state changes, fanned out without blocking the actor."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final, final

import trio

from ..resilience import CircuitStateChanged, RetryScheduled

EVENT_BUFFER: Final = 64
"""Events a subscriber may fall behind by before it misses some (see ``dropped``)."""


class ActorState(enum.Enum):
    """The life of an endpoint actor."""

    STARTING = "starting"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


@final
@dataclass(frozen=True, slots=True)
class StateChanged:
    """The actor moved from one state to another."""

    plugin: str
    """The name the plugin was connected under."""
    old: ActorState
    new: ActorState


@dataclass(frozen=True, slots=True)
class PluginEvent:
    """Something that happened to the program behind an endpoint, not to its actor.

    The plugin layer's process events derive from it
    (:class:`~trioplugin.PluginExited`, :class:`~trioplugin.PluginRestarted`,
    :class:`~trioplugin.PluginHealthChanged`); whoever runs an endpoint's
    program may publish their own through the :class:`EventHub` they give
    :meth:`~trioplugin.actor.EndpointNursery.connect`.
    """

    plugin: str
    """The name the plugin was connected under."""


ActorEvent = StateChanged | CircuitStateChanged | RetryScheduled | PluginEvent
"""Every kind of event a handle reports: its actor's state, its breaker's, retries, the plugin's."""


@final
class EventHub:
    """Fans events out to subscribers; a subscriber too far behind misses events.

    An actor publishes with :meth:`publish`, which never waits: a slow
    subscriber must not hold up calls. Missed events are counted in
    :attr:`dropped`. Each actor has one; give your own to
    :meth:`~trioplugin.actor.EndpointNursery.connect` to publish events of
    your own beside the actor's.
    """

    __slots__ = ("_subscribers", "dropped")

    def __init__(self) -> None:
        self._subscribers: set[trio.MemorySendChannel[ActorEvent]] = set()
        self.dropped = 0
        """Events a subscriber missed because it was too far behind."""

    def publish(self, event: ActorEvent) -> None:
        """Hand ``event`` to every subscriber that has room for it."""
        for subscriber in list(self._subscribers):
            try:
                subscriber.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1
            except trio.BrokenResourceError:
                self._subscribers.discard(subscriber)

    def close(self) -> None:
        """End every subscription (their iteration stops)."""
        for subscriber in self._subscribers:
            subscriber.close()
        self._subscribers.clear()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[trio.MemoryReceiveChannel[ActorEvent]]:
        """A channel of the events published while the block runs."""
        send, receive = trio.open_memory_channel[ActorEvent](EVENT_BUFFER)
        self._subscribers.add(send)
        try:
            with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()
