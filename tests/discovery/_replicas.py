"""What the service-handle tests share: replicas that can be made to fail, a source to steer,
calls through a handle and waits for its events, each bounded in count and time."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from trioplugin.actor import ActorEvent, ActorState, StateChanged
from trioplugin.discovery import (
    Endpoints,
    EndpointStatistics,
    ServiceEndpoint,
    ServiceEvent,
    ServiceHandle,
    endpoint_set,
)
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import Call, CallNext, serve_connect
from trioplugin.transport import Server


@dataclass
class Replica:
    """One echo server, with a switch that makes it refuse every call with ``unavailable``."""

    server: Server | None = None
    failing: bool = False
    calls: int = 0
    held: trio.Event | None = None
    """While set to an unset event, calls wait for it inside the server."""
    entered: trio.Event = field(default_factory=trio.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        self.calls += 1
        self.entered.set()
        if self.held is not None:
            await self.held.wait()
        if self.failing:
            raise ConnectError(Code.UNAVAILABLE, f"replica {self.url} is failing")
        await call_next(call)


async def start_replicas(nursery: trio.Nursery, count: int) -> list[Replica]:
    """``count`` echo servers on 127.0.0.1, each behind its own switch."""
    replicas = []
    for _ in range(count):
        replica = Replica()
        replica.server = await nursery.start(
            functools.partial(serve_connect, {ECHO: EchoImpl()}, interceptors=[replica])
        )
        replicas.append(replica)
    return replicas


class SteeredSource:
    """A discovery source whose answer the test sets with :meth:`set`."""

    def __init__(self, endpoints: Iterable[ServiceEndpoint | str] = ()) -> None:
        self.answer: Endpoints = endpoint_set(endpoints)
        self._watchers: list[trio.MemorySendChannel[Endpoints]] = []
        self.applied = trio.Event()

    def set(self, endpoints: Iterable[ServiceEndpoint | str]) -> None:
        self.answer = endpoint_set(endpoints)
        for watcher in self._watchers:
            watcher.send_nowait(self.answer)

    async def resolve(self) -> Endpoints:
        await trio.lowlevel.checkpoint()
        return self.answer

    def watch(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Endpoints]]:
        return self._watch()

    @asynccontextmanager
    async def _watch(self) -> AsyncIterator[trio.MemoryReceiveChannel[Endpoints]]:
        send, receive = trio.open_memory_channel[Endpoints](100)
        send.send_nowait(self.answer)
        self._watchers.append(send)
        try:
            with receive:
                yield receive
        finally:
            self._watchers.remove(send)


async def call(service: ServiceHandle, count: int = 1) -> None:
    """``count`` echo calls through ``service``, one after the other, each within 5 s."""
    echo = service.stub(ECHO)
    for _ in range(count):
        with trio.fail_after(5):
            assert (await echo.Echo(EchoRequest(text="hi"))).text == "hi"


def stats_of(service: ServiceHandle, replica: Replica) -> EndpointStatistics:
    """The statistics of ``replica``'s endpoint in ``service``."""
    return next(stats for stats in service.statistics().endpoints if stats.url == replica.url)


async def wait_for(
    events: trio.MemoryReceiveChannel[ActorEvent], *expected: ServiceEvent, within: float = 15
) -> None:
    """Return once each of ``expected`` has come, in any order (other events are passed over)."""
    missing: set[ActorEvent] = set(expected)
    with trio.fail_after(within):
        for _ in range(100):
            if not missing:
                return
            missing.discard(await events.receive())
    if missing:
        pytest.fail(f"still waiting for {missing} after 100 events")


async def wait_closed(events: trio.MemoryReceiveChannel[ActorEvent]) -> None:
    """Return once an endpoint actor's events say it closed (within 5 s)."""
    with trio.fail_after(5):
        for _ in range(100):
            event = await events.receive()
            if isinstance(event, StateChanged) and event.new is ActorState.CLOSED:
                return
    pytest.fail("the actor did not close within 100 events")
