"""The service handle: one handle over every endpoint a discovery source finds."""

from __future__ import annotations

import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import MappingProxyType
from typing import Any, TypeVar, final, overload

import trio
from google.protobuf.message import Message

from .._util import NoPublicConstructor
from ..actor import ActorEvent, EventHub, HealthStatus, PluginHandle
from ..protocol import Code, ConnectError
from ..resilience import BackoffSchedule, CircuitOpenError
from ..rpc import (
    BidiStream,
    Headers,
    MethodInfo,
    ResponseStream,
    Service,
    StreamType,
    Stub,
    UnaryResponse,
    dispense_client,
)
from ..transport import UnprocessedError
from ._balancing import Balancer
from ._events import (
    EndpointAdded,
    EndpointEjected,
    EndpointHealthChanged,
    EndpointRemoved,
    EndpointReturned,
)
from ._member import Member
from ._options import ServiceOptions
from ._retrying import ServiceRetry
from ._rotation import Rotation
from ._source import Endpoints, ServiceEndpoint
from ._stats import Counters, EndpointStatistics, ServiceStatistics
from ._watch import watch_member

logger = logging.getLogger("trioplugin.discovery")

C = TypeVar("C")
S = TypeVar("S")
Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)


_Connector = Callable[[ServiceEndpoint], Awaitable[PluginHandle]]
"""Starts the actor of a newly listed endpoint and returns its handle."""


@final
class _Drains:
    """Where removed endpoints finish their calls: a task each, in the service's nursery."""

    __slots__ = ("_nursery", "timeout")

    def __init__(self, nursery: trio.Nursery, timeout: float) -> None:
        self._nursery = nursery
        self.timeout = timeout

    def start(self, drain: Callable[[Member], Awaitable[None]], member: Member) -> None:
        self._nursery.start_soon(drain, member)


