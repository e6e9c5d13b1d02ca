"""The key-value plugin's implementation of ``demo.kv.v1.KVService``."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import trio

from examples.kv.kv_pb2 import (
    DeleteRequest,
    DeleteResponse,
    Entry,
    GetRequest,
    GetResponse,
    ListRequest,
    ListResponse,
    PutRequest,
    PutResponse,
    WatchEvent,
    WatchRequest,
)
from trioplugin import Code, ConnectError
from trioplugin.auth import get_auth_context
from trioplugin.rpc import HandlerContext

WATCH_BUFFER = 64


class KVStore:
    """An in-memory store, persisted to ``path`` after each change if one is given.

    Watchers that fall more than 64 events behind are dropped.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._data: dict[str, str] = {}
        self._version = 0
        if path is not None and path.exists():
            saved = json.loads(path.read_text())
            self._data, self._version = dict(saved["data"]), int(saved["version"])
        self._watchers: set[trio.MemorySendChannel[WatchEvent]] = set()

    async def Get(self, request: GetRequest, ctx: HandlerContext) -> GetResponse:
        value = self._data.get(request.key)
        return GetResponse(value=value or "", found=value is not None)

    async def Put(self, request: PutRequest, ctx: HandlerContext) -> PutResponse:
        if not request.key:
            raise ConnectError(Code.INVALID_ARGUMENT, "key must not be empty")
        self._data[request.key] = request.value
        self._changed(WatchEvent(key=request.key, value=request.value))
        caller = get_auth_context()
        return PutResponse(version=self._version, written_by=caller.identity if caller else "")

    async def Delete(self, request: DeleteRequest, ctx: HandlerContext) -> DeleteResponse:
        if self._data.pop(request.key, None) is None:
            return DeleteResponse(found=False, version=self._version)
        self._changed(WatchEvent(key=request.key, deleted=True))
        return DeleteResponse(found=True, version=self._version)

    async def List(self, request: ListRequest, ctx: HandlerContext) -> ListResponse:
        entries = [
            Entry(key=key, value=value)
            for key, value in sorted(self._data.items())
            if key.startswith(request.prefix)
        ]
        return ListResponse(entries=entries, version=self._version)

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

    def _changed(self, event: WatchEvent) -> None:
        self._version += 1
        event.version = self._version
        self._save()
        for watcher in list(self._watchers):
            try:
                watcher.send_nowait(event)
            except trio.WouldBlock:
                self._watchers.discard(watcher)
                watcher.close()

    def _save(self) -> None:
        if self._path is None:
            return
        # Written whole, then renamed over the old file: a crash leaves one or the other.
        partial = self._path.with_suffix(".partial")
        partial.write_text(json.dumps({"version": self._version, "data": self._data}))
        os.replace(partial, self._path)
