"""OtelMetrics against the real OpenTelemetry SDK: real calls, real collections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    Sum,
)

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.observability._helpers import snapshot
from trioplugin import (
    ActorOptions,
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    ConnectError,
    RetryInterceptor,
    RetryPolicy,
    __version__,
    open_plugin_nursery,
)
from trioplugin.actor import ActorStatistics
from trioplugin.observability import CallRecord, MetricsInterceptor, MetricsSink
from trioplugin.observability._instruments import (
    CLIENT_CALLS,
    DURATION_BUCKETS,
    ENDPOINT_INSTRUMENTS,
    SERVER_CALLS,
    SIZE_BUCKETS,
)
from trioplugin.observability.otel import OtelMetrics
from trioplugin.resilience import RetryBudget
from trioplugin.rpc import open_connect_server

ECHO_METHOD = "trioplugin.test.v1.EchoService/Echo"
ENDPOINT_NAMES = {instrument.otel for instrument in ENDPOINT_INSTRUMENTS}


def _metrics(data: MetricsData | None) -> dict[str, Metric]:
    found: dict[str, Metric] = {}
    if data is None:  # nothing to report
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert (scope.scope.name, scope.scope.version) == ("trioplugin", __version__)
            for metric in scope.metrics:
                found[metric.name] = metric
    return found


def _collect(reader: InMemoryMetricReader) -> dict[str, Metric]:
    return _metrics(reader.get_metrics_data())


def _points(metric: Metric) -> Iterator[tuple[dict[str, Any], Any]]:
    for point in metric.data.data_points:
        yield dict(point.attributes or {}), point


def _key(attributes: dict[str, Any]) -> frozenset[tuple[str, Any]]:
    return frozenset(attributes.items())


def _by_attributes(metric: Metric) -> dict[frozenset[tuple[str, Any]], HistogramDataPoint]:
    found = {}
    for attributes, point in _points(metric):
        assert isinstance(point, HistogramDataPoint)
        found[_key(attributes)] = point
    return found


def _values(metrics: dict[str, Metric], endpoint: str = "echo") -> dict[str, Any]:
    """Each endpoint instrument's value for ``endpoint`` (the circuit state: by state)."""
    values: dict[str, Any] = {}
    for name in ENDPOINT_NAMES & set(metrics):
        for attributes, point in _points(metrics[name]):
            assert isinstance(point, NumberDataPoint)
            if attributes.pop("trioplugin.endpoint") != endpoint:
                continue
            if name == "trioplugin.endpoint.circuit.state":
                values.setdefault(name, {})[attributes.pop("trioplugin.circuit.state")] = (
                    point.value
                )
            else:
                values[name] = point.value
            assert attributes == {}
    return values


def _provider() -> tuple[MeterProvider, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    return MeterProvider(metric_readers=[reader]), reader


def test_it_is_a_sink_and_reports_nothing_before_a_call() -> None:
    provider, reader = _provider()
    sink = OtelMetrics(provider)
    assert isinstance(sink, MetricsSink)
    assert _collect(reader) == {}
    # Without a provider, the global one: no SDK installed here, so nothing, cheaply.
    record = CallRecord("client", "a.v1.S", "Get", "kv", "ok", None, 0.01, 1, 1, 3, 1, 4)
    OtelMetrics().record_call(record)
    assert _collect(reader) == {}


async def test_each_call_is_measured_on_both_sides_with_the_catalogues_names() -> None:
    provider, reader = _provider()
    metrics = MetricsInterceptor(OtelMetrics(provider))
    breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=5))
    retry = RetryInterceptor(RetryPolicy(max_attempts=2, initial_backoff=0.001))
    hello = EchoRequest(text="hello")
    refused = EchoRequest(text="no", fail_code="not_found")  # not retried
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=[metrics]) as server:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", server.url, interceptors=[metrics, breaker, retry])
            await handle.stub(ECHO).Echo(hello)
            with pytest.raises(ConnectError):
                await handle.stub(ECHO).Echo(refused)
    collected = _collect(reader)
    ok = {"rpc.system.name": "connectrpc", "rpc.method": ECHO_METHOD, "rpc.status_code": "ok"}
    failed = ok | {"rpc.status_code": "not_found", "error.type": "not_found"}
    responses = {}
    for side, endpoint in (("client", {"trioplugin.endpoint": "echo"}), ("server", {})):
        names = (
            f"rpc.{side}.call.duration",
            f"trioplugin.rpc.{side}.request.size",
            f"trioplugin.rpc.{side}.response.size",
        )
        catalogue = CLIENT_CALLS if side == "client" else SERVER_CALLS
        assert tuple(instrument.otel for instrument in catalogue) == names
        duration, request_size, response_size = (_by_attributes(collected[n]) for n in names)
        # A server's not_found is the client's doing: no error.type there (the conventions).
        on_server = ok | {"rpc.status_code": "not_found"}
        succeeded = _key(ok | endpoint)
        failing = _key(failed | endpoint) if side == "client" else _key(on_server)
        for name, instrument, points in zip(
            names, catalogue, (duration, request_size, response_size), strict=True
        ):
            metric = collected[name]
            assert metric.unit == ("s" if name.endswith("duration") else "By")
            assert metric.description == instrument.description
            assert set(points) == {succeeded, failing}  # error.type on the failure only
            buckets = DURATION_BUCKETS if points is duration else SIZE_BUCKETS
            for point in points.values():
                assert point.count == 1
                assert tuple(point.explicit_bounds) == buckets
        assert 0 < duration[succeeded].sum < 10
        assert request_size[succeeded].sum == hello.ByteSize()
        assert request_size[failing].sum == refused.ByteSize()
        assert response_size[failing].sum == 0
        responses[side] = response_size[succeeded].sum
    assert responses["client"] == responses["server"] > 0  # one message, measured at each end


