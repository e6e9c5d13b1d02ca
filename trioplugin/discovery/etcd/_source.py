"""The host side: the endpoints registered under a key prefix in etcd, read and watched."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final, final

import trio

from ..._util import open_transparent_nursery
from ...protocol import Code, ConnectError
from ...resilience import BackoffSchedule
from .._source import Endpoints, ServiceEndpoint, changed, endpoint_set
from ._client import Compacted, EtcdClient, EtcdError, KeyValue, check_endpoints, check_prefix
from ._value import decode_endpoint, describe_value, logger

DEFAULT_ENDPOINTS: Final = ("http://127.0.0.1:2379",)
"""etcd's own default client URL."""

_BACKOFF_INITIAL: Final = 0.1
_BACKOFF_MAXIMUM: Final = 5.0
"""The reconnect backoff of a watch: 0.1 s, doubling, at most 5 s, with equal jitter."""


@final
class _Registry:
    """What a source knows of the keys under its prefix: an endpoint per valid key."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._endpoints: dict[bytes, ServiceEndpoint] = {}
        self._warned: dict[bytes, int] = {}  # key -> the mod revision whose value was warned of

    def load(self, found: Sequence[KeyValue]) -> None:
        """Forget everything and take ``found`` (a fresh range)."""
        self._endpoints.clear()
        for kv in found:
            self.put(kv.key, kv.value, kv.mod_revision)
        present = {kv.key for kv in found}
        for key in [key for key in self._warned if key not in present]:
            del self._warned[key]

    def put(self, key: bytes, value: bytes, mod_revision: int) -> None:
        """``key`` now holds ``value``; a value that is no endpoint is skipped, with a warning."""
        try:
            endpoint = decode_endpoint(value)
        except ValueError as exc:
            self._endpoints.pop(key, None)
            if self._warned.get(key) != mod_revision:  # once per value, not once per resync
                self._warned[key] = mod_revision
                logger.warning(
                    "etcd key %r under %r holds no endpoint (%s), skipped: %s",
                    key.decode("utf-8", "replace"),
                    self._prefix,
                    exc,
                    describe_value(value),
                )
            return
        self._warned.pop(key, None)
        self._endpoints[key] = endpoint

    def delete(self, key: bytes) -> None:
        """Key ``key`` is gone."""
        self._endpoints.pop(key, None)
        self._warned.pop(key, None)

    def answer(self) -> Endpoints:
        """The endpoints, as one answer (the first key of a URL wins)."""
        return endpoint_set(self._endpoints[key] for key in sorted(self._endpoints))


@final
class EtcdSource:
    """The endpoints registered in etcd under a key prefix.

    A :class:`~trioplugin.discovery.DiscoverySource`.
    Each key under ``prefix`` is one endpoint; its value is a JSON object
    ``{"url": "http://10.0.0.7:8080", "priority": 0, "weight": 1}``
    (``priority`` and ``weight`` optional, as in :class:`~trioplugin.discovery.ServiceEndpoint`;
    other fields are ignored, so a registrar may add its own). A value that is
    not such an object is skipped with a warning on the ``trioplugin.discovery``
    logger. :func:`open_etcd_registration` writes such keys, under a lease.
    End the prefix with ``/``: ``/services/kv`` would also match ``/services/kv2/a``.

    :meth:`watch` enters at once and sends the set as soon as etcd first
    answers, then the whole set again after each change that changes it.
    When the watch breaks (etcd restarted, a connection lost, a compaction
    cancelled it), it logs a warning, keeps the last set and reconnects with
    capped exponential backoff (0.1 s to 5 s, jittered), reading everything
    again before it watches anew; it never ends the channel for a failure.
    Leaving its block stops all of it.

    Args:
        prefix: The key prefix (a str, not empty).
        endpoints: etcd's client URLs (one or all members of a cluster): a call
            goes to the member that answered last, and to the next on failure.

    Raises:
        TypeError: ``prefix`` is not a str, or ``endpoints`` is one URL.
        ValueError: ``prefix`` is empty, or ``endpoints`` is empty or holds a
            URL that is not ``http(s)://host[:port]``.
    """

    __slots__ = ("_endpoints", "_key_prefix", "_prefix")

    def __init__(self, prefix: str, *, endpoints: Sequence[str] = DEFAULT_ENDPOINTS) -> None:
        self._key_prefix = check_prefix(prefix)
        self._prefix = prefix
        self._endpoints = check_endpoints(endpoints)

    @property
    def prefix(self) -> str:
        """The key prefix the endpoints are registered under."""
        return self._prefix

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The etcd client URLs, in the order they are tried."""
        return self._endpoints

    async def resolve(self) -> Endpoints:
        """The endpoints registered now (one range read of the prefix).

        Raises:
            ConnectError: ``unavailable``, when no etcd endpoint answered (each failure named).
        """
        async with EtcdClient(self._endpoints) as client:
            _, found = await _range(client, self._key_prefix)
        registry = _Registry(self._prefix)
        registry.load(found)
        return registry.answer()

    def watch(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Endpoints]]:
        """``async with source.watch() as answers``: the set once etcd answers, then each change."""
        return self._watch()

    @asynccontextmanager
    async def _watch(self) -> AsyncIterator[trio.MemoryReceiveChannel[Endpoints]]:
        send, receive = trio.open_memory_channel[Endpoints](1)
        async with EtcdClient(self._endpoints) as client, open_transparent_nursery() as nursery:
            nursery.start_soon(self._follow, client, send)
            with receive:
                yield receive
            nursery.cancel_scope.cancel()

    async def _follow(self, client: EtcdClient, send: trio.MemorySendChannel[Endpoints]) -> None:
        """Range, watch, apply, send; on failure wait and do it again, until cancelled."""
        registry = _Registry(self._prefix)
        backoff = BackoffSchedule(
            initial=_BACKOFF_INITIAL, multiplier=2.0, maximum=_BACKOFF_MAXIMUM
        )
        sent: Endpoints | None = None

        async def offer() -> None:
            nonlocal sent
            answer = registry.answer()
            if changed(sent, answer):
                await send.send(answer)
                sent = answer

        with send:
            while True:
                try:
                    revision, found = await _range(client, self._key_prefix)
                    registry.load(found)
                    await offer()
                    async with client.watch(self._key_prefix, revision + 1) as stream:
                        backoff.reset()  # a watch is established: the next failure starts afresh
                        while True:
                            for event in await stream.next_events():
                                if event.value is None:
                                    registry.delete(event.key)
                                else:
                                    registry.put(event.key, event.value, event.mod_revision)
                            await offer()
                except trio.BrokenResourceError:
                    return  # the consumer closed its channel: nobody is listening
                except Compacted as exc:
                    # Changes we have not seen were compacted away: read everything again, now.
                    logger.info("etcd watch of %r: %s; reading it again", self._prefix, exc)
                    continue
                except ConnectError as exc:
                    wait = backoff.next()
                    kept = "nothing yet" if sent is None else f"the last {len(sent)} endpoints"
                    logger.warning(
                        "etcd watch of %r failed, keeping %s, again in %.1f s: %s",
                        self._prefix,
                        kept,
                        wait,
                        exc.message,
                    )
                    await trio.sleep(wait)

    def __repr__(self) -> str:
        return f"EtcdSource({self._prefix!r}, endpoints={list(self._endpoints)!r})"


async def _range(client: EtcdClient, prefix: bytes) -> tuple[int, list[KeyValue]]:
    """A range read, with an error etcd answers as ``unavailable`` too (the caller retries)."""
    try:
        return await client.range(prefix)
    except EtcdError as error:
        raise ConnectError(Code.UNAVAILABLE, f"etcd range of {prefix!r} failed: {error}") from error
