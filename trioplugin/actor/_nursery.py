"""The endpoint nursery: owns every endpoint actor, and leaves nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import MappingProxyType
from typing import final

import trio

from .._util import NoPublicConstructor, open_transparent_nursery
from ..protocol import ConnectError
from ..rpc import (
    ClientOptions,
    InterceptorLike,
    Service,
    check_interceptors,
    wait_until_answering,
)
from ..transport import ClientTransport, check_base_url
from ._actor import EndpointActor, EndpointConfig
from ._events import ActorState, EventHub
from ._handle import PluginHandle
from ._options import ActorOptions
from ._shared_transports import SharedTransports

Services = Mapping[str, Service] | Sequence[Service]
"""Services by the names they are dispensed under; a plain list uses their short names."""

TransportOpener = Callable[[], AbstractAsyncContextManager[ClientTransport]]
"""Opens the transport an endpoint's actor calls through, when it is first called.

The actor enters what it returns in its own task and leaves it when it closes.
"""


@final
class EndpointNursery(metaclass=NoPublicConstructor):
    """Where a host's endpoint actors live; get one from :func:`open_endpoint_nursery`.

    The plugin nursery (:func:`trioplugin.open_plugin_nursery`) is built on
    it, and adds plugin processes; use this one where there are none.

    Each :meth:`connect` starts an endpoint actor in the nursery and returns
    its :class:`PluginHandle`. Leaving the ``async with`` closes every actor
    and its connections.
    """

    __slots__ = (
        "_actor",
        "_closed",
        "_default_services",
        "_handles",
        "_nursery",
        "_options",
        "_shared",
    )

    def __init__(
        self,
        nursery: trio.Nursery,
        services: Mapping[str, Service],
        options: ClientOptions,
        actor: ActorOptions,
    ) -> None:
        self._nursery = nursery
        self._shared = SharedTransports(nursery)
        self._default_services = dict(services)
        self._options = options
        self._actor = actor
        self._handles: dict[str, PluginHandle] = {}
        self._closed = False

    @property
    def default_services(self) -> Mapping[str, Service]:
        """The services an endpoint connected without ``services=`` offers, by name."""
        return MappingProxyType(self._default_services)

    @property
    def default_actor(self) -> ActorOptions:
        """The actor options of an endpoint connected without ``actor=``."""
        return self._actor

    @property
    def handles(self) -> Mapping[str, PluginHandle]:
        """Every connected plugin, by name."""
        return MappingProxyType(self._handles)

    def __getitem__(self, name: str) -> PluginHandle:
        """The plugin connected as ``name``.

        Raises:
            LookupError: none is (the message lists those that are).
        """
        try:
            return self._handles[name]
        except KeyError:
            known = ", ".join(sorted(self._handles)) or "none"
            raise LookupError(f"no plugin named {name!r}; connected: {known}") from None

    async def connect(
        self,
        name: str,
        url: str,
        *,
        services: Services | None = None,
        interceptors: Sequence[InterceptorLike] = (),
        options: ClientOptions | None = None,
        actor: ActorOptions | None = None,
        transport: TransportOpener | None = None,
        events: EventHub | None = None,
        after_close: Callable[[], Awaitable[None]] | None = None,
        wait_ready: bool = False,
    ) -> PluginHandle:
        """Start an actor for the Connect endpoint at ``url`` and return its handle.

        ``services`` names the services the endpoint offers (as a mapping from
        the name :meth:`PluginHandle.dispense` takes, or a list dispensed by
        their short names); by default, those given to the nursery.
        ``interceptors`` wrap every call to this endpoint, the first
        outermost (objects with an ``intercept`` method, or ``async def
        (call, call_next)`` functions); one that keeps state per endpoint
        (a circuit breaker, a retry budget) gets a fresh state for this
        endpoint, whichever other endpoints it is given to.

        ``options`` (a :class:`~trioplugin.rpc.ClientOptions`; by default
        the nursery's) say how to reach the endpoint: the HTTP version, the
        TLS context (with a client certificate for mTLS), the connection's
        own limits (the connect timeout, and on HTTP/2 keepalive PINGs that
        find a frozen plugin; HTTP/1.1 has no pings, so calls over ``"1.1"``
        need a deadline or a ``default_timeout`` to be bounded), the codec,
        compression and message size, and a ``default_timeout`` for calls
        whose caller set no deadline. ``actor`` (an :class:`ActorOptions`;
        by default the nursery's) bounds the calls queued and in flight. The
        connection is made on the first call. Over HTTP/2, endpoints of this
        nursery on the same origin (scheme, host and port) with the same TLS
        context, unix socket and limits share one transport, so one
        connection, whatever their paths: closing one endpoint fails its
        own calls in flight, not the others'.

        ``transport`` replaces the transport the actor would open from
        ``url`` and ``options`` (``url`` then only names the endpoint): the
        plugin nursery gives its launched plugins one that follows the
        plugin process across restarts. ``events`` is the hub the actor
        publishes in, instead of one of its own: whoever runs the program
        behind the endpoint publishes there what happens to it (the plugin
        nursery: exits, restarts, health). ``after_close`` is awaited by
        the handle's ``aclose()`` once the actor has closed, shielded: the
        plugin nursery stops a launched plugin's process there.

        ``url`` is checked at once (a wrong one raises here, not at the
        first call). With ``wait_ready``, connect also waits until the
        endpoint answers an HTTP request, retrying refused connections
        for up to ``options.limits.connect_timeout`` seconds (or until the
        caller's deadline, if sooner), so a wrong port or a server that is
        not up fails here with ``unavailable``; without it, the first call
        finds out.

        A name is free again once its handle has closed.

        Raises:
            TypeError: an element of ``interceptors`` is not an interceptor,
                or ``options``/``actor`` is not of its type.
            ValueError: a plugin of that name is connected, or ``url`` is
                not one a client can reach (not ``http://`` or ``https://``,
                no host, a query or a fragment).
            ConnectError: with ``wait_ready``, the endpoint did not answer
                (``unavailable``, quoting the last failure).
            RuntimeError: the nursery is closing.
        """
        checked = check_interceptors(interceptors)
        options = self._options if options is None else options
        actor_options = self._actor if actor is None else actor
        _check_options(options, actor_options)
        if transport is None:
            check_base_url(url)
        if self._closed:
            raise RuntimeError("the plugin nursery is closing; connect no more plugins")
        self._check_free(name)
        if wait_ready:
            try:
                await wait_until_answering(url, options, transport=transport)
            except ConnectError as exc:
                if type(exc) is not ConnectError:  # a TLSError says it all as it is
                    raise
                raise ConnectError(exc.code, f"plugin {name!r}: {exc.message}") from exc
            self._check_free(name)  # another connect may have taken it meanwhile
        endpoint_actor = EndpointActor(
            EndpointConfig(
                name=name,
                url=url,
                interceptors=checked,
                options=options,
                actor=actor_options,
                transport=transport,
                shared=self._shared,
                events=events,
                after_close=after_close,
            )
        )
        resolved = _named(services) if services is not None else self._default_services
        handle = PluginHandle._create(endpoint_actor, resolved)
        self._handles[name] = handle
        endpoint_actor.start(self._nursery)
        await trio.lowlevel.checkpoint()
        return handle

    def _check_free(self, name: str) -> None:
        previous = self._handles.get(name)
        if previous is not None and previous.state is not ActorState.CLOSED:
            raise ValueError(f"a plugin named {name!r} is already connected")

    async def aclose(self) -> None:
        """Close every plugin endpoint, all at once, and wait until they are closed."""
        self._closed = True
        async with trio.open_nursery() as closing:
            for handle in self._handles.values():
                closing.start_soon(handle.aclose)


def _check_options(options: object, actor: object) -> None:
    if not isinstance(options, ClientOptions):
        raise TypeError(f"options must be a ClientOptions, not {type(options).__name__}")
    if not isinstance(actor, ActorOptions):
        raise TypeError(f"actor must be an ActorOptions, not {type(actor).__name__}")


def _named(services: Services) -> dict[str, Service]:
    if isinstance(services, Mapping):
        return dict(services)
    return {service.name.rsplit(".", 1)[-1]: service for service in services}


@asynccontextmanager
async def open_endpoint_nursery(
    services: Services | None = None,
    *,
    options: ClientOptions | None = None,
    actor: ActorOptions | None = None,
) -> AsyncIterator[EndpointNursery]:
    """Open a nursery for endpoint actors; leaving it closes them all.

    ``services``, ``options`` and ``actor`` are the defaults of every
    endpoint connected in it (see :meth:`EndpointNursery.connect`). An
    exception from the block passes through as it was raised; failures of
    the actors themselves propagate as from any trio nursery.

    Raises:
        TypeError: ``options`` or ``actor`` is not of its type.
    """
    options = ClientOptions() if options is None else options
    actor = ActorOptions() if actor is None else actor
    _check_options(options, actor)
    async with open_transparent_nursery() as nursery:
        plugins = EndpointNursery._create(nursery, _named(services or {}), options, actor)
        try:
            yield plugins
        finally:
            with trio.CancelScope(shield=True):
                await plugins.aclose()