async def test_queued_and_in_flight_calls_are_observed_while_they_wait() -> None:
    provider, reader = _provider()
    impl = EchoImpl()
    metrics = MetricsInterceptor(OtelMetrics(provider))
    async with open_connect_server({ECHO: impl}, interceptors=[metrics]) as server:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect(
                "echo", server.url, interceptors=[metrics], actor=ActorOptions(max_in_flight=1)
            )
            values = _values(_collect(reader))
            assert values == {
                "trioplugin.endpoint.calls.queued": 0,
                "trioplugin.endpoint.calls.in_flight": 0,
            }  # no breaker, no retries: none of their instruments
            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    # One runs; the actor holds the next while it waits for a slot,
                    # the third waits in the inbox: two queued.
                    for _ in range(3):
                        nursery.start_soon(handle.stub(ECHO).Echo, EchoRequest(delay_ms=60_000))
                    await impl.started.wait()
                    await trio.testing.wait_all_tasks_blocked()
                    values = _values(_collect(reader))
                    assert values["trioplugin.endpoint.calls.in_flight"] == 1
                    assert values["trioplugin.endpoint.calls.queued"] == 2
                    nursery.cancel_scope.cancel()
        # The endpoint has closed: its series are gone, the per-call ones stay.
        collected = _collect(reader)
        assert _values(collected) == {}
        assert CLIENT_CALLS[0].otel in collected


async def test_the_breaker_opening_and_the_retries_are_observed() -> None:
    provider, reader = _provider()
    metrics = MetricsInterceptor(OtelMetrics(provider))
    breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=2, timeout=60))
    # The default budget: a reserve of 100 retries; a call deposits 1/5 of one.
    budget = RetryBudget()
    retry = RetryInterceptor(RetryPolicy(max_attempts=2, initial_backoff=0.001, budget=budget))
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=[metrics]) as server:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", server.url, interceptors=[metrics, breaker, retry])
            before = _values(_collect(reader))
            for _ in range(2):  # each retried once, then counted once by the breaker
                with pytest.raises(ConnectError):
                    await handle.stub(ECHO).Echo(EchoRequest(fail_code="unavailable"))
            with pytest.raises(ConnectError, match="circuit"):
                await handle.stub(ECHO).Echo(EchoRequest(text="refused"))
            collected = _collect(reader)
        assert _values(_collect(reader)) == {}
    assert before["trioplugin.endpoint.circuit.state"] == {"closed": 1, "open": 0, "half_open": 0}
    assert before["trioplugin.endpoint.retry_budget.balance"] == 100
    after = _values(collected)
    assert set(after) == ENDPOINT_NAMES
    assert after["trioplugin.endpoint.circuit.state"] == {"closed": 0, "open": 1, "half_open": 0}
    assert after["trioplugin.endpoint.circuit.opened"] == 1
    assert after["trioplugin.endpoint.circuit.rejected"] == 1
    assert after["trioplugin.endpoint.retries"] == 2
    assert after["trioplugin.endpoint.hedges"] == 0
    assert after["trioplugin.endpoint.retries.throttled"] == 0
    # (2 deposits of 1000 - 2 retries of 5000 + a reserve of 500,000) / 5000, truncated.
    assert after["trioplugin.endpoint.retry_budget.balance"] == 98
    for instrument in ENDPOINT_INSTRUMENTS:
        metric = collected[instrument.otel]
        assert (metric.unit, metric.description) == (instrument.unit, instrument.description)
        if instrument.kind == "counter":
            assert isinstance(metric.data, Sum) and metric.data.is_monotonic
            assert metric.data.aggregation_temporality is AggregationTemporality.CUMULATIVE
        else:
            assert isinstance(metric.data, Gauge)


