"""``--observe``: the example's calls measured for Prometheus and traced with OpenTelemetry.

The host measures its calls to the plugin (``MetricsInterceptor`` with a
``PrometheusMetrics`` sink, scraped over HTTP from ``open_metrics_server``)
and traces them (``TracingInterceptor``, spans kept in memory); the plugin,
told so by its environment, traces the calls it serves and says which trace
its first one joined. At the end the host tells what an operator would see:
the scraped series of the endpoint, and the host's side of one trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, get_current_span
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from examples.kv.account import Account
from trioplugin.observability import MetricsInterceptor
from trioplugin.observability.otel import TracingInterceptor
from trioplugin.observability.prometheus import (
    METRICS_PATH,
    PrometheusMetrics,
    open_metrics_server,
)
from trioplugin.rpc import Call, CallNext, InterceptorLike

_plugin_log = logging.getLogger("kv.observe")


class Observation:
    """The host's metrics and traces for one run."""

    def __init__(self, registry: CollectorRegistry, metrics_url: str) -> None:
        self.metrics_url = metrics_url
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracing = TracingInterceptor(tracer_provider=provider)
        self.metrics = MetricsInterceptor(PrometheusMetrics(registry))

    def around(self, chain: Sequence[InterceptorLike]) -> list[InterceptorLike]:
        """``chain`` with the observing interceptors outside it and the attempts' inside."""
        return [self.metrics, self.tracing, *chain, self.tracing.attempts()]

    async def report(self, account: Account) -> None:
        """Say what the scrape and the trace show (while the endpoint is still open)."""
        async with httpx.AsyncClient() as client:
            scraped = (await client.get(self.metrics_url)).text
        account.say(f"observed: GET {self.metrics_url} ({len(scraped.splitlines())} lines); of it:")
        for line in _interesting(scraped):
            account.say(f"  {line}")
        first = _first_trace(self.spans.get_finished_spans())
        if first:
            account.say(f"  the host's side of trace {first[0].context.trace_id:032x}:")
            for span in first:
                parent = f" under {span.parent.span_id:016x}" if span.parent else ""
                status = span.attributes.get("rpc.status_code") if span.attributes else None
                attempt = span.attributes.get("trioplugin.attempt") if span.attributes else None
                what = f"attempt {attempt}" if attempt else "call"
                account.say(
                    f"    {span.name} {what}: span {span.context.span_id:016x}{parent} -> {status}"
                )


@asynccontextmanager
async def open_observation() -> AsyncIterator[Observation]:
    """Metrics served on 127.0.0.1 (a free port) and traces kept, for the block."""
    registry = CollectorRegistry()
    async with open_metrics_server(registry) as server:
        yield Observation(registry, server.url + METRICS_PATH)


def _interesting(scraped: str) -> list[str]:
    """The samples an operator's dashboard shows: calls by code, breaker, retries, budget."""
    wanted = {
        "rpc_client_call_duration_seconds_count",
        "trioplugin_endpoint_circuit_state",
        "trioplugin_endpoint_circuit_opened_total",
        "trioplugin_endpoint_circuit_rejected_total",
        "trioplugin_endpoint_retries_total",
        "trioplugin_endpoint_in_flight_calls",
    }
    lines = []
    for family in text_string_to_metric_families(scraped):
        for sample in family.samples:
            if sample.name not in wanted:
                continue
            labels = {k: v for k, v in sample.labels.items() if k in ("method", "code", "state")}
            shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines.append(
                f"{sample.name}{{{shown}}} {sample.value:g}"
                if shown
                else f"{sample.name} {sample.value:g}"
            )
    return lines


def _first_trace(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    """The spans of the trace of the first call the host made, call span first."""
    calls = [s for s in spans if s.kind is SpanKind.CLIENT and s.parent is None]
    if not calls:
        return []
    first = min(calls, key=lambda span: span.start_time or 0)
    trace_id = first.context.trace_id
    return sorted(
        (span for span in spans if span.context.trace_id == trace_id),
        key=lambda span: span.start_time or 0,
    )


def plugin_interceptors() -> list[InterceptorLike]:
    """The plugin's side: a span per call it serves, and a word on the first one's trace."""
    provider = TracerProvider()  # spans with real ids, exported nowhere: the host shows its side
    return [TracingInterceptor(tracer_provider=provider), _JoinedTrace()]


class _JoinedTrace:
    """Logs, once, the trace and parent span the plugin's first served call belongs to."""

    def __init__(self) -> None:
        self._told = False

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        if not self._told:
            self._told = True
            span = get_current_span()
            context = span.get_span_context()
            parent = getattr(span, "parent", None)
            under = f", under the host's span {parent.span_id:016x}" if parent else ""
            _plugin_log.info(
                "%s joined trace %032x%s", call.method.procedure, context.trace_id, under
            )
        await call_next(call)
