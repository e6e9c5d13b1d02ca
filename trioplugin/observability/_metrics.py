"""The metrics interceptor and the sink protocol its adapters implement (no dependency here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, final, runtime_checkable

from ..actor import ActorStatistics
from ..rpc import Call, CallNext, Endpoint
from ._accounting import Timed, count_streams, error_type, outcome, sizes

RPC_SYSTEM: Final = "connectrpc"
"""``rpc.system.name`` for Connect, as the OpenTelemetry RPC conventions spell it."""


@final
@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call, as a :class:`MetricsSink` is told of it.

    Every field is of bounded variety (no request value, no peer address),
    so each may be a label.
    """

    side: Literal["client", "server"]
    """Which end of the call this process was."""
    service: str
    """The service's full name, e.g. ``demo.kv.v1.KVService``."""
    method: str
    """The method's name, e.g. ``Get``."""
    endpoint: str | None
    """The name the client's endpoint was connected under (None on a server,
    and on a client not bound to an endpoint)."""
    code: str
    """``ok``, or the Connect code it failed with (``canceled`` when cancelled;
    ``internal`` for a failure that was no ConnectError)."""
    error_type: str | None
    """OpenTelemetry's ``error.type``: None when the call did not fail for its
    side (it succeeded; or, on a server, it ended with a code that is the
    client's doing, such as ``invalid_argument`` or ``not_found``, as the
    Connect RPC conventions say); else its code, or the qualified name of
    the exception when it was no ConnectError."""
    duration: float
    """Seconds from its start to its end, every attempt and backoff included."""
    attempts: int
    """Attempts it took (1 without retries)."""
    requests: int
    """Request messages sent (client) or received (server)."""
    request_bytes: int
    """Their protobuf-encoded size, summed."""
    responses: int
    """Response messages received (client) or sent (server)."""
    response_bytes: int
    """Their protobuf-encoded size, summed."""

    @property
    def rpc_method(self) -> str:
        """``rpc.method`` as the OpenTelemetry conventions spell it: ``service/method``."""
        return f"{self.service}/{self.method}"


@runtime_checkable
class MetricsSink(Protocol):
    """Where :class:`MetricsInterceptor` sends what it measures.

    The adapters (``trioplugin.observability.otel.OtelMetrics``,
    ``trioplugin.observability.prometheus.PrometheusMetrics``) implement it;
    so may anything else. ``record_call`` runs on the call's path once per
    call and must not block; ``track_endpoint`` registers the endpoint's
    statistics, to be read when metrics are collected (gauges of queued and
    in-flight calls, breaker state, retry budget: nothing is spent on them
    per call).
    """

    def record_call(self, record: CallRecord) -> None:
        """Account for one finished call."""
        ...

    def track_endpoint(
        self, name: str, statistics: Callable[[], ActorStatistics]
    ) -> Callable[[], None]:
        """Read ``statistics()`` at each collection until the returned function is called."""
        ...


@final
class MetricsInterceptor:
    """Measures every call for a :class:`MetricsSink`: rate, codes, latency, sizes, retries.

    Put it first (outermost), like the logging interceptor, so one record
    covers the whole call with its attempts::

        metrics = MetricsInterceptor(PrometheusMetrics())
        kv = await host.connect("kv", url, interceptors=[metrics, breaker, retry])
        async with open_connect_server(services, interceptors=[metrics]): ...

    Given to an endpoint, it also registers the endpoint actor's statistics
    with the sink (queued and in-flight calls, breaker state and openings,
    retries and the retry budget), read when the metrics are collected,
    until the endpoint closes.
    """

    __slots__ = ("_bound", "_endpoint", "_sink", "_untrack")
    _waits_only_in_call_next: Final = True  # the actor then needs no cancel scope per call
    _calls_next_once: Final = True  # see rpc's chain: it then needs no attempt of its own

    def __init__(self, sink: MetricsSink) -> None:
        if not callable(getattr(sink, "record_call", None)) or not callable(
            getattr(sink, "track_endpoint", None)
        ):
            raise TypeError(
                f"sink must be a MetricsSink (record_call and track_endpoint), not {sink!r}"
            )
        self._sink = sink
        self._endpoint: str | None = None
        self._bound: Endpoint | None = None
        self._untrack: Callable[[], None] | None = None

    @property
    def sink(self) -> MetricsSink:
        """Where the measurements go."""
        return self._sink

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint this interceptor is bound to (None for the unbound original).

        The actor binds its interceptors, then gives them to its client, which
        binds again those not bound to its endpoint: without this, the
        endpoint's statistics would be tracked twice, and once for good.
        """
        return self._bound

    def for_endpoint(self, endpoint: Endpoint) -> MetricsInterceptor:
        """A copy for ``endpoint``: its calls carry its name, its statistics are tracked."""
        bound = MetricsInterceptor(self._sink)
        bound._endpoint = endpoint.name
        bound._bound = endpoint
        if endpoint.statistics is not None:
            bound._untrack = self._sink.track_endpoint(endpoint.name, endpoint.statistics)
        return bound

    def detach(self) -> None:
        """Stop tracking the endpoint's statistics (it has closed)."""
        if self._untrack is not None:
            self._untrack()
            self._untrack = None

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Run the call; tell the sink how it went."""
        requests, responses = count_streams(call)

        def record(error: BaseException | None, seconds: float) -> None:
            method = call.method
            code, name, _ = outcome(error, call)
            self._sink.record_call(
                CallRecord(
                    call.side,
                    method.service_name,
                    method.name,
                    self._endpoint,
                    name,
                    error_type(error, code, call),
                    seconds,
                    call.attempt,
                    *sizes(call, requests, responses, ok=error is None),
                )
            )

        with Timed(record):
            await call_next(call)
