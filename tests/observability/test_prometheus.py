"""The Prometheus adapter: call histograms and endpoint gauges in a prometheus_client registry."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.observability._helpers import snapshot
from tests.tasks import live_tasks
from trioplugin import (
    ActorOptions,
    CircuitBreakerInterceptor,
    Code,
    ConnectError,
    RetryInterceptor,
    RetryPolicy,
    open_plugin_nursery,
)
from trioplugin.actor import ActorStatistics
from trioplugin.observability import CallRecord, MetricsInterceptor, MetricsSink
from trioplugin.observability.prometheus import (
    LABEL_NAMES,
    PrometheusMetrics,
    open_metrics_server,
    serve_metrics,
)
from trioplugin.resilience import CircuitBreakerConfig, RetryBudget
from trioplugin.rpc import open_connect_server
from trioplugin.transport import Server

METHOD = "trioplugin.test.v1.EchoService/Echo"
DURATION_BOUNDS = ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75"]
DURATION_BOUNDS += ["1.0", "2.5", "5.0", "7.5", "10.0", "+Inf"]
SIZE_BOUNDS = ["0.0", "64.0", "256.0", "1024.0", "4096.0", "16384.0", "65536.0", "262144.0"]
SIZE_BOUNDS += ["1.048576e+06", "4.194304e+06", "1.6777216e+07", "+Inf"]

CIRCUIT_STATE = "trioplugin_endpoint_circuit_state"
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
"""What choose_encoder gives a scraper that asks for no format: CONTENT_TYPE_LATEST in
prometheus_client 0.20, which 0.26 has made the 1.0.0 text format's."""

Labels = dict[str, str]


class Samples:
    """A scrape's samples, by sample name (``..._bucket``, ``..._total``) and labels."""

    def __init__(self, text: str) -> None:
        self.types: dict[str, str] = {}
        self.samples: list[tuple[str, Labels, float]] = []
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            self.samples += [(s.name, s.labels, s.value) for s in family.samples]

    def series(self, name: str, **labels: str) -> list[tuple[Labels, float]]:
        """The samples named ``name`` whose labels include ``labels``."""
        return [
            (have, value)
            for sample, have, value in self.samples
            if sample == name and labels.items() <= have.items()
        ]

    def value(self, name: str, **labels: str) -> float:
        """The one sample named ``name`` with ``labels`` among its labels."""
        [(_, value)] = self.series(name, **labels)
        return value

    def buckets(self, name: str, **labels: str) -> dict[str, float]:
        """A histogram's cumulative bucket counts by their ``le``."""
        return {have["le"]: value for have, value in self.series(f"{name}_bucket", **labels)}


def collected(registry: CollectorRegistry) -> Samples:
    return Samples(generate_latest(registry).decode())


def record(side: str = "client", **fields: Any) -> CallRecord:
    values: dict[str, Any] = {
        "side": side,
        "service": "trioplugin.test.v1.EchoService",
        "method": "Echo",
        "endpoint": "echo" if side == "client" else None,
        "code": "ok",
        "error_type": None,
        "duration": 0.02,
        "attempts": 1,
        "requests": 1,
        "request_bytes": 7,
        "responses": 1,
        "response_bytes": 300,
    }
    return CallRecord(**(values | fields))


def endpoints(samples: Samples, name: str) -> set[str]:
    return {labels["endpoint"] for labels, _ in samples.series(name)}


def test_the_label_table_names_every_catalogue_label_once() -> None:
    from trioplugin.observability import _instruments as catalogue

    instruments: Iterable[catalogue.Instrument] = (
        *catalogue.CLIENT_CALLS,
        *catalogue.SERVER_CALLS,
        *catalogue.ENDPOINT_INSTRUMENTS,
    )
    used = {key for instrument in instruments for key in instrument.labels}
    assert used == set(LABEL_NAMES)
    names = list(LABEL_NAMES.values())
    assert len(set(names)) == len(names)
    assert all(name.isidentifier() and not name.startswith("__") for name in names)
    with pytest.raises(TypeError):
        LABEL_NAMES["rpc.method"] = "procedure"  # type: ignore[index]


