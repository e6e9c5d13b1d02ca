"""What the service-handle tests share: replicas that can be made to fail, a source to steer,
calls through a handle and waits for its events, each bounded in count and time."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

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
from trioplugin.plugin import HealthReporter, health_services
from trioplugin.plugin.protos.grpc.health.v1.health_trioplugin import HEALTH
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import CircuitBreakerConfig, CircuitBreakerInterceptor, RetryPolicy
from trioplugin.rpc import Call, CallNext, Service, StreamType, serve_connect
from trioplugin.transport import Server

E = TypeVar("E", bound=ServiceEvent)


REQUEST = EchoRequest(text="hi")
QUICK_RETRY = RetryPolicy(initial_backoff=0.001, max_backoff=0.001, jitter=False)


def breaker(timeout: float = 60.0) -> CircuitBreakerInterceptor:
    """A breaker that opens after two failures."""
    return CircuitBreakerInterceptor(
        CircuitBreakerConfig(failure_threshold=2, success_threshold=1, timeout=timeout)
    )


def endpoint(service: ServiceHandle, url: str) -> EndpointStatistics:
    """The statistics of ``service``'s endpoint at ``url``."""
    return next(stats for stats in service.statistics().endpoints if stats.url == url)


async def next_event(events: trio.MemoryReceiveChannel[ActorEvent]) -> ServiceEvent:
    """The next event, which must be a service's (5 s at most)."""
    with trio.fail_after(5):
        event = await events.receive()
    assert isinstance(event, ServiceEvent)
    return event


async def call(service: ServiceHandle, count: int = 1) -> None:
    """Make ``count`` echo calls one after the other, each answered within 5 s."""
    echo = service.stub(ECHO)
    for _ in range(count):
        with trio.fail_after(5):
            assert (await echo.Echo(REQUEST)).text == "hi"


async def wait_for(events: trio.MemoryReceiveChannel[ActorEvent], kind: type[E], url: str) -> E:
    """The next ``kind`` of event about ``url``, passing over the others (5 s at most)."""
    with trio.fail_after(5):
        async for event in events:  # ends: the event comes, or the time is up
            if isinstance(event, kind) and event.url == url:
                return event
    raise AssertionError(f"the events ended before a {kind.__name__} for {url}")


@dataclass
class Replica:
    """One echo server, with a switch that makes it refuse every call with ``unavailable``."""

    server: Server | None = None
    failing: bool = False
    calls: int = 0
    held: trio.Event | None = None
    """While set to an unset event, calls wait for it inside the server."""
    entered: trio.Event = field(default_factory=trio.Event)
    health: HealthReporter = field(default_factory=HealthReporter)
    """What its health services (where it serves them) report."""
    answered: list[str] = field(default_factory=list)
    """The text of each unary echo call its handler answered, in order."""

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        if call.method.service_name != ECHO.name:
            await call_next(call)  # its health service: not counted, never held or failed
            return
        self.calls += 1
        self.entered.set()
        if self.held is not None:
            await self.held.wait()
        if self.failing:
            raise ConnectError(Code.UNAVAILABLE, f"replica {self.url} is failing")
        await call_next(call)
        if call.method.stream_type is StreamType.UNARY:
            self.answered.append(call.request.text)


async def start_replicas(
    nursery: trio.Nursery, count: int, *, health: Literal["connect", "grpc"] | None = None
) -> list[Replica]:
    """``count`` echo servers on 127.0.0.1, each behind its own switch.

    With ``health``, each serves health too, reporting its replica's
    :attr:`Replica.health`: both services as a plugin does (``"connect"``),
    or ``grpc.health.v1`` alone (``"grpc"``).
    """
    replicas = []
    for _ in range(count):
        replica = Replica()
        handlers: dict[Service, object] = {ECHO: EchoImpl()}
        if health == "connect":
            handlers |= health_services(replica.health)
        elif health == "grpc":  # the gRPC one alone
            handlers[HEALTH] = health_services(replica.health)[HEALTH]
        replica.server = await nursery.start(
            functools.partial(serve_connect, handlers, interceptors=[replica])
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


async def wait_for_all(
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
