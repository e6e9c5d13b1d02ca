"""Where a service's endpoints are: the record of one, and the protocol every source follows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, final, runtime_checkable

import trio

from ..transport import check_base_url


@final
@dataclass(frozen=True, order=True)
class ServiceEndpoint:
    """One endpoint of a service, as a discovery source found it.

    ``url`` is the endpoint's base URL (``http://10.0.0.7:8080``): it names
    the endpoint, so two records with one URL are the same endpoint.
    ``priority`` and ``weight`` are DNS SRV's (RFC 2782): calls go to the
    endpoints of the lowest priority that has one in rotation, and among
    them in proportion to their weights. Sources without either give every
    endpoint ``priority=0, weight=1``.
    """

    url: str
    priority: int = 0
    weight: int = 1

    def __post_init__(self) -> None:
        check_base_url(self.url)
        for name in ("priority", "weight"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
                raise ValueError(
                    f"{name} must be an int from 0 to 65535 (as in SRV), not {value!r}"
                )


Endpoints = tuple[ServiceEndpoint, ...]
"""A service's endpoints as one answer of a source: sorted, no URL twice."""


def endpoint_set(found: Iterable[ServiceEndpoint | str]) -> Endpoints:
    """``found`` as one answer: URLs made endpoints, sorted, the first record of a URL kept."""
    by_url: dict[str, ServiceEndpoint] = {}
    for item in found:
        endpoint = ServiceEndpoint(item) if isinstance(item, str) else item
        if not isinstance(endpoint, ServiceEndpoint):
            raise TypeError(f"an endpoint must be a ServiceEndpoint or a URL, not {item!r}")
        by_url.setdefault(endpoint.url, endpoint)
    return tuple(sorted(by_url.values()))


@runtime_checkable
class DiscoverySource(Protocol):
    """Finds a service's endpoints: once, or as they change.

    :meth:`resolve` answers once. :meth:`watch` is an async context manager
    giving a channel of answers: the first is the current set, each later
    one the whole set again after a change (never a delta, so a consumer
    that missed one loses nothing). A source that fails to refresh keeps
    its last answer and tries again; it sends only what it found.
    """

    async def resolve(self) -> Endpoints:
        """The service's endpoints now.

        Raises:
            ConnectError: ``unavailable``, when the source cannot answer
                (the message says what failed).
        """
        ...

    def watch(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Endpoints]]:
        """``async with source.watch() as answers``: the set now, then each changed set."""
        ...


@final
class StaticSource:
    """A fixed list of endpoints (URLs or :class:`ServiceEndpoint` records).

    Its watch sends the list once and then waits: the set never changes.
    """

    __slots__ = ("_endpoints",)

    def __init__(self, endpoints: Iterable[ServiceEndpoint | str]) -> None:
        if isinstance(endpoints, str):
            raise TypeError("endpoints must be a list of URLs or ServiceEndpoints, not one URL")
        self._endpoints = endpoint_set(endpoints)

    @property
    def endpoints(self) -> Endpoints:
        """The endpoints, as every answer gives them."""
        return self._endpoints

    async def resolve(self) -> Endpoints:
        """The endpoints."""
        await trio.lowlevel.checkpoint()
        return self._endpoints

    def watch(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Endpoints]]:
        """A channel holding the one answer there will ever be."""
        return _answered_once(self._endpoints)

    def __repr__(self) -> str:
        return f"StaticSource({[endpoint.url for endpoint in self._endpoints]!r})"


@asynccontextmanager
async def _answered_once(answer: Endpoints) -> AsyncIterator[trio.MemoryReceiveChannel[Endpoints]]:
    send, receive = trio.open_memory_channel[Endpoints](1)
    send.send_nowait(answer)
    with send, receive:  # the sender stays open: a static set is never done
        yield receive


def changed(previous: Sequence[ServiceEndpoint] | None, now: Sequence[ServiceEndpoint]) -> bool:
    """Whether ``now`` is an answer worth sending after ``previous`` (None: nothing sent yet)."""
    return previous is None or tuple(previous) != tuple(now)