def test_it_is_a_sink_and_registers_in_the_default_registry_by_default() -> None:
    from prometheus_client import REGISTRY

    metrics = PrometheusMetrics()
    try:
        assert isinstance(metrics, MetricsSink)
        assert metrics.registry is REGISTRY
        assert "rpc_client_call_duration_seconds" in collected(REGISTRY).types
    finally:
        metrics.unregister()
    assert "rpc_client_call_duration_seconds" not in collected(REGISTRY).types


def test_each_call_is_observed_in_its_sides_three_histograms() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    metrics.record_call(record())
    metrics.record_call(record(duration=0.3, request_bytes=100, response_bytes=0))
    metrics.record_call(record(code="not_found", error_type="not_found", duration=2.0))
    metrics.record_call(record("server", code="internal", error_type="builtins.RuntimeError"))
    samples = collected(registry)

    assert samples.types["rpc_client_call_duration_seconds"] == "histogram"
    ok = {"system": "connectrpc", "method": METHOD, "code": "ok", "error_type": ""}
    client_ok = ok | {"endpoint": "echo"}
    duration = "rpc_client_call_duration_seconds"
    assert samples.value(f"{duration}_count", **client_ok) == 2
    assert samples.value(f"{duration}_sum", **client_ok) == pytest.approx(0.32)
    buckets = samples.buckets(duration, **client_ok)
    assert list(buckets) == DURATION_BOUNDS
    assert (buckets["0.01"], buckets["0.025"], buckets["0.25"], buckets["0.5"]) == (0, 1, 1, 2)
    assert buckets["+Inf"] == 2

    request_size = samples.buckets("trioplugin_rpc_client_request_size_bytes", **client_ok)
    assert list(request_size) == SIZE_BOUNDS
    assert (request_size["0.0"], request_size["64.0"], request_size["256.0"]) == (0, 1, 2)
    response_size = samples.buckets("trioplugin_rpc_client_response_size_bytes", **client_ok)
    assert (response_size["0.0"], response_size["256.0"], response_size["1024.0"]) == (1, 1, 2)

    failed = samples.series(f"{duration}_count", code="not_found")
    assert failed == [(client_ok | {"code": "not_found", "error_type": "not_found"}, 1)]

    [(served, count)] = samples.series("rpc_server_call_duration_seconds_count")
    assert served == ok | {"code": "internal", "error_type": "builtins.RuntimeError"}
    assert count == 1  # and a server's calls have no endpoint label
    assert samples.value("trioplugin_rpc_server_response_size_bytes_sum") == 300


def test_each_label_set_is_labelled_once_then_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    labelled: list[tuple[str, ...]] = []
    labels = Histogram.labels

    def counting(self: Histogram, *values: str) -> Histogram:
        labelled.append(values)
        return labels(self, *values)

    monkeypatch.setattr(Histogram, "labels", counting)
    metrics = PrometheusMetrics(CollectorRegistry())
    for _ in range(50):
        metrics.record_call(record())
        metrics.record_call(record(code="unavailable", error_type="unavailable"))
    assert len(labelled) == 2 * 3  # two label sets, three histograms each


def test_a_second_one_in_the_same_registry_is_refused_with_what_to_do() -> None:
    registry = CollectorRegistry()
    first = PrometheusMetrics(registry)
    with pytest.raises(ValueError, match="share it among the MetricsInterceptors") as refused:
        PrometheusMetrics(registry)
    assert "rpc_client_call_duration_seconds" in str(refused.value)
    assert "CollectorRegistry()" in str(refused.value)
    first.record_call(record())  # the first is untouched by the refusal
    assert collected(registry).value("rpc_client_call_duration_seconds_count") == 1

    first.unregister()
    first.unregister()  # idempotent
    assert collected(registry).types == {}
    PrometheusMetrics(registry)  # room for a new one


def test_a_clash_with_an_endpoint_metric_registers_nothing() -> None:
    registry = CollectorRegistry()
    Gauge("trioplugin_endpoint_queued_calls", "someone else's", registry=registry)
    with pytest.raises(ValueError, match="trioplugin_endpoint_"):
        PrometheusMetrics(registry)
    assert set(collected(registry).types) == {"trioplugin_endpoint_queued_calls"}
    PrometheusMetrics(CollectorRegistry())


