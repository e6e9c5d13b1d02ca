"""What the service-handle tests share: replicas that can be made to fail, a source to steer."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from tests.echo_service import ECHO, EchoImpl
from trioplugin.discovery import Endpoints, ServiceEndpoint, endpoint_set
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
