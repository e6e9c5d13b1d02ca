"""A tiny grpc.health.v1.Health for the CLI's tests: statuses the test sets, watches it ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeAlias

import trio

from trioplugin.plugin.protos.grpc.health.v1.health_pb2 import (
    HealthCheckRequest,
    HealthCheckResponse,
)
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import HandlerContext

Status: TypeAlias = HealthCheckResponse.ServingStatus.ValueType


class TinyHealth:
    """Answers from ``statuses`` (service name → status; "" is the server)."""

    def __init__(self, statuses: dict[str, Status]) -> None:
        self.statuses = statuses
        self.watching = trio.Event()
        self._watches: list[trio.MemorySendChannel[Status]] = []

    async def Check(self, request: HealthCheckRequest, ctx: HandlerContext) -> HealthCheckResponse:
        try:
            return HealthCheckResponse(status=self.statuses[request.service])
        except KeyError:
            raise ConnectError(Code.NOT_FOUND, f"unknown service {request.service!r}") from None

    async def Watch(
        self, request: HealthCheckRequest, ctx: HandlerContext
    ) -> AsyncIterator[HealthCheckResponse]:
        send, receive = trio.open_memory_channel[Status](10)
        self._watches.append(send)
        yield HealthCheckResponse(
            status=self.statuses.get(request.service, HealthCheckResponse.SERVICE_UNKNOWN)
        )
        self.watching.set()
        async with receive:
            async for status in receive:
                yield HealthCheckResponse(status=status)

    def change(self, status: Status) -> None:
        """Tell every watch the status changed."""
        for send in self._watches:
            send.send_nowait(status)

    async def end_watches(self) -> None:
        """End every watch's stream (after the changes sent before)."""
        for send in self._watches:
            await send.aclose()