def test_tracked_endpoints_are_read_once_per_collection_until_untracked() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    reads = {"a": 0, "b": 0}

    def reading(name: str, queued: int) -> Callable[[], ActorStatistics]:
        def statistics() -> ActorStatistics:
            reads[name] += 1
            return snapshot(name, queued=queued, in_flight=1)

        return statistics

    untrack_a = metrics.track_endpoint("a", reading("a", 3))
    untrack_b = metrics.track_endpoint("b", reading("b", 0))
    samples = collected(registry)
    assert reads == {"a": 1, "b": 1}
    assert samples.types["trioplugin_endpoint_queued_calls"] == "gauge"
    assert samples.value("trioplugin_endpoint_queued_calls", endpoint="a") == 3
    assert samples.value("trioplugin_endpoint_in_flight_calls", endpoint="b") == 1
    # No breaker, no retries: none of their series.
    assert samples.series("trioplugin_endpoint_circuit_state") == []
    assert samples.series("trioplugin_endpoint_retries_total") == []

    untrack_a()
    untrack_a()  # idempotent
    assert endpoints(collected(registry), "trioplugin_endpoint_queued_calls") == {"b"}
    untrack_b()
    assert collected(registry).series("trioplugin_endpoint_queued_calls") == []
    assert reads == {"a": 1, "b": 2}


def test_an_endpoint_whose_statistics_fail_is_left_out() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)

    def broken() -> ActorStatistics:
        raise RuntimeError("gone")

    metrics.track_endpoint("broken", broken)
    metrics.track_endpoint("fine", lambda: snapshot("fine"))
    samples = collected(registry)
    assert endpoints(samples, "trioplugin_endpoint_queued_calls") == {"fine"}
    assert endpoints(samples, "trioplugin_endpoint_in_flight_calls") == {"fine"}


def test_two_endpoints_of_one_name_show_once() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    metrics.track_endpoint("kv", lambda: snapshot("kv", queued=1))
    untrack = metrics.track_endpoint("kv", lambda: snapshot("kv", queued=2))
    assert collected(registry).series("trioplugin_endpoint_queued_calls") == [
        ({"endpoint": "kv"}, 2)  # the one tracked last, as in the OpenTelemetry sink
    ]
    untrack()
    assert collected(registry).value("trioplugin_endpoint_queued_calls", endpoint="kv") == 1


def test_bounds_match_the_catalogue() -> None:
    from trioplugin.observability._instruments import DURATION_BUCKETS, SIZE_BUCKETS

    assert [float(b) for b in DURATION_BOUNDS[:-1]] == list(DURATION_BUCKETS)
    assert [float(b) for b in SIZE_BOUNDS[:-1]] == list(SIZE_BUCKETS)


# Over HTTP: real endpoints, and the registries scraped from open_metrics_server.


async def scrape(server: Server, **headers: str) -> Samples:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == TEXT_FORMAT
    return Samples(response.text)