async def test_a_refused_retry_is_counted_as_throttled() -> None:
    provider, reader = _provider()
    metrics = MetricsInterceptor(OtelMetrics(provider))
    # No reserve and no share: Finagle's empty budget, which allows no retry.
    empty = RetryBudget(min_retries_per_sec=0, percent_can_retry=0)
    retry = RetryInterceptor(RetryPolicy(max_attempts=3, initial_backoff=0.001, budget=empty))
    async with open_connect_server({ECHO: EchoImpl()}) as server:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", server.url, interceptors=[metrics, retry])
            with pytest.raises(ConnectError):
                await handle.stub(ECHO).Echo(EchoRequest(fail_code="unavailable"))
            values = _values(_collect(reader))
    assert values["trioplugin.endpoint.retries"] == 0
    assert values["trioplugin.endpoint.retries.throttled"] == 1
    assert values["trioplugin.endpoint.retry_budget.balance"] == 0
    assert "trioplugin.endpoint.circuit.state" not in values  # no breaker


async def test_a_collection_from_another_thread_reads_the_endpoint_in_its_trio_thread() -> None:
    # The retry budget reads trio's clock, which raises outside the run's thread:
    # read there, the endpoint would be left out. The SDK's periodic reader
    # collects in a thread of its own.
    provider, reader = _provider()
    metrics = MetricsInterceptor(OtelMetrics(provider))
    retry = RetryInterceptor(RetryPolicy(budget=RetryBudget()))
    async with open_connect_server({ECHO: EchoImpl()}) as server:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", server.url, interceptors=[metrics, retry])
            await handle.stub(ECHO).Echo(EchoRequest(text="x"))
            data = await trio.to_thread.run_sync(reader.get_metrics_data)
    values = _values(_metrics(data))
    assert values["trioplugin.endpoint.retry_budget.balance"] == 100
    assert values["trioplugin.endpoint.calls.in_flight"] == 0


class _Reader(MetricReader):
    """A reader whose collection is given a time limit (InMemoryMetricReader's is 10 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: MetricsData | None = None

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self.data = metrics_data

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


async def test_a_blocked_trio_run_costs_its_endpoints_not_the_collection() -> None:
    reader = _Reader()
    sink = OtelMetrics(MeterProvider(metric_readers=[reader]))
    metrics = MetricsInterceptor(sink)
    async with open_connect_server({ECHO: EchoImpl()}) as server:
        async with open_plugin_nursery([ECHO]) as host:
            await host.connect("echo", server.url, interceptors=[metrics])
            # Tracked outside any trio run: read in the collecting thread.
            untrack = await trio.to_thread.run_sync(
                sink.track_endpoint, "outside", lambda: snapshot("outside", queued=3, in_flight=1)
            )
            collected = threading.Event()
            failures: list[BaseException] = []

            def collect() -> None:
                try:
                    reader.collect(timeout_millis=400)
                except BaseException as error:
                    failures.append(error)
                finally:
                    collected.set()

            threading.Thread(target=collect, daemon=True).start()
            # Block the run on purpose (no await): the collection cannot reach it.
            assert collected.wait(timeout=10)
            assert failures == []
            blocked = _metrics(reader.data)
            reader.collect()  # from the run's thread, now free
            free = _metrics(reader.data)
            untrack()
    assert _values(blocked) == {}
    assert _values(blocked, "outside")["trioplugin.endpoint.calls.queued"] == 3
    assert _values(free)["trioplugin.endpoint.calls.queued"] == 0
    assert _values(free, "outside")["trioplugin.endpoint.calls.queued"] == 3


def test_an_endpoint_whose_statistics_fail_is_left_out_and_untracking_removes_one() -> None:
    provider, reader = _provider()
    sink = OtelMetrics(provider)

    def broken() -> ActorStatistics:
        raise RuntimeError("no statistics today")

    untrack_good = sink.track_endpoint("good", lambda: snapshot("good", queued=3, in_flight=1))
    untrack_broken = sink.track_endpoint("broken", broken)
    collected = _collect(reader)
    assert _values(collected, "good") == {
        "trioplugin.endpoint.calls.queued": 3,
        "trioplugin.endpoint.calls.in_flight": 1,
    }
    assert _values(collected, "broken") == {}
    untrack_good()
    untrack_good()  # twice is harmless
    assert _values(_collect(reader), "good") == {}
    untrack_broken()


def test_each_endpoint_is_read_once_per_collection() -> None:
    provider, reader = _provider()
    sink = OtelMetrics(provider)
    reads = {"count": 0}

    def counted() -> ActorStatistics:
        reads["count"] += 1
        return snapshot("kv", queued=3, in_flight=1)

    untrack = sink.track_endpoint("kv", counted)
    for collections in range(1, 4):
        assert set(_values(_collect(reader), "kv")) == {
            "trioplugin.endpoint.calls.queued",
            "trioplugin.endpoint.calls.in_flight",
        }
        assert reads["count"] == collections
    untrack()