@final
class ServiceHandle(metaclass=NoPublicConstructor):
    """A service's endpoints behind one handle: each call goes to one of them.

    Get one from :func:`open_service` or
    :meth:`trioplugin.PluginNursery.connect_service`. Each endpoint the
    source lists gets an endpoint actor of its own (its own breaker, retry
    budget and in-flight limit, from the interceptors given), created and
    closed as the list changes; a call goes to one endpoint in rotation,
    chosen by the balancer. Stubs work as on a :class:`~trioplugin.PluginHandle`::

        kv = service.dispense("kv")
        with trio.fail_after(2):
            reply = await kv.Get(GetRequest(key="a"))

    **Rotation.** An endpoint whose circuit is open, or whose health says
    not serving, is ejected: out of rotation until its circuit half-opens
    (it then takes the probes) or it serves again; at most
    ``max_ejection_percent`` of the endpoints at once (at least one), the
    earliest to fail first. Degraded endpoints take calls only when no
    serving one is in rotation, and only the lowest SRV priority in
    rotation takes calls.

    **Retries.** A unary call that fails with a retryable error is tried
    again by ``retry`` (a :class:`~trioplugin.resilience.RetryPolicy`: its
    attempts, backoff, pushback and budget, one budget for the service) on
    another endpoint where there is one, within the caller's deadline. A
    call an open circuit refused (it was never sent) goes to another
    endpoint at once, without waiting or spending the budget; streams
    move on only then. A call that reached no endpoint (no connection, a
    refused stream: :class:`~trioplugin.transport.UnprocessedError`) goes
    to another one at once too, whatever its method's idempotency, as an
    attempt of the policy. Give the endpoints a circuit breaker, not a
    retry interceptor, so that retries change endpoint.

    **Removal.** An endpoint the source no longer lists leaves the rotation
    at once; its calls finish (or fail by their deadlines), and then its
    actor closes, after ``drain_timeout`` seconds at most.
    """

    __slots__ = (
        "_background",
        "_balancer",
        "_closed",
        "_closing",
        "_connect",
        "_counters",
        "_drains",
        "_ejected",
        "_health",
        "_hub",
        "_members",
        "_name",
        "_retry",
        "_rotation",
        "_services",
        "_stubs",
    )

    def __init__(
        self,
        name: str,
        services: Mapping[str, Service],
        connect: _Connector,
        balancer: Balancer,
        settings: ServiceOptions,
        background: trio.Nursery,
    ) -> None:
        self._name = name
        self._services: Mapping[str, Service] = MappingProxyType(dict(services))
        self._connect = connect
        self._balancer = balancer
        self._rotation = Rotation(settings.max_ejection_percent)
        self._background = background  # the source's follower, the drains: cancelled by aclose
        self._drains = _Drains(background, float(settings.drain_timeout))
        self._health = settings.health
        self._closing = False
        self._closed = trio.Event()
        self._members: dict[str, Member] = {}
        self._ejected: dict[str, str] = {}
        self._hub = EventHub()
        self._stubs: dict[str, Stub] = {}
        self._counters = Counters()
        self._retry = ServiceRetry(settings.retry, self._counters)

    # -- what the host sees -------------------------------------------------------

    @property
    def name(self) -> str:
        """The service's name."""
        return self._name

    @property
    def services(self) -> Mapping[str, Service]:
        """The services each endpoint offers, by the names given at connect time."""
        return self._services

    @property
    def endpoints(self) -> Mapping[str, PluginHandle]:
        """The handles of the endpoints listed now, by URL (draining ones left out)."""
        return MappingProxyType(
            {url: member.handle for url, member in self._members.items() if not member.draining}
        )

    def statistics(self) -> ServiceStatistics:
        """Each endpoint's load, state and share, and the service's counters."""
        kept, ejected = self._rotation_now()
        counters = self._counters
        return ServiceStatistics(
            name=self._name,
            endpoints=tuple(
                EndpointStatistics(
                    url=member.url,
                    priority=member.priority,
                    weight=member.weight,
                    in_flight=member.in_flight,
                    calls=member.calls,
                    circuit_state=member.circuit_state(),
                    serving=member.serving,
                    ejected=ejected.get(member.url),
                    draining=member.draining,
                )
                for member in sorted(self._members.values(), key=lambda member: member.url)
            ),
            in_rotation=len(kept),
            added=counters.added,
            removed=counters.removed,
            ejections=counters.ejections,
            retries=counters.retries,
            failovers=counters.failovers,
            unavailable=counters.unavailable,
        )

    def events(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[ActorEvent]]:
        """Subscribe to the service's events for the block (see :class:`ServiceEvent`)."""
        return self._hub.subscribe()

    def stub(self, service: Service) -> Stub:
        """A stub calling ``service`` through this handle."""
        stub = self._stubs.get(service.name)
        if stub is None:
            stub = self._stubs[service.name] = Stub(self, service)
        return stub

    @overload
    def dispense(self, name: str) -> Stub: ...
    @overload
    def dispense(self, name: str, client_type: type[C]) -> C: ...
    def dispense(self, name: str, client_type: type[Any] | None = None) -> Any:
        """The client for the service connected as ``name`` (a stub, or a ``client_type``).

        Raises:
            LookupError: no service was connected under ``name``.
            TypeError: ``client_type`` is a client for another service.
        """
        return dispense_client(
            self, self._services, name, client_type, self.stub, owner=f"service {self._name!r}"
        )

    # -- the endpoint set ---------------------------------------------------------

    async def apply(self, answer: Endpoints) -> None:
        """Make the endpoints those of ``answer``: connect the new, drain the gone."""
        if self._closing:
            return
        listed = {endpoint.url: endpoint for endpoint in answer}
        for url, endpoint in listed.items():
            member = self._members.get(url)
            if member is None:
                handle = await self._connect(endpoint)
                member = self._members[url] = Member(endpoint, handle)
                self._background.start_soon(
                    watch_member, member, self._health, self._review, self._health_changed
                )
                self._counters.added += 1
                self._hub.publish(EndpointAdded(self._name, url))
                continue
            member.endpoint = endpoint  # its priority or weight may have changed
            if member.draining:
                member.draining = False
                self._counters.added += 1
                self._hub.publish(EndpointAdded(self._name, url))
        for url, member in list(self._members.items()):
            if url in listed or member.draining:
                continue
            member.draining = True
            self._ejected.pop(url, None)
            self._counters.removed += 1
            self._hub.publish(EndpointRemoved(self._name, url))
            self._drains.start(self._drain, member)

    async def _drain(self, member: Member) -> None:
        with trio.move_on_after(self._drains.timeout):
            await member.wait_idle()
        if not member.draining:
            return  # listed again meanwhile
        if self._members.get(member.url) is member:
            del self._members[member.url]
        member.watching.cancel()
        await member.handle.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closing

    async def aclose(self) -> None:
        """Stop following the source, close every endpoint's actor, end the events.

        Calls in flight are cancelled, later calls fail with ``unavailable``.
        Calling it again waits until the first call has finished.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self._background.cancel_scope.cancel()
        members = list(self._members.values())
        self._members.clear()
        try:
            async with trio.open_nursery() as closing:
                for member in members:
                    closing.start_soon(member.handle.aclose)
        finally:
            self._hub.close()
            self._closed.set()

    async def wait_closed(self) -> None:
        """Return once the handle is closed."""
        await self._closed.wait()

    # -- choosing an endpoint -----------------------------------------------------

    def _rotation_now(self) -> tuple[list[Member], dict[str, str]]:
        listed = [member for member in self._members.values() if not member.draining]
        kept, ejected = self._rotation.choose(listed)
        if ejected != self._ejected:
            for url, reason in ejected.items():
                if url not in self._ejected:
                    self._counters.ejections += 1
                    self._hub.publish(EndpointEjected(self._name, url, reason))
            for url in self._ejected:
                if url not in ejected and url in self._members:
                    self._hub.publish(EndpointReturned(self._name, url))
            self._ejected = ejected
        return kept, ejected

    def _review(self) -> None:
        """An endpoint's circuit or health changed: publish what that does to the rotation."""
        if not self._closing:
            self._rotation_now()

    def _health_changed(self, member: Member, status: HealthStatus) -> None:
        old, member.serving = member.serving, status
        logger.info("endpoint %s of service %r: %s", member.url, self._name, status.value)
        self._hub.publish(EndpointHealthChanged(self._name, member.url, old, status))
        self._review()

    def _pick(self, tried: Sequence[Member] = ()) -> tuple[Member, list[Member]]:
        """An endpoint for the next attempt, and the endpoints in rotation it was one of.

        One not yet tried is chosen, where there is one.
        """
        if self._closing:
            raise ConnectError(Code.UNAVAILABLE, f"service {self._name!r} is closed")
        kept, ejected = self._rotation_now()
        if not kept:
            self._counters.unavailable += 1
            raise ConnectError(Code.UNAVAILABLE, self._none_in_rotation(ejected))
        fresh = [member for member in kept if member not in tried] if tried else kept
        return self._balancer.pick(fresh or kept), kept

    def _none_in_rotation(self, ejected: Mapping[str, str]) -> str:
        if not ejected:
            return f"service {self._name!r} has no endpoints (its source lists none)"
        reasons = ", ".join(f"{url} ({reason})" for url, reason in sorted(ejected.items()))
        return f"service {self._name!r} has no endpoint in rotation: {reasons}"

    # -- calls ----------------------------------------------------------------------

    async def unary(
        self, method: MethodInfo[Req, Res], request: Req, *, headers: Headers | None = None
    ) -> UnaryResponse[Res]:
        """Make a unary call on one of the endpoints, retried on another by the policy."""
        method.check_call(StreamType.UNARY, request)
        self._retry.started()
        tried: list[Member] = []
        refused = 0  # attempts an open circuit refused: they were never sent
        schedule: BackoffSchedule | None = None
        while True:
            member, kept = self._pick(tried)
            tried.append(member)
            member.started()
            try:
                response = await member.handle.unary(method, request, headers=headers)
            except CircuitOpenError as error:
                refused += 1
                self._fail_over(error, tried, kept)
            except ConnectError as error:
                if schedule is None:
                    schedule = self._retry.schedule()
                # Nothing reached the endpoint (no connection, a refused stream): any method
                # may go again, and at once where another endpoint is left to try.
                unsent = isinstance(error, UnprocessedError)
                elsewhere = unsent and any(other not in tried for other in kept)
                await self._retry.before_retry(
                    method, error, len(tried) - refused, schedule, sent=not unsent, now=elsewhere
                )
            else:
                self._retry.succeeded()
                return response
            finally:
                member.ended()

    def _fail_over(
        self, error: CircuitOpenError, tried: Sequence[Member], kept: Sequence[Member]
    ) -> None:
        """Return if another endpoint may take a call an open circuit refused; else re-raise.

        ``kept`` are the endpoints in rotation when the refused one was chosen.
        """
        if all(member in tried for member in kept):
            raise error
        self._counters.failovers += 1

    async def client_stream(
        self,
        method: MethodInfo[Req, Res],
        requests: Iterable[Req] | AsyncIterable[Req],
        *,
        headers: Headers | None = None,
    ) -> UnaryResponse[Res]:
        """Make a client-streaming call on one of the endpoints (its requests are not replayed)."""
        method.check_call(StreamType.CLIENT_STREAM)
        member, _ = self._pick()
        member.started()
        try:
            return await member.handle.client_stream(method, requests, headers=headers)
        finally:
            member.ended()

    @asynccontextmanager
    async def server_stream(
        self, method: MethodInfo[Req, Res], request: Req, *, headers: Headers | None = None
    ) -> AsyncIterator[ResponseStream[Res]]:
        """Make a server-streaming call on one of the endpoints; ``async with`` it."""
        method.check_call(StreamType.SERVER_STREAM, request)
        async with self._stream(
            lambda handle: handle.server_stream(method, request, headers=headers)
        ) as stream:
            yield stream

    @asynccontextmanager
    async def bidi_stream(
        self, method: MethodInfo[Req, Res], *, headers: Headers | None = None
    ) -> AsyncIterator[BidiStream[Req, Res]]:
        """Make a bidi-streaming call on one of the endpoints; ``async with`` it."""
        method.check_call(StreamType.BIDI_STREAM)
        async with self._stream(
            lambda handle: handle.bidi_stream(method, headers=headers)
        ) as stream:
            yield stream

    @asynccontextmanager
    async def _stream(
        self, open_on: Callable[[PluginHandle], AbstractAsyncContextManager[S]]
    ) -> AsyncIterator[S]:
        tried: list[Member] = []
        while True:
            member, kept = self._pick(tried)
            tried.append(member)
            member.started()
            try:
                opened = open_on(member.handle)
                try:
                    stream = await opened.__aenter__()
                except CircuitOpenError as error:
                    self._fail_over(error, tried, kept)
                    continue
                try:
                    yield stream
                except BaseException as error:
                    if not await opened.__aexit__(type(error), error, error.__traceback__):
                        raise
                else:
                    await opened.__aexit__(None, None, None)
                return
            finally:
                member.ended()

    def __repr__(self) -> str:
        listed = sum(not member.draining for member in self._members.values())
        return f"<ServiceHandle {self._name!r} {listed} endpoints>"