async def test_a_scrape_shows_both_sides_calls_and_the_endpoint_while_open() -> None:
    host_registry, server_registry = CollectorRegistry(), CollectorRegistry()
    served = MetricsInterceptor(PrometheusMetrics(server_registry))
    calling = MetricsInterceptor(PrometheusMetrics(host_registry))
    async with (
        open_metrics_server(host_registry) as host_metrics,
        open_metrics_server(server_registry) as server_metrics,
        open_connect_server({ECHO: EchoImpl()}, interceptors=[served]) as server,
    ):
        async with open_plugin_nursery([ECHO]) as host:
            echo = (await host.connect("echo", server.url, interceptors=[calling])).stub(ECHO)
            await echo.Echo(EchoRequest(text="hello"))
            with pytest.raises(ConnectError):
                await echo.Echo(EchoRequest(text="no", fail_code="not_found"))
            during = await scrape(host_metrics)
            assert during.value("trioplugin_endpoint_queued_calls", endpoint="echo") == 0
            assert during.value("trioplugin_endpoint_in_flight_calls", endpoint="echo") == 0

        after = await scrape(host_metrics)
        server_side = await scrape(server_metrics)

    assert endpoints(after, "trioplugin_endpoint_queued_calls") == set()
    assert endpoints(after, "trioplugin_endpoint_in_flight_calls") == set()
    ok = {"system": "connectrpc", "method": METHOD, "code": "ok", "error_type": ""}
    not_found = ok | {"code": "not_found", "error_type": "not_found"}
    for samples in (during, after):  # the calls' histograms stay once the endpoint is gone
        duration = "rpc_client_call_duration_seconds"
        assert samples.value(f"{duration}_count", **ok, endpoint="echo") == 1
        assert samples.value(f"{duration}_count", **not_found, endpoint="echo") == 1
        assert samples.buckets(duration, **ok)["+Inf"] == 1
        request = EchoRequest(text="hello").ByteSize()
        assert samples.value("trioplugin_rpc_client_request_size_bytes_sum", **ok) == request
        assert samples.buckets("trioplugin_rpc_client_request_size_bytes", **ok)["64.0"] == 1
        assert samples.value("trioplugin_rpc_client_response_size_bytes_sum", **not_found) == 0
    counted = server_side.series("rpc_server_call_duration_seconds_count")
    server_labels = {labels["code"]: labels for labels, _ in counted}
    # No endpoint label; and a server's not_found is the client's doing: no error_type.
    assert server_labels == {"ok": ok, "not_found": not_found | {"error_type": ""}}
    assert server_side.series("rpc_client_call_duration_seconds_count") == []


