"""The tracing interceptor: a span per call (and per attempt), the trace context in the headers."""

from __future__ import annotations

from typing import Any, Final, final
from urllib.parse import urlsplit

import trio
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter, TextMapPropagator
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from ..._util import NoPublicConstructor
from ..._version import __version__
from ...protocol import ConnectError, Metadata
from ...rpc import Call, CallNext, Endpoint
from .._accounting import code_of, error_type
from .._metrics import RPC_SYSTEM

_OK: Final = "ok"

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@final
class _MetadataGetter(Getter[Metadata]):
    """How a propagator reads the request headers."""

    def get(self, carrier: Metadata, key: str) -> list[str] | None:
        return carrier.get_all(key) or None

    def keys(self, carrier: Metadata) -> list[str]:
        return list(carrier)


@final
class _MetadataSetter(Setter[Metadata]):
    """How a propagator writes the request headers: a value replaces any the key had."""

    def set(self, carrier: Metadata, key: str, value: str) -> None:
        carrier[key] = value


_GETTER: Final = _MetadataGetter()
_SETTER: Final = _MetadataSetter()


@final
class TracingInterceptor:
    """An OpenTelemetry span for every call, client and server, and the trace passed along.

    Put it first (outermost), on both sides::

        tracing = TracingInterceptor()
        kv = await host.connect(
            "kv", url, interceptors=[tracing, breaker, retry, tracing.attempts()]
        )
        async with open_connect_server(services, interceptors=[tracing]): ...

    **Client.** Each call gets a span of kind ``CLIENT``, a child of the
    current span (the caller's: a handle runs its calls with its caller's
    context, so the calls a handler makes are children of that handler's
    server span), current while the rest of the chain runs. The trace
    context is written into the request headers (W3C ``traceparent`` and
    ``tracestate``, and ``baggage``, with the global propagator).

    **Server.** Each call gets a span of kind ``SERVER`` whose parent is the
    one the request headers carry, current while the handler runs: the calls
    it makes through a trioplugin client or plugin handle are its children.

    **What a span says**, after the OpenTelemetry semantic conventions for
    Connect RPC: its name is ``rpc.method``, the procedure without its
    leading slash (``demo.kv.v1.KVService/Get``); its attributes are
    ``rpc.system.name`` (``connectrpc``), ``rpc.method``, ``rpc.status_code``
    (``ok``, or the Connect code as on the wire: ``deadline_exceeded``),
    ``server.address`` and ``server.port`` (a client's, from its endpoint's
    URL), ``trioplugin.endpoint`` (the name a client's endpoint was connected
    under) and ``network.peer.address`` and ``network.peer.port`` (a server's,
    the client's socket address). A client's span is an error for every code
    but ``ok``; a server's only for ``unknown``, ``deadline_exceeded``,
    ``unimplemented``, ``internal``, ``unavailable`` and ``data_loss`` (the
    others are the client's doing). An error span has ``error.type`` (the
    code, or the qualified class name of an exception that is not a Connect
    error), the error's message as its status description, and the exception
    as an event (its message and traceback; headers never). A call cancelled
    by its caller ends ``canceled``, one cut off by its deadline
    ``deadline_exceeded``; the span covers the whole call, every attempt of
    it and every message of a stream, and always ends. (``rpc.status_code``
    is the name the conventions use after their 1.44.0 release; that
    release, and connectrpc-otel 0.3, say ``rpc.response.status_code``.)

    :meth:`attempts` gives its companion for the other end of the client
    chain: placed after the retry interceptor, it adds a span per attempt.

    Only the OpenTelemetry API is needed; the application installs the SDK
    and its exporters. ``tracer_provider`` defaults to the global one,
    ``propagator`` to the global text-map propagator (looked up for each
    call, so setting it later counts).
    """

    __slots__ = ("_endpoint", "_propagator", "_server_address", "_server_port", "_tracer")

    _calls_next_once: Final = True  # see rpc's chain: it then needs no attempt of its own
    _waits_only_in_call_next: Final = True  # the actor then needs no cancel scope per call

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
            raise TypeError(
                f"tracer_provider must be an opentelemetry TracerProvider, not {tracer_provider!r}"
            )
        if propagator is not None and not isinstance(propagator, TextMapPropagator):
            raise TypeError(
                f"propagator must be an opentelemetry TextMapPropagator, not {propagator!r}"
            )
        self._tracer: Tracer = trace.get_tracer(
            "trioplugin", __version__, tracer_provider=tracer_provider
        )
        self._propagator = propagator
        self._endpoint: str | None = None
        self._server_address: str | None = None
        self._server_port: int | None = None

    def for_endpoint(self, endpoint: Endpoint) -> TracingInterceptor:
        """A copy whose client spans name ``endpoint`` and its server (given each endpoint)."""
        bound = TracingInterceptor.__new__(TracingInterceptor)
        for name in self.__slots__:
            setattr(bound, name, getattr(self, name))
        bound._endpoint = endpoint.name
        bound._server_address, bound._server_port = _server_of(endpoint.url)
        return bound

    def attempts(self) -> AttemptTracer:
        """The companion that traces each attempt; place it after the retry interceptor."""
        return AttemptTracer._create(self)

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Run the call in a span of its own."""
        if call.side == "client":
            span = self._tracer.start_span(
                _span_name(call),
                kind=SpanKind.CLIENT,
                attributes=self._client_attributes(call),
            )
            if _nothing_to_carry(span):
                await call_next(call)
                return
            context = trace.set_span_in_context(span)
            with _InSpan(span, context, call, self._propagator_now()):
                await call_next(call)
        else:
            parent = self._propagator_now().extract(call.request_headers, getter=_GETTER)
            span = self._tracer.start_span(
                _span_name(call),
                context=parent,
                kind=SpanKind.SERVER,
                attributes=_server_attributes(call),
            )
            if _nothing_to_carry(span):
                await call_next(call)
                return
            with _InSpan(span, trace.set_span_in_context(span, parent), call):
                await call_next(call)

    def _propagator_now(self) -> TextMapPropagator:
        return self._propagator if self._propagator is not None else propagate.get_global_textmap()

    def _client_attributes(self, call: Call[Any, Any]) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            "rpc.system.name": RPC_SYSTEM,
            "rpc.method": _span_name(call),
        }
        if self._server_address is not None:
            attributes["server.address"] = self._server_address
        if self._server_port is not None:
            attributes["server.port"] = self._server_port
        if self._endpoint is not None:
            attributes["trioplugin.endpoint"] = self._endpoint
        return attributes


@final
class AttemptTracer(metaclass=NoPublicConstructor):
    """A span for each attempt of a client call; get it from :meth:`TracingInterceptor.attempts`.

    Placed after the retry interceptor, each attempt gets a span of kind
    ``CLIENT``, a child of the call's span, with the call's attributes, the
    attempt's outcome and ``trioplugin.attempt`` (its number, from 1). It is
    the span of the request that went on the wire: it is the one written
    into that attempt's request headers, so the server's span is its child,
    and a retried call reads as one call span over one span per attempt.
    It is of kind ``CLIENT`` rather than ``INTERNAL`` because it is the
    client end of the server's span: the tools that draw a service graph
    pair a ``CLIENT`` span with its ``SERVER`` child, and the conventions for
    HTTP give each resent request a ``CLIENT`` span of its own. On a server
    it does nothing.
    """

    __slots__ = ("_parent",)

    _calls_next_once: Final = True
    _waits_only_in_call_next: Final = True

    def __init__(self, parent: TracingInterceptor) -> None:
        self._parent = parent

    def for_endpoint(self, endpoint: Endpoint) -> AttemptTracer:
        """A copy whose spans name ``endpoint`` and its server."""
        return AttemptTracer._create(self._parent.for_endpoint(endpoint))

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Run one attempt in a span of its own (on a client)."""
        if call.side != "client":
            await call_next(call)
            return
        parent = self._parent
        attributes = parent._client_attributes(call)
        attributes["trioplugin.attempt"] = call.attempt
        span = parent._tracer.start_span(
            _span_name(call), kind=SpanKind.CLIENT, attributes=attributes
        )
        if _nothing_to_carry(span):
            await call_next(call)
            return
        # Written over what the call's span wrote in the headers this attempt copied.
        context = trace.set_span_in_context(span)
        with _InSpan(span, context, call, parent._propagator_now()):
            await call_next(call)


