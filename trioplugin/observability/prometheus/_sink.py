"""PrometheusMetrics: a MetricsSink that keeps its metrics in a prometheus_client registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, final

from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from ...actor import ActorStatistics
from .._instruments import (
    CLIENT_CALLS,
    DURATION_BUCKETS,
    SERVER_CALLS,
    SIZE_BUCKETS,
    Instrument,
    call_attributes,
)
from .._metrics import CallRecord
from ._collector import EndpointCollector
from ._labels import label_names, label_values

_BUCKETS: Final[dict[str, tuple[float, ...]]] = {"s": DURATION_BUCKETS, "By": SIZE_BUCKETS}
"""The histogram boundaries by the instrument's unit."""

_Key = tuple[str, str, str, str, str | None, str | None]
"""What a record's label values depend on: side, service, method, code, error type, endpoint."""
_Children = tuple[Histogram, Histogram, Histogram]
"""One label set's duration, request size and response size histograms."""


def _histogram(instrument: Instrument) -> Histogram:
    return Histogram(
        instrument.prometheus,
        instrument.description,
        labelnames=label_names(instrument),
        buckets=_BUCKETS[instrument.unit],
        registry=None,
    )


@final
class PrometheusMetrics:
    """A :class:`~trioplugin.observability.MetricsSink` that keeps its metrics for Prometheus.

    Give it to a :class:`~trioplugin.observability.MetricsInterceptor`, on
    clients and servers alike, and expose the registry (with
    :func:`open_metrics_server`, or any ``prometheus_client`` exposition)::

        metrics = MetricsInterceptor(PrometheusMetrics())
        kv = await host.connect("kv", url, interceptors=[metrics, breaker, retry])

    Each call is observed in three histograms per side:
    ``rpc_client_call_duration_seconds`` (OpenTelemetry's buckets),
    ``trioplugin_rpc_client_request_size_bytes`` and
    ``trioplugin_rpc_client_response_size_bytes`` (powers of four, 64 B to
    16 MiB), and the same with ``server``; labelled ``system``
    (``connectrpc``), ``method`` (``service/method``), ``code`` (``ok`` or
    the Connect code), ``error_type`` (empty on success) and, on a
    client, ``endpoint``. Each endpoint's actor is read at every scrape
    (nothing is spent on it per call): ``trioplugin_endpoint_queued_calls``
    and ``..._in_flight_calls``, ``..._circuit_state`` (1 for its state, 0
    for the others, labelled ``state``), ``..._circuit_opened_total``,
    ``..._circuit_rejected_total``, ``..._retries_total``,
    ``..._hedges_total``, ``..._retries_throttled_total`` and
    ``..._retry_budget_tokens``, each labelled ``endpoint``; the
    breaker's and the retry budget's only for an endpoint that has them.
    Series of an endpoint go when it closes. :data:`LABEL_NAMES` gives
    the labels' OpenTelemetry attribute keys.

    A scrape reads the endpoints' statistics in the thread that scrapes:
    :func:`open_metrics_server` scrapes in the trio thread, which the
    endpoint actors run in; an exposition in a thread of its own reads
    them from there.

    Args:
        registry: where to register the metrics; ``prometheus_client.REGISTRY``
            by default.

    Raises:
        ValueError: ``registry`` has these metrics already (another
            PrometheusMetrics, or metrics of the same names): share that one
            or give each its own ``CollectorRegistry()``. Nothing is
            registered then.
    """

    __slots__ = ("_children", "_collector", "_instruments", "_parents", "_registered", "_registry")

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._registry = REGISTRY if registry is None else registry
        self._instruments: dict[str, tuple[Instrument, ...]] = {
            "client": CLIENT_CALLS,
            "server": SERVER_CALLS,
        }
        self._parents = {
            instrument: _histogram(instrument) for instrument in (*CLIENT_CALLS, *SERVER_CALLS)
        }
        self._collector = EndpointCollector()
        self._children: dict[_Key, _Children] = {}
        self._registered = False
        self._register()

    @property
    def registry(self) -> CollectorRegistry:
        """The registry the metrics are in."""
        return self._registry

    def record_call(self, record: CallRecord) -> None:
        """Observe the call's duration and sizes in its side's histograms."""
        key = (
            record.side,
            record.service,
            record.method,
            record.code,
            record.error_type,
            record.endpoint,
        )
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._label(record)
        duration, request_size, response_size = children
        duration.observe(record.duration)
        request_size.observe(record.request_bytes)
        response_size.observe(record.response_bytes)

    def track_endpoint(
        self, name: str, statistics: Callable[[], ActorStatistics]
    ) -> Callable[[], None]:
        """Read ``statistics()`` at each scrape until the returned function is called."""
        return self._collector.track(name, statistics)

    def unregister(self) -> None:
        """Take the metrics out of the registry (they still count, unseen); idempotent.

        For a registry that outlives this object, such as the default one,
        so that a new PrometheusMetrics may register there.
        """
        if self._registered:
            self._registered = False
            for collector in (*self._parents.values(), self._collector):
                self._registry.unregister(collector)

    def _label(self, record: CallRecord) -> _Children:
        """The histograms of the record's label set, from the catalogue's attributes."""
        attributes = call_attributes(record)
        duration, request_size, response_size = (
            self._parents[instrument].labels(*label_values(instrument, attributes))
            for instrument in self._instruments[record.side]
        )
        return duration, request_size, response_size

    def _register(self) -> None:
        named: list[tuple[str, Histogram | EndpointCollector]] = [
            (instrument.prometheus, histogram) for instrument, histogram in self._parents.items()
        ]
        named.append(("trioplugin_endpoint_*", self._collector))
        done: list[Histogram | EndpointCollector] = []
        for name, collector in named:
            try:
                self._registry.register(collector)
            except ValueError as error:
                for registered in done:
                    self._registry.unregister(registered)
                raise ValueError(
                    f"this registry has a metric named {name} already, as from another "
                    "PrometheusMetrics: a registry takes one; share it among the "
                    "MetricsInterceptors of every client and server, give each "
                    "PrometheusMetrics its own CollectorRegistry(), or unregister() the first"
                ) from error
            done.append(collector)
        self._registered = True