async def test_the_breaker_and_the_retries_show_at_each_scrape() -> None:
    registry = CollectorRegistry()
    breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=2, timeout=60))
    retry = RetryInterceptor(
        RetryPolicy(max_attempts=2, initial_backoff=0.001, budget=RetryBudget())
    )
    metrics = MetricsInterceptor(PrometheusMetrics(registry))
    async with (
        open_metrics_server(registry) as metrics_server,
        open_connect_server({ECHO: EchoImpl()}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect("echo", server.url, interceptors=[metrics, breaker, retry])
        echo = handle.stub(ECHO)

        closed = await scrape(metrics_server)
        states = {labels["state"]: value for labels, value in closed.series(CIRCUIT_STATE)}
        assert states == {"closed": 1, "open": 0, "half_open": 0}
        assert closed.value("trioplugin_endpoint_circuit_opened_total", endpoint="echo") == 0
        assert closed.value("trioplugin_endpoint_retries_total", endpoint="echo") == 0
        # RetryBudget(): a reserve of 10 retries a second for 10 s, no call yet.
        assert closed.value("trioplugin_endpoint_retry_budget_tokens", endpoint="echo") == 100

        for _ in range(2):  # each fails twice (retried once): the breaker sees two failures
            with pytest.raises(ConnectError):
                await echo.Echo(EchoRequest(fail_code="unavailable"))
        with pytest.raises(ConnectError) as refused:
            await echo.Echo(EchoRequest(text="refused"))
        assert refused.value.code is Code.UNAVAILABLE

        opened = await scrape(metrics_server)
        states = {labels["state"]: value for labels, value in opened.series(CIRCUIT_STATE)}
        assert states == {"closed": 0, "open": 1, "half_open": 0}
        assert opened.types["trioplugin_endpoint_circuit_opened"] == "counter"
        assert opened.value("trioplugin_endpoint_circuit_opened_total", endpoint="echo") == 1
        assert opened.value("trioplugin_endpoint_circuit_rejected_total", endpoint="echo") == 1
        assert opened.value("trioplugin_endpoint_retries_total", endpoint="echo") == 2
        assert opened.value("trioplugin_endpoint_hedges_total", endpoint="echo") == 0
        assert opened.value("trioplugin_endpoint_retries_throttled_total", endpoint="echo") == 0
        # Two calls deposit 1000 tokens each, two retries withdraw 5000 each,
        # from a reserve of 500,000: (500,000 + 2,000 - 10,000) // 5,000 = 98.
        assert opened.value("trioplugin_endpoint_retry_budget_tokens", endpoint="echo") == 98
        assert handle.statistics().retry.budget.balance == 98  # type: ignore[union-attr]
        failures = opened.series("rpc_client_call_duration_seconds_count", code="unavailable")
        assert [value for _, value in failures] == [3]  # the refusal is a call, too


async def test_queued_and_in_flight_calls_while_the_server_holds_one() -> None:
    registry = CollectorRegistry()
    impl = EchoImpl()
    metrics = MetricsInterceptor(PrometheusMetrics(registry))
    async with (
        open_metrics_server(registry) as metrics_server,
        open_connect_server({ECHO: impl}) as server,
        open_plugin_nursery([ECHO], actor=ActorOptions(max_in_flight=1)) as host,
    ):
        handle = await host.connect("echo", server.url, interceptors=[metrics])
        echo = handle.stub(ECHO)
        async with trio.open_nursery() as calls:
            for _ in range(3):
                calls.start_soon(echo.Echo, EchoRequest(delay_ms=60_000))
            await impl.started.wait()
            await trio.testing.wait_all_tasks_blocked()
            held = await scrape(metrics_server)
            statistics = handle.statistics()
            calls.cancel_scope.cancel()
        assert held.value("trioplugin_endpoint_in_flight_calls", endpoint="echo") == 1
        queued = held.value("trioplugin_endpoint_queued_calls", endpoint="echo")
        # One runs, the actor holds the next for the free slot, the third waits in the inbox.
        assert queued == statistics.queued == 2
        assert impl.calls == 1
        idle = await scrape(metrics_server)
        assert idle.value("trioplugin_endpoint_in_flight_calls", endpoint="echo") == 0
        assert idle.value("trioplugin_endpoint_queued_calls", endpoint="echo") == 0
        # Only the admitted call ran the interceptors: the queued two never started.
        canceled = idle.series("rpc_client_call_duration_seconds_count", code="canceled")
        assert [value for _, value in canceled] == [1]


async def test_the_metrics_server_answers_get_metrics_only() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    async with (
        open_metrics_server(registry) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        missing = await client.get("/")
        assert missing.status_code == 404
        assert "/metrics" in missing.text
        assert (await client.get("/metrics/")).status_code == 404
        for method in ("POST", "PUT", "DELETE"):
            refused = await client.request(method, "/metrics")
            assert refused.status_code == 405
            assert refused.headers["allow"] == "GET"
        plain = await client.get("/metrics?name[]=ignored")
        assert plain.status_code == 200
        assert plain.headers["content-encoding"] == "gzip"  # httpx accepts it, and unzips
        assert "# TYPE rpc_client_call_duration_seconds histogram" in plain.text
        identity = await client.get("/metrics", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in identity.headers
        assert identity.text == plain.text
        openmetrics = await client.get(
            "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.endswith("# EOF\n")


async def test_serve_metrics_starts_in_a_nursery_and_stops_with_it() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry).track_endpoint("kv", lambda: snapshot("kv", queued=4))
    before = live_tasks()
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_metrics, registry, port=0))
        samples = await scrape(server)
        assert samples.value("trioplugin_endpoint_queued_calls", endpoint="kv") == 4
        nursery.cancel_scope.cancel()
    assert live_tasks() == before
    with pytest.raises(httpx.ConnectError):
        await scrape(server)


async def test_leaving_the_block_stops_the_server_and_leaves_no_task() -> None:
    registry = CollectorRegistry()
    before = live_tasks()
    async with open_metrics_server(registry) as server:
        await scrape(server)
        assert live_tasks() > before
    assert live_tasks() == before
    with pytest.raises(httpx.ConnectError):
        await scrape(server)


async def test_a_scrape_from_another_thread_reads_the_endpoint_in_its_trio_thread() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    threads: list[int] = []

    def statistics() -> ActorStatistics:
        trio.current_time()  # raises outside the trio thread, as a breaker's or budget's would
        threads.append(threading.get_ident())
        return snapshot("kv", queued=3)

    metrics.track_endpoint("kv", statistics)
    scraped = await trio.to_thread.run_sync(generate_latest, registry)
    assert b'trioplugin_endpoint_queued_calls{endpoint="kv"} 3.0' in scraped
    assert threads == [threading.get_ident()]