@final
class _InSpan:
    """``with _InSpan(...): await call_next(call)``: ``span`` current, then ended as the call did.

    ``inject`` (a client's) first writes ``context`` into the request headers.
    Attached and detached around the await in this task, with nothing but
    plain calls on the way out: a cancellation cannot skip the end. A context
    manager rather than a coroutine: a frame fewer for every suspension of
    the call to pass through.
    """

    __slots__ = ("_call", "_context", "_inject", "_span", "_token")

    def __init__(
        self,
        span: Span,
        context: otel_context.Context,
        call: Call[Any, Any],
        inject: TextMapPropagator | None = None,
    ) -> None:
        self._span = span
        self._context = context
        self._call = call
        self._inject = inject
        self._token: object = None

    def __enter__(self) -> None:
        self._token = otel_context.attach(self._context)
        if self._inject is not None:
            try:
                self._inject.inject(self._call.request_headers, self._context, setter=_SETTER)
            except BaseException as error:
                self.__exit__(type(error), error, None)
                raise

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]
        try:
            _end(self._span, self._call, error)
        finally:
            self._span.end()


def _end(span: Span, call: Call[Any, Any], error: BaseException | None) -> None:
    if not span.is_recording():
        return
    if error is None:
        span.set_attribute("rpc.status_code", _OK)
        return
    code = code_of(error, call)
    if code is not None:
        span.set_attribute("rpc.status_code", code.value)
    failure = error_type(error, code, call)
    if failure is None:
        return
    span.set_attribute("error.type", failure)
    if isinstance(error, ConnectError):
        span.set_status(StatusCode.ERROR, error.message or None)
        span.record_exception(error)
    elif isinstance(error, trio.Cancelled):
        span.set_status(StatusCode.ERROR)
    else:
        span.set_status(StatusCode.ERROR, str(error) or None)
        span.record_exception(error)


def _nothing_to_carry(span: Span) -> bool:
    """Whether ``span`` records nothing and carries no trace: a no-op tracer's, with no parent.

    Then there is nothing to make current, to pass on or to end: the call
    runs as if there were no tracing (a no-op tracer handing back a remote
    parent's span, by contrast, is traced through: the trace is passed on).
    """
    return not span.is_recording() and not span.get_span_context().is_valid


def _span_name(call: Call[Any, Any]) -> str:
    method = call.method
    return f"{method.service_name}/{method.name}"


def _server_attributes(call: Call[Any, Any]) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "rpc.system.name": RPC_SYSTEM,
        "rpc.method": _span_name(call),
    }
    address = call.peer.address if call.peer is not None else None
    if isinstance(address, tuple):
        attributes["network.peer.address"] = address[0]
        attributes["network.peer.port"] = address[1]
    elif address:  # a unix socket's path
        attributes["network.peer.address"] = address
    return attributes


def _server_of(url: str) -> tuple[str | None, int | None]:
    """The host and port of an endpoint's URL (the scheme's port if it names none)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None, None
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme)
    return parts.hostname or None, port
