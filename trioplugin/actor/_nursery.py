"""The plugin nursery: owns every endpoint actor, and leaves nothing behind."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import final

import trio

from .._util import NoPublicConstructor, open_transparent_nursery
from ..protocol import PROTO, Codec, Compression
from ..rpc import (
    DEFAULT_MAX_MESSAGE_SIZE,
    HTTPVersionChoice,
    InterceptorLike,
    Service,
    check_interceptors,
)
from ..transport import ClientLimits
from ._actor import DEFAULT_INBOX_CAPACITY, DEFAULT_MAX_IN_FLIGHT, EndpointActor, EndpointConfig
from ._handle import PluginHandle

Services = Mapping[str, Service] | Sequence[Service]
"""Services by the names they are dispensed under; a plain list uses their short names."""


@final
class PluginNursery(metaclass=NoPublicConstructor):
    """Where a host's plugin endpoints live; get one from :func:`open_plugin_nursery`.

    Each :meth:`connect` starts an endpoint actor in the nursery and returns
    its :class:`PluginHandle`. Leaving the ``async with`` closes every actor
    and its connections.
    """

    __slots__ = ("_closed", "_default_services", "_handles", "_nursery")

    def __init__(self, nursery: trio.Nursery, services: Mapping[str, Service]) -> None:
        self._nursery = nursery
        self._default_services = dict(services)
        self._handles: dict[str, PluginHandle] = {}
        self._closed = False

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
        tls: ssl.SSLContext | None = None,
        http_version: HTTPVersionChoice = "2",
        limits: ClientLimits | None = None,
        default_timeout: float | None = None,
        http_get: bool = False,
        codec: Codec | str = PROTO,
        send_compression: Compression | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        inbox_capacity: int = DEFAULT_INBOX_CAPACITY,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> PluginHandle:
        """Start an actor for the Connect endpoint at ``url`` and return its handle.

        ``services`` names the services the endpoint offers (as a mapping from
        the name :meth:`PluginHandle.dispense` takes, or a list dispensed by
        their short names); by default, those given to the nursery.
        ``interceptors`` wrap every call to this endpoint, the first
        outermost (objects with an ``intercept`` method, or ``async def
        (call, call_next)`` functions); one that keeps state per endpoint
        (a circuit breaker, a retry budget) gets a fresh state for this
        endpoint, whichever other endpoints it is given to. ``tls`` is the
        client ``SSLContext`` (with a client certificate for mTLS). The
        connection is made on the first call; ``limits`` bound what it waits
        for when a call has no deadline (default
        :class:`~trioplugin.transport.ClientLimits`: the connect timeout, and
        on HTTP/2 keepalive PINGs that find a frozen plugin; HTTP/1.1 has no
        pings, so calls over ``"1.1"`` need a deadline to be bounded).
        ``default_timeout`` bounds each call whose caller set no deadline
        (``ConnectError(deadline_exceeded)`` past it); ``http_get`` sends
        calls of side-effect-free methods as Connect GET.

        Raises:
            TypeError: an element of ``interceptors`` is not an interceptor.
            ValueError: a plugin of that name is already connected.
            RuntimeError: the nursery is closing.
        """
        checked = check_interceptors(interceptors)
        if self._closed:
            raise RuntimeError("the plugin nursery is closing; connect no more plugins")
        if name in self._handles:
            raise ValueError(f"a plugin named {name!r} is already connected")
        actor = EndpointActor(
            EndpointConfig(
                name=name,
                url=url,
                interceptors=checked,
                ssl_context=tls,
                http_version=http_version,
                codec=codec,
                send_compression=send_compression,
                max_message_size=max_message_size,
                inbox_capacity=inbox_capacity,
                max_in_flight=max_in_flight,
                limits=limits,
                default_timeout=default_timeout,
                http_get=http_get,
            )
        )
        resolved = _named(services) if services is not None else self._default_services
        handle = PluginHandle._create(actor, resolved)
        self._handles[name] = handle
        actor.start(self._nursery)
        await trio.lowlevel.checkpoint()
        return handle

    async def aclose(self) -> None:
        """Close every plugin endpoint, all at once, and wait until they are closed."""
        self._closed = True
        async with trio.open_nursery() as closing:
            for handle in self._handles.values():
                closing.start_soon(handle.aclose)


def _named(services: Services) -> dict[str, Service]:
    if isinstance(services, Mapping):
        return dict(services)
    return {service.name.rsplit(".", 1)[-1]: service for service in services}


@asynccontextmanager
async def open_plugin_nursery(
    services: Services | None = None,
) -> AsyncIterator[PluginNursery]:
    """Open a nursery for plugin endpoints; leaving it closes them all.

    ``services`` are the default services of every endpoint connected in it
    (see :meth:`PluginNursery.connect`). An exception from the block passes
    through as it was raised; failures of the actors themselves propagate as
    from any trio nursery.
    """
    async with open_transparent_nursery() as nursery:
        plugins = PluginNursery._create(nursery, _named(services or {}))
        try:
            yield plugins
        finally:
            with trio.CancelScope(shield=True):
                await plugins.aclose()
