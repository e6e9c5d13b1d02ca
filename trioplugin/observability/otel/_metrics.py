"""OtelMetrics: a MetricsSink that records through the OpenTelemetry metrics API."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Final, final

from opentelemetry.metrics import (
    CallbackOptions,
    Histogram,
    Meter,
    MeterProvider,
    Observation,
    get_meter,
)

from ..._version import __version__
from ...actor import ActorStatistics
from .._instruments import (
    CLIENT_CALLS,
    DURATION_BUCKETS,
    ENDPOINT_INSTRUMENTS,
    SERVER_CALLS,
    SIZE_BUCKETS,
    Instrument,
    call_attributes,
    endpoint_readings,
)
from .._metrics import CallRecord
from .._tracking import TrackedEndpoints

_Callback = Callable[[CallbackOptions], Iterable[Observation]]

_METER_NAME: Final = "trioplugin"
"""The instrumentation scope the instruments are created in (its version is trioplugin's)."""

_MAX_WAIT: Final = 1.0
"""Seconds a collection waits, at most, for an endpoint's trio run to read its statistics."""


def _histogram(meter: Meter, instrument: Instrument, buckets: Sequence[float]) -> Histogram:
    try:
        return meter.create_histogram(
            instrument.otel,
            unit=instrument.unit,
            description=instrument.description,
            explicit_bucket_boundaries_advisory=buckets,
        )
    except TypeError:  # a Meter written before the advisory existed (API < 1.23)
        return meter.create_histogram(
            instrument.otel, unit=instrument.unit, description=instrument.description
        )


@final
class _Side:
    """One side's per-call histograms, created once."""

    __slots__ = ("duration", "request_size", "response_size")

    def __init__(self, meter: Meter, instruments: tuple[Instrument, Instrument, Instrument]):
        duration, request_size, response_size = instruments
        self.duration = _histogram(meter, duration, DURATION_BUCKETS)
        self.request_size = _histogram(meter, request_size, SIZE_BUCKETS)
        self.response_size = _histogram(meter, response_size, SIZE_BUCKETS)

    def record(self, record: CallRecord) -> None:
        # No cache of the attribute dicts: building one costs ~0.2 us, a cache
        # lookup ~0.1 us, and the SDK's record ~6 us per histogram.
        attributes = call_attributes(record)
        self.duration.record(record.duration, attributes)
        self.request_size.record(record.request_bytes, attributes)
        self.response_size.record(record.response_bytes, attributes)


@final
class _Readings:
    """The endpoint instruments' observations, read from every endpoint once per collection.

    Each observable instrument has its own callback, and a collection calls
    each once. The first callback of a collection reads every endpoint's
    statistics and keeps the observations of all the instruments; the
    others take theirs from it. A callback that finds its instrument's
    observations already taken starts the next collection's reading. (So a
    collection calling only callbacks the previous one skipped would get
    the previous one's readings: the SDK calls every enabled instrument's.)
    """

    __slots__ = ("_current", "_endpoints", "_lock", "_taken")

    def __init__(self, endpoints: TrackedEndpoints) -> None:
        self._endpoints = endpoints
        self._lock = threading.Lock()
        self._current: dict[Instrument, list[Observation]] = {}
        self._taken: set[Instrument] = set()

    def callback(self, instrument: Instrument) -> _Callback:
        """The callback of ``instrument``'s observable instrument."""

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                if instrument in self._taken or not self._current:
                    self._read(options.timeout_millis / 1000)
                self._taken.add(instrument)
                return self._current.get(instrument, [])

        return observe

    def _read(self, timeout: float) -> None:
        observations: dict[Instrument, list[Observation]] = {i: [] for i in ENDPOINT_INSTRUMENTS}
        # Half the time left, so that a slow run costs this reading, not the collection.
        for name, statistics in self._endpoints.read(min(timeout / 2, _MAX_WAIT)):
            readings = _observations(name, statistics)
            for instrument, observation in readings:
                observations[instrument].append(observation)
        self._current = observations
        self._taken = set()


def _observations(name: str, statistics: ActorStatistics) -> list[tuple[Instrument, Observation]]:
    """One endpoint's observations, or none if its statistics are not what they should be."""
    try:
        return [
            (instrument, Observation(value, attributes))
            for instrument, attributes, value in endpoint_readings(name, statistics)
        ]
    except Exception:
        return []


@final
class OtelMetrics:
    """A :class:`~trioplugin.observability.MetricsSink` for OpenTelemetry (the ``otel`` extra).

    Give it to a :class:`~trioplugin.observability.MetricsInterceptor`, on
    a host's endpoints and on a server::

        metrics = MetricsInterceptor(OtelMetrics())
        kv = await host.connect("kv", url, interceptors=[metrics, breaker, retry])
        async with open_connect_server(services, interceptors=[metrics]): ...

    Its meter is ``trioplugin`` (with trioplugin's version) from
    ``meter_provider``, or from the global provider when it is None: only
    the OpenTelemetry API is needed, the application brings the SDK and its
    exporters, and without them nothing is recorded, at next to no cost.

    Per call, histograms named as the OpenTelemetry RPC conventions name
    them: ``rpc.client.call.duration`` and ``rpc.server.call.duration``
    (``s``, with the conventions' bucket boundaries as advice), and
    ``trioplugin.rpc.{client,server}.{request,response}.size`` (``By``,
    powers of four from 64 B to 16 MiB), with the attributes
    ``rpc.system.name`` (``connectrpc``), ``rpc.method``
    (``service/method``), ``rpc.status_code`` (``ok`` or the Connect code),
    ``error.type`` (on a failure only) and, on a client's endpoint,
    ``trioplugin.endpoint``.

    Per endpoint, read from its actor's statistics at each collection, with
    the attribute ``trioplugin.endpoint``: the gauges
    ``trioplugin.endpoint.calls.queued``, ``….calls.in_flight``,
    ``….circuit.state`` (1 for the state the breaker is in, 0 for the
    others, with ``trioplugin.circuit.state``) and
    ``….retry_budget.balance``; the counters ``….circuit.opened``,
    ``….circuit.rejected``, ``….retries``, ``….hedges`` and
    ``….retries.throttled``. The breaker's and the retries' only for an
    endpoint that has them; none after the endpoint has closed. Each
    endpoint's statistics are read once per collection, in the thread of
    the trio run the endpoint lives in (a collection from another thread,
    such as the SDK's periodic reader, waits for it, a second at most); an
    endpoint whose statistics fail to read is left out of that collection.
    """

    __slots__ = ("_client", "_endpoints", "_server")

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = get_meter(_METER_NAME, __version__, meter_provider=meter_provider)
        self._client = _Side(meter, CLIENT_CALLS)
        self._server = _Side(meter, SERVER_CALLS)
        self._endpoints = TrackedEndpoints()
        readings = _Readings(self._endpoints)
        for instrument in ENDPOINT_INSTRUMENTS:
            create = (
                meter.create_observable_gauge
                if instrument.kind == "gauge"
                else meter.create_observable_counter
            )
            create(
                instrument.otel,
                callbacks=[readings.callback(instrument)],
                unit=instrument.unit,
                description=instrument.description,
            )

    def record_call(self, record: CallRecord) -> None:
        """Record the call's duration and sizes in its side's histograms."""
        (self._client if record.side == "client" else self._server).record(record)

    def track_endpoint(
        self, name: str, statistics: Callable[[], ActorStatistics]
    ) -> Callable[[], None]:
        """Observe ``statistics()`` at each collection until the returned function is called."""
        return self._endpoints.track(name, statistics)
