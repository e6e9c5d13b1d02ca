"""The plugin nursery: a host's plugins, launched as processes or reached at a URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import final

import trio

from .._util import NoPublicConstructor, open_transparent_nursery
from ..actor import (
    ActorOptions,
    EndpointNursery,
    PluginHandle,
    Services,
    TransportOpener,
    open_endpoint_nursery,
)
from ..rpc import ClientOptions, InterceptorLike


@final
class PluginNursery(metaclass=NoPublicConstructor):
    """Where a host's plugins live; get one from :func:`open_plugin_nursery`.

    :meth:`connect` reaches a plugin served at a URL. Each plugin gets an
    endpoint actor and a :class:`~trioplugin.PluginHandle` to call it
    through. Leaving the ``async with`` closes every handle and stops every
    plugin process, gracefully first; nothing outlives the block.
    """

    __slots__ = ("_endpoints", "_nursery")

    def __init__(self, endpoints: EndpointNursery, nursery: trio.Nursery) -> None:
        self._endpoints = endpoints
        self._nursery = nursery

    @property
    def handles(self) -> Mapping[str, PluginHandle]:
        """Every plugin, by name."""
        return self._endpoints.handles

    def __getitem__(self, name: str) -> PluginHandle:
        """The plugin named ``name``.

        Raises:
            LookupError: there is none (the message lists those there are).
        """
        return self._endpoints[name]

    async def connect(
        self,
        name: str,
        url: str,
        *,
        services: Services | None = None,
        interceptors: Sequence[InterceptorLike] = (),
        options: ClientOptions | None = None,
        actor: ActorOptions | None = None,
    ) -> PluginHandle:
        """Start an actor for the plugin served at ``url`` and return its handle.

        See :meth:`trioplugin.actor.EndpointNursery.connect` for the
        arguments; the nursery's ``services``, ``options`` and ``actor``
        are the defaults.
        """
        return await self._connect_with(
            name,
            url,
            None,
            services=services,
            interceptors=interceptors,
            options=options,
            actor=actor,
        )

    async def _connect_with(
        self,
        name: str,
        url: str,
        transport: TransportOpener | None,
        *,
        services: Services | None,
        interceptors: Sequence[InterceptorLike],
        options: ClientOptions | None,
        actor: ActorOptions | None,
    ) -> PluginHandle:
        return await self._endpoints.connect(
            name,
            url,
            services=services,
            interceptors=interceptors,
            options=options,
            actor=actor,
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close every handle and stop every plugin process, and wait until all are done."""
        await self._endpoints.aclose()
        self._nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_plugin_nursery(
    services: Services | None = None,
    *,
    options: ClientOptions | None = None,
    actor: ActorOptions | None = None,
) -> AsyncIterator[PluginNursery]:
    """Open a nursery for plugins; leaving it closes their handles and stops their processes.

    ``services``, ``options`` and ``actor`` are the defaults of every plugin
    connected in it (see :meth:`PluginNursery.connect`). An exception from
    the block passes through as it was raised; a failure the nursery cannot
    absorb propagates as from any trio nursery.

    Raises:
        TypeError: ``options`` or ``actor`` is not of its type.
    """
    async with (
        open_endpoint_nursery(services, options=options, actor=actor) as endpoints,
        open_transparent_nursery() as nursery,
    ):
        plugins = PluginNursery._create(endpoints, nursery)
        try:
            yield plugins
        finally:
            with trio.CancelScope(shield=True):
                await plugins.aclose()
