"""The plugin nursery: a host's plugins, launched as processes or reached at a URL."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import MappingProxyType
from typing import final

import trio

from .._util import NoPublicConstructor, open_transparent_nursery
from ..actor import (
    ActorOptions,
    ActorState,
    EndpointNursery,
    EventHub,
    PluginHandle,
    Services,
    TransportOpener,
    open_endpoint_nursery,
)
from ..discovery import (
    DiscoverySource,
    ServiceHandle,
    ServiceOptions,
    open_service,
)
from ..rpc import ClientOptions, InterceptorLike
from ._following import open_following
from ._launch import Supervisor
from ._launch_options import LaunchOptions
from ._watch_health import watch_health


@final
class PluginNursery(metaclass=NoPublicConstructor):
    """Where a host's plugins live; get one from :func:`open_plugin_nursery`.

    :meth:`launch` starts a plugin program as a process of its own;
    :meth:`connect` reaches a plugin served at a URL. Each plugin gets an
    endpoint actor and a :class:`~trioplugin.PluginHandle` to call it
    through. Leaving the ``async with`` closes every handle and stops every
    plugin process, gracefully first; nothing outlives the block.
    """

    __slots__ = ("_endpoints", "_launch", "_nursery", "_options", "_processes", "_services")

    def __init__(
        self,
        endpoints: EndpointNursery,
        nursery: trio.Nursery,
        options: ClientOptions | None,
        launch: LaunchOptions,
    ) -> None:
        self._endpoints = endpoints
        self._nursery = nursery
        self._options = options
        self._launch = launch
        self._processes: dict[str, Supervisor] = {}
        self._services: dict[str, ServiceHandle] = {}

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

    @property
    def services(self) -> Mapping[str, ServiceHandle]:
        """Every service connected with :meth:`connect_service` and not closed, by name."""
        return MappingProxyType(
            {name: service for name, service in self._services.items() if not service.closed}
        )

    async def connect_service(
        self,
        name: str,
        source: DiscoverySource,
        *,
        services: Services | None = None,
        interceptors: Sequence[InterceptorLike] = (),
        options: ClientOptions | None = None,
        actor: ActorOptions | None = None,
        service: ServiceOptions | None = None,
    ) -> ServiceHandle:
        """One handle over every endpoint ``source`` finds for the service ``name``.

        Each endpoint gets an endpoint actor of its own, created and closed
        as the source's answer changes; each call goes to one endpoint in
        rotation (see :class:`~trioplugin.discovery.ServiceHandle` for the
        balancing, ejection and retry rules, and
        :func:`~trioplugin.discovery.open_service` for the arguments). The
        nursery's ``services``, ``options`` and ``actor`` are the defaults.
        Without ``service`` options, each endpoint's health is watched with
        :func:`~trioplugin.plugin.watch_health` (give
        ``ServiceOptions(health=watch_health, ...)`` to keep that with
        options of your own). The handle closes with the nursery, or with
        ``await service.aclose()``.

        Raises:
            ValueError: a service of that name is connected, or an argument is
                out of range.
            TypeError: an argument is not of its type.
            ConnectError: ``unavailable``, the source could not answer.
        """
        previous = self._services.get(name)
        if previous is not None and not previous.closed:
            raise ValueError(f"a service named {name!r} is already connected")
        opened = functools.partial(
            open_service,
            name,
            source,
            services=services if services is not None else self._endpoints.default_services,
            interceptors=interceptors,
            options=options or self._options,
            actor=actor or self._endpoints.default_actor,
            service=ServiceOptions(health=watch_health) if service is None else service,
        )
        handle: ServiceHandle = await self._nursery.start(self._run_service, name, opened)
        return handle

    async def _run_service(
        self,
        name: str,
        opened: Callable[[], AbstractAsyncContextManager[ServiceHandle]],
        *,
        task_status: trio.TaskStatus[ServiceHandle] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with opened() as service:
            self._services[name] = service
            task_status.started(service)
            await service.wait_closed()

    def pid(self, name: str) -> int | None:
        """The process id of the launched plugin ``name``; None while it is down.

        Raises:
            LookupError: no plugin of that name was launched in this nursery
                (or it has been stopped).
        """
        supervisor = self._launched(name)
        current = supervisor.current
        return current.pid if current is not None and supervisor.serving else None

    def app_version(self, name: str) -> int:
        """The app protocol version the host and the launched plugin ``name`` agreed on.

        go-plugin calls it ``NegotiatedVersion``: pick the client for it.

        Raises:
            LookupError: no plugin of that name was launched in this nursery
                (or it has been stopped).
        """
        current = self._launched(name).current
        assert current is not None  # launched: it started once
        return current.line.app_version

    def _launched(self, name: str) -> Supervisor:
        try:
            return self._processes[name]
        except KeyError:
            launched = ", ".join(repr(name) for name in self._processes) or "none"
            raise LookupError(
                f"no launched plugin is named {name!r}; launched: {launched}"
            ) from None

    async def connect(
        self,
        name: str,
        url: str,
        *,
        services: Services | None = None,
        interceptors: Sequence[InterceptorLike] = (),
        options: ClientOptions | None = None,
        actor: ActorOptions | None = None,
        wait_ready: bool = False,
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
            events=None,
            after_close=None,
            wait_ready=wait_ready,
        )

    async def launch(
        self,
        name: str,
        argv: Sequence[str],
        *,
        launch: LaunchOptions | None = None,
        services: Services | None = None,
        interceptors: Sequence[InterceptorLike] = (),
        options: ClientOptions | None = None,
        actor: ActorOptions | None = None,
    ) -> PluginHandle:
        """Start the plugin program ``argv`` and return its handle once it reports serving.

        The process starts in a process group of its own with the
        handshake's environment; its stderr goes to ``logging`` under
        ``trioplugin.plugin.<name>``, levels kept. The host reads its
        handshake line, checks the versions, makes the Handshake call and
        waits for the plugin to report serving, all within
        ``launch.start_timeout``; then an endpoint actor is connected to
        it (over automatic mTLS unless ``launch.auto_mtls`` is off) as
        :meth:`connect` would. Leaving the nursery stops the process by
        its ladder (see :class:`LaunchOptions`), and so does closing its
        handle (``await handle.aclose()``). The handle's
        :meth:`~trioplugin.PluginHandle.events` report the process's exits,
        restarts and health changes (:class:`PluginExited`,
        :class:`PluginRestarted`, :class:`PluginHealthChanged`) beside the
        actor's own.

        ``launch`` defaults to the nursery's; the other arguments are
        :meth:`connect`'s.

        Raises:
            PluginStartError: the plugin did not start; the message says
                what it did instead, with its last lines on stderr.
            ValueError: a plugin of that name is already in the nursery.
        """
        connected = self._endpoints.handles.get(name)
        if name in self._processes or (
            connected is not None and connected.state is not ActorState.CLOSED
        ):
            raise ValueError(f"a plugin named {name!r} is already in this nursery")
        if isinstance(argv, str) or not argv:
            raise TypeError(f"argv must be a non-empty sequence of str, not {argv!r}")
        launch = self._launch if launch is None else launch
        plugin = Supervisor(name, argv, launch, EventHub())
        await self._nursery.start(plugin.run)
        self._processes[name] = plugin
        base = options or self._options or ClientOptions()
        assert plugin.current is not None  # it started
        reach = plugin.reach(plugin.current, base)
        transport = (
            functools.partial(open_following, plugin.url, reach, plugin)
            if launch.while_restarting == "wait"
            else None
        )
        try:
            return await self._connect_with(
                name,
                plugin.url,
                transport,
                services=services,
                interceptors=interceptors,
                options=reach,
                actor=actor,
                events=plugin.events,
                after_close=functools.partial(self._stop_process, name),
                wait_ready=False,  # it reported serving
            )
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._stop_process(name)
            raise

    async def _stop_process(self, name: str) -> None:
        plugin = self._processes.get(name)
        if plugin is not None:
            await plugin.stop()
            if self._processes.get(name) is plugin:
                del self._processes[name]

    async def _connect_with(
        self,
        name: str,
        url: str,
        transport: TransportOpener | None,
        *,
        events: EventHub | None,
        after_close: Callable[[], Awaitable[None]] | None,
        wait_ready: bool,
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
            events=events,
            after_close=after_close,
            wait_ready=wait_ready,
        )

    async def aclose(self) -> None:
        """Close every handle and stop every plugin process, and wait until all are done."""
        async with trio.open_nursery() as closing:
            for service in self._services.values():
                closing.start_soon(service.aclose)
        await self._endpoints.aclose()
        async with trio.open_nursery() as stopping:
            for name in list(self._processes):
                stopping.start_soon(self._stop_process, name)
        self._nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_plugin_nursery(
    services: Services | None = None,
    *,
    options: ClientOptions | None = None,
    actor: ActorOptions | None = None,
    launch: LaunchOptions | None = None,
) -> AsyncIterator[PluginNursery]:
    """Open a nursery for plugins; leaving it closes their handles and stops their processes.

    ``services``, ``options`` and ``actor`` are the defaults of every plugin
    connected in it (see :meth:`PluginNursery.connect`), ``launch`` of
    every plugin launched in it (see :meth:`PluginNursery.launch`). An exception from
    the block passes through as it was raised; a failure the nursery cannot
    absorb propagates as from any trio nursery.

    Raises:
        TypeError: ``options``, ``actor`` or ``launch`` is not of its type.
    """
    if launch is not None and not isinstance(launch, LaunchOptions):
        raise TypeError(f"launch must be LaunchOptions, not {type(launch).__name__}")
    async with (
        open_endpoint_nursery(services, options=options, actor=actor) as endpoints,
        open_transparent_nursery() as nursery,
    ):
        plugins = PluginNursery._create(endpoints, nursery, options, launch or LaunchOptions())
        try:
            yield plugins
        finally:
            with trio.CancelScope(shield=True):
                await plugins.aclose()
