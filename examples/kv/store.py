"""The key-value plugin's implementation of ``demo.kv.v1.KVService``."""

from __future__ import annotations

import fcntl
import functools
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

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

T = TypeVar("T")


class KVStore:
    """A store in memory, or in a data file that any number of processes may share.

    With ``path``, the file is the store: every call takes an exclusive
    ``fcntl`` lock on ``<path>.lock``, reads the file afresh (another
    process may have changed it since: it is small, and a stat cannot
    tell every change apart), and saves a change before it lets go.
    Replicas sharing one file therefore agree: what a Put answered by one
    of them wrote, the others read back, and the version counts the writes
    of all of them. The lock is taken in a worker thread, so waiting for
    it stalls none of the process's other calls. Without ``path`` the data
    lives and dies with the process.

    Watchers hear of the changes made through this process only; those that
    fall more than 64 events behind are dropped.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock_path = None if path is None else path.with_name(path.name + ".lock")
        self._data: dict[str, str] = {}
        self._version = 0
        self._watchers: set[trio.MemorySendChannel[WatchEvent]] = set()
        self._untold: list[WatchEvent] = []  # changes made, not yet told to the watchers

    async def Get(self, request: GetRequest, ctx: HandlerContext) -> GetResponse:
        value = await self._run(lambda: self._data.get(request.key))
        return GetResponse(value=value or "", found=value is not None)

    async def Put(self, request: PutRequest, ctx: HandlerContext) -> PutResponse:
        if not request.key:
            raise ConnectError(Code.INVALID_ARGUMENT, "key must not be empty")

        def put() -> int:
            self._data[request.key] = request.value
            return self._changed(WatchEvent(key=request.key, value=request.value))

        version = await self._run(put)
        caller = get_auth_context()
        return PutResponse(version=version, written_by=caller.identity if caller else "")

    async def Delete(self, request: DeleteRequest, ctx: HandlerContext) -> DeleteResponse:
        def delete() -> tuple[bool, int]:
            if self._data.pop(request.key, None) is None:
                return False, self._version
            return True, self._changed(WatchEvent(key=request.key, deleted=True))

        found, version = await self._run(delete)
        return DeleteResponse(found=found, version=version)

    async def List(self, request: ListRequest, ctx: HandlerContext) -> ListResponse:
        def listed() -> ListResponse:
            entries = [
                Entry(key=key, value=value)
                for key, value in sorted(self._data.items())
                if key.startswith(request.prefix)
            ]
            return ListResponse(entries=entries, version=self._version)

        return await self._run(listed)

    async def Watch(self, request: WatchRequest, ctx: HandlerContext) -> AsyncIterator[WatchEvent]:
        send, receive = trio.open_memory_channel[WatchEvent](WATCH_BUFFER)
        self._watchers.add(send)
        try:
            yield WatchEvent(version=await self._run(lambda: self._version))
            async for event in receive:
                if event.key.startswith(request.prefix):
                    yield event
            raise ConnectError(Code.RESOURCE_EXHAUSTED, "watcher fell too far behind")
        finally:
            self._watchers.discard(send)
            send.close()

    async def _run(self, work: Callable[[], T]) -> T:
        """``work()`` on the data: with a file, in a worker thread, under its lock, read afresh."""
        if self._path is None:
            result = work()
            self._tell()
            return result
        return await trio.to_thread.run_sync(functools.partial(self._locked, work))

    def _locked(self, work: Callable[[], T]) -> T:
        assert self._path is not None
        assert self._lock_path is not None
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # let go when the file closes
            self._load(self._path)
            before = self._version
            result = work()
            if self._version != before:
                self._save(self._path)
                # Told from here, under the lock: the watchers hear the changes in order.
                trio.from_thread.run_sync(self._tell)
            return result

    def _load(self, path: Path) -> None:
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            return  # nothing saved yet
        self._data, self._version = dict(saved["data"]), int(saved["version"])

    def _changed(self, event: WatchEvent) -> int:
        self._version += 1
        event.version = self._version
        self._untold.append(event)
        return self._version

    def _tell(self) -> None:
        untold, self._untold = self._untold, []
        for event in untold:
            for watcher in list(self._watchers):
                try:
                    watcher.send_nowait(event)
                except trio.WouldBlock:
                    self._watchers.discard(watcher)
                    watcher.close()

    def _save(self, path: Path) -> None:
        # Written whole, then renamed over the old file: a crash leaves one or the other.
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"version": self._version, "data": self._data}))
        os.replace(partial, path)
