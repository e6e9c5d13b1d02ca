"""Opening a service handle: its endpoints' actors, and the task that follows its source."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final

import trio

from .._util import open_transparent_nursery
from ..actor import ActorOptions, EndpointNursery, PluginHandle, Services, open_endpoint_nursery
from ..resilience import RetryPolicy
from ..rpc import ClientOptions, InterceptorLike, check_interceptors
from ._balancing import Balancer, PowerOfTwoChoices
from ._rotation import DEFAULT_MAX_EJECTION_PERCENT, Rotation
from ._service import ServiceHandle
from ._source import DiscoverySource, ServiceEndpoint

DEFAULT_DRAIN_TIMEOUT: Final = 30.0
"""Seconds a removed endpoint's calls have to finish before its actor closes (Kubernetes'
default termination grace period)."""

DEFAULT_SERVICE_RETRY: Final = RetryPolicy()
"""A service handle's retries unless told otherwise: the reference's default policy (3 attempts,
0.1 s doubling to 10 s, jittered), each retry on another endpoint where there is one."""


@asynccontextmanager
async def open_service(
    name: str,
    source: DiscoverySource,
    *,
    services: Services | None = None,
    interceptors: Sequence[InterceptorLike] = (),
    options: ClientOptions | None = None,
    actor: ActorOptions | None = None,
    balancer: Balancer | None = None,
    retry: RetryPolicy | None = DEFAULT_SERVICE_RETRY,
    max_ejection_percent: int = DEFAULT_MAX_EJECTION_PERCENT,
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
) -> AsyncIterator[ServiceHandle]:
    """Open a :class:`ServiceHandle` over the endpoints ``source`` finds; leaving closes them.

    The source is asked once at the start (so a source that cannot answer
    fails here, with ``unavailable``), then watched for as long as the
    block runs. ``services``, ``interceptors``, ``options`` and ``actor``
    are given to every endpoint's actor, as to
    :meth:`~trioplugin.actor.EndpointNursery.connect` (each endpoint gets
    its own state of a breaker); its name is ``name@url``. ``balancer``
    picks among the endpoints in rotation (by default
    :class:`PowerOfTwoChoices`); ``retry`` retries failed unary calls on
    another endpoint (None: never; the default policy makes 3 attempts);
    ``max_ejection_percent`` caps the endpoints out of rotation for failing
    (see :class:`ServiceHandle`); ``drain_timeout`` bounds the time a
    removed endpoint's calls have before its actor closes.

    Raises:
        TypeError: ``source`` is not a :class:`DiscoverySource`, ``balancer``
            not a :class:`Balancer`, ``retry`` not a RetryPolicy, or an
            interceptor is not one.
        ValueError: ``max_ejection_percent`` is not from 0 to 100, or
            ``drain_timeout`` is not a number of seconds >= 0.
        ConnectError: ``unavailable``, the source could not answer.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, not {name!r}")
    if not isinstance(source, DiscoverySource):
        raise TypeError(f"source must be a DiscoverySource (resolve and watch), not {source!r}")
    balancer = PowerOfTwoChoices() if balancer is None else balancer
    if not isinstance(balancer, Balancer):
        raise TypeError(f"balancer must be a Balancer (a pick method), not {balancer!r}")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, not {retry!r}")
    if (
        isinstance(drain_timeout, bool)
        or not isinstance(drain_timeout, (int, float))
        or not drain_timeout >= 0
        or math.isnan(drain_timeout)
    ):
        raise ValueError(f"drain_timeout must be a number of seconds >= 0, not {drain_timeout!r}")
    rotation = Rotation(max_ejection_percent)
    checked = check_interceptors(interceptors)
    first = await source.resolve()
    async with (
        open_endpoint_nursery(services, options=options, actor=actor) as endpoints,
        open_transparent_nursery() as nursery,
    ):

        async def connect(endpoint: ServiceEndpoint) -> PluginHandle:
            return await _connect(endpoints, name, endpoint, checked)

        background: trio.Nursery = await nursery.start(_open_background)
        service = ServiceHandle._create(
            name,
            endpoints.default_services,
            connect,
            balancer,
            rotation,
            retry,
            background,
            float(drain_timeout),
        )
        try:
            await service.apply(first)
            background.start_soon(_follow, service, source)
            yield service
        finally:
            with trio.CancelScope(shield=True):
                await service.aclose()


async def _open_background(task_status: trio.TaskStatus[trio.Nursery]) -> None:
    """A nursery for a service's own tasks, which its ``aclose`` cancels."""
    async with trio.open_nursery() as background:
        task_status.started(background)
        await trio.sleep_forever()


async def _connect(
    endpoints: EndpointNursery,
    name: str,
    endpoint: ServiceEndpoint,
    interceptors: Sequence[InterceptorLike],
) -> PluginHandle:
    return await endpoints.connect(
        f"{name}@{endpoint.url}", endpoint.url, interceptors=interceptors
    )


async def _follow(service: ServiceHandle, source: DiscoverySource) -> None:
    async with source.watch() as answers:
        async for answer in answers:
            await service.apply(answer)
