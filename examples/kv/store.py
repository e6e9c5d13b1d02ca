"""The key-value plugin's implementation of ``demo.kv.v1.KVService``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

from examples.kv import kv_pb2
from examples.kv.kv_pb2 import (
    GetRequest,
    GetResponse,
    PutRequest,
    PutResponse,
    WatchEvent,
    WatchRequest,
)
from trioplugin import Code, ConnectError
from trioplugin.rpc import HandlerContext, Service

KV = Service.from_module(kv_pb2, "KVService")
"""The key-value service (the same as ``kv_trioplugin.KV_SERVICE``)."""

WATCH_BUFFER = 64


class KVStore:
    """An in-memory store; watchers that fall more than 64 events behind are dropped."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._version = 0
        self._watchers: set[trio.MemorySendChannel[WatchEvent]] = set()

    async def Get(self, request: GetRequest, ctx: HandlerContext) -> GetResponse:
        value = self._data.get(request.key)
        return GetResponse(value=value or "", found=value is not None)

    async def Put(self, request: PutRequest, ctx: HandlerContext) -> PutResponse:
        if not request.key:
            raise ConnectError(Code.INVALID_ARGUMENT, "key must not be empty")
        self._version += 1
        self._data[request.key] = request.value
        event = WatchEvent(key=request.key, value=request.value, version=self._version)
        for watcher in list(self._watchers):
            try:
                watcher.send_nowait(event)
            except trio.WouldBlock:
                self._watchers.discard(watcher)
                watcher.close()
        return PutResponse(version=self._version)

    async def Watch(self, request: WatchRequest, ctx: HandlerContext) -> AsyncIterator[WatchEvent]:
        send, receive = trio.open_memory_channel[WatchEvent](WATCH_BUFFER)
        self._watchers.add(send)
        try:
            yield WatchEvent(version=self._version)
            async for event in receive:
                if event.key.startswith(request.prefix):
                    yield event
            raise ConnectError(Code.RESOURCE_EXHAUSTED, "watcher fell too far behind")
        finally:
            self._watchers.discard(send)
            send.close()
