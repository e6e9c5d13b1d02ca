"""Opening a service handle: its endpoints' actors, and the task that follows its source."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio

from .._util import open_transparent_nursery
from ..actor import ActorOptions, EndpointNursery, PluginHandle, Services, open_endpoint_nursery
from ..rpc import ClientOptions, InterceptorLike, check_interceptors
from ._options import ServiceOptions
from ._service import ServiceHandle
from ._source import DiscoverySource, ServiceEndpoint


@asynccontextmanager
async def open_service(
    name: str,
    source: DiscoverySource,
    *,
    services: Services | None = None,
    interceptors: Sequence[InterceptorLike] = (),
    options: ClientOptions | None = None,
    actor: ActorOptions | None = None,
    service: ServiceOptions | None = None,
) -> AsyncIterator[ServiceHandle]:
    """Open a :class:`ServiceHandle` over the endpoints ``source`` finds; leaving closes them.

    The source is asked once at the start (so a source that cannot answer
    fails here, with ``unavailable``), then watched for as long as the
    block runs. ``services``, ``interceptors``, ``options`` and ``actor``
    are given to every endpoint's actor, as to
    :meth:`~trioplugin.actor.EndpointNursery.connect` (each endpoint gets
    its own state of a breaker); its name is ``name@url``. ``service``
    says how calls are spread, retried on another endpoint, ejected and
    drained, and whether health is watched (see :class:`ServiceOptions`
    and :class:`ServiceHandle`).

    Raises:
        TypeError: ``source`` is not a :class:`DiscoverySource`, ``service``
            not a :class:`ServiceOptions` (or its balancer makes no
            :class:`Balancer`), or an interceptor is not one.
        ValueError: ``name`` is empty.
        ConnectError: ``unavailable``, the source could not answer.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, not {name!r}")
    if not isinstance(source, DiscoverySource):
        raise TypeError(f"source must be a DiscoverySource (resolve and watch), not {source!r}")
    settings = ServiceOptions() if service is None else service
    if not isinstance(settings, ServiceOptions):
        raise TypeError(f"service must be a ServiceOptions, not {type(settings).__name__}")
    balancer = settings.new_balancer()
    checked = check_interceptors(interceptors)
    first = await source.resolve()
    async with (
        open_endpoint_nursery(services, options=options, actor=actor) as endpoints,
        open_transparent_nursery() as nursery,
    ):

        async def connect(endpoint: ServiceEndpoint) -> PluginHandle:
            return await _connect(endpoints, name, endpoint, checked)

        background: trio.Nursery = await nursery.start(_open_background)
        handle = ServiceHandle._create(
            name,
            endpoints.default_services,
            connect,
            balancer,
            settings,
            background,
        )
        try:
            await handle.apply(first)
            background.start_soon(_follow, handle, source)
            yield handle
        finally:
            with trio.CancelScope(shield=True):
                await handle.aclose()


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
