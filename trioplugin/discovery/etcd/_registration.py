"""The plugin side: an endpoint registered in etcd under a lease, for as long as a block runs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final, final

import trio

from ..._util import NoPublicConstructor, open_transparent_nursery
from ...protocol import Code, ConnectError
from ...resilience import BackoffSchedule
from .._source import ServiceEndpoint
from ._client import EtcdClient, EtcdError, check_endpoints, check_prefix
from ._source import DEFAULT_ENDPOINTS
from ._value import encode_endpoint, logger

_REVOKE_GRACE: Final = 2.0
"""How long leaving the block waits for etcd to revoke the lease, in seconds; after
that the lease expires by itself within its TTL."""


@final
class EtcdRegistration(metaclass=NoPublicConstructor):
    """An endpoint registered in etcd, as :func:`open_etcd_registration` keeps it."""

    __slots__ = ("_endpoint", "_granted_ttl", "_key", "_lease", "_registrations")

    def __init__(self, key: str, endpoint: ServiceEndpoint) -> None:
        self._key = key
        self._endpoint = endpoint
        self._lease = 0
        self._granted_ttl = 0
        self._registrations = 0

    @property
    def key(self) -> str:
        """The key the endpoint is registered under (the prefix and the key name)."""
        return self._key

    @property
    def endpoint(self) -> ServiceEndpoint:
        """The endpoint the key's value describes."""
        return self._endpoint

    @property
    def lease(self) -> int:
        """The ID of the etcd lease the key is attached to now."""
        return self._lease

    @property
    def ttl(self) -> int:
        """The TTL etcd granted the lease, in seconds (etcd may round a short one up)."""
        return self._granted_ttl

    @property
    def registrations(self) -> int:
        """How many times the key was put under a new lease: 1, plus one per lost lease."""
        return self._registrations

    def __repr__(self) -> str:
        return (
            f"<EtcdRegistration {self._key!r} -> {self._endpoint.url!r}, "
            f"lease {self._lease:x}, ttl {self._granted_ttl} s>"
        )


@asynccontextmanager
async def open_etcd_registration(
    prefix: str,
    key_name: str,
    url: str,
    *,
    ttl: int = 10,
    endpoints: Sequence[str] = DEFAULT_ENDPOINTS,
    priority: int = 0,
    weight: int = 1,
) -> AsyncIterator[EtcdRegistration]:
    """Register ``url`` in etcd as key ``prefix + key_name`` for as long as the block runs.

    ``async with open_etcd_registration("/services/kv/", "a", "http://10.0.0.7:8080"):``
    grants a lease of ``ttl`` seconds, puts the key with the value an
    :class:`EtcdSource` reads (``{"url": ..., "priority": ..., "weight": ...}``)
    attached to the lease, and enters once both are done. A background task
    renews the lease every third of its TTL. If etcd forgets the lease (it was
    down longer than the TTL, or its data was lost), the key is put again
    under a new lease, with a warning; renewals that fail are retried with
    backoff meanwhile. Leaving the block revokes the lease, so watchers see
    the key go at once (waiting at most 2 s for etcd, even when cancelled).
    If the process dies instead, etcd deletes the key when the TTL runs out.

    Args:
        prefix: The key prefix the host's :class:`EtcdSource` watches (a str, not empty).
        key_name: This endpoint's name under the prefix (a str, not empty).
        url: The endpoint's base URL.
        ttl: The lease's TTL in whole seconds (>= 1; etcd grants at least 2).
        endpoints: etcd's client URLs, tried in turn.
        priority: As in :class:`~trioplugin.discovery.ServiceEndpoint`.
        weight: As in :class:`~trioplugin.discovery.ServiceEndpoint`.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range (the message names it).
        ConnectError: ``unavailable``, at entry, when the key could not be registered.
    """
    key_prefix = check_prefix(prefix)
    if not isinstance(key_name, str):
        raise TypeError(f"key_name must be a str, not {type(key_name).__name__}")
    if not key_name:
        raise ValueError("key_name must not be empty (the key would be the prefix itself)")
    if not isinstance(ttl, int) or isinstance(ttl, bool):
        raise TypeError(f"ttl must be whole seconds (an int), not {ttl!r}")
    if ttl < 1:
        raise ValueError(f"ttl must be >= 1 second, not {ttl!r}")
    urls = check_endpoints(endpoints)
    endpoint = ServiceEndpoint(url, priority=priority, weight=weight)
    registration = EtcdRegistration._create(prefix + key_name, endpoint)
    keeper = _Keeper(registration, key_prefix + key_name.encode(), ttl)
    async with EtcdClient(urls) as client:
        try:
            await keeper.register(client)
        except EtcdError as error:
            raise ConnectError(
                Code.UNAVAILABLE, f"registering {registration.key!r} in etcd failed: {error}"
            ) from error
        try:
            async with open_transparent_nursery() as nursery:
                nursery.start_soon(keeper.keep_alive, client)
                yield registration
                nursery.cancel_scope.cancel()
        finally:
            await keeper.revoke(client)


@final
class _Keeper:
    """Grants, renews and revokes the lease of one registration."""

    def __init__(self, registration: EtcdRegistration, key: bytes, ttl: int) -> None:
        self._registration = registration
        self._key = key
        self._ttl = ttl
        self._value = encode_endpoint(registration.endpoint)

    async def register(self, client: EtcdClient) -> None:
        """A new lease, and the key put under it."""
        lease, granted = await client.grant(self._ttl)
        try:
            await client.put(self._key, self._value, lease)
        except BaseException:
            with trio.move_on_after(_REVOKE_GRACE) as scope:
                scope.shield = True
                with contextlib.suppress(ConnectError, EtcdError):  # it expires by itself
                    await client.revoke(lease)
            raise
        registration = self._registration
        registration._lease = lease
        registration._granted_ttl = granted
        registration._registrations += 1

    def _interval(self) -> float:
        return max(self._registration.ttl, 1) / 3

    async def keep_alive(self, client: EtcdClient) -> None:
        """Renew the lease every third of its TTL; register again if it was lost."""
        backoff = BackoffSchedule(initial=0.1, multiplier=2.0, maximum=self._interval())
        wait = self._interval()
        while True:
            await trio.sleep(wait)
            registration = self._registration
            try:
                if await client.keepalive(registration.lease) > 0:
                    backoff.reset()
                    wait = self._interval()
                    continue
                logger.warning(
                    "etcd lease %x of %r was lost; registering it again",
                    registration.lease,
                    registration.key,
                )
                await self.register(client)
                backoff.reset()
                wait = self._interval()
            except (ConnectError, EtcdError) as exc:
                wait = backoff.next()
                logger.warning(
                    "etcd keepalive of %r failed, again in %.1f s: %s", registration.key, wait, exc
                )

    async def revoke(self, client: EtcdClient) -> None:
        """Revoke the lease, so the key goes now; bounded, and done even when cancelled."""
        registration = self._registration
        with trio.move_on_after(_REVOKE_GRACE) as scope:
            scope.shield = True
            try:
                await client.revoke(registration.lease)
            except (ConnectError, EtcdError) as exc:
                logger.warning(
                    "etcd revoke of %r failed; its key goes when the lease expires: %s",
                    registration.key,
                    exc,
                )
        if scope.cancelled_caught:
            logger.warning(
                "etcd revoke of %r took over %.0f s; its key goes when the lease expires",
                registration.key,
                _REVOKE_GRACE,
            )
