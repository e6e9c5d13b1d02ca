"""Observability: what logging, metrics and tracing together cost a healthy call.

Unary echo calls through ``[LoggingInterceptor(), MetricsInterceptor(OtelMetrics(...)),
TracingInterceptor(...)]`` against the same calls with no interceptors,
directly and through the actor, measured as the resilience chain's cost is
(``benchmarks._chain_cost``). Twice: collected by nobody — OpenTelemetry's
no-op providers (the API installed, no SDK configured) and the calls'
logger at Python's default WARNING (a record for a failed call only): the
goal, ≤ 10 % overhead; and collected — the SDK aggregating its histograms
and recording its spans but exporting nowhere, and a record at INFO for
every call into a NullHandler: reported, the price of collecting. Without
the interceptors in the chain nothing of them runs: the *none* columns are
that case.
"""

from __future__ import annotations

from typing import Final

from ._chain_cost import ChainCost
from ._runner import Bench

_TITLE: Final = "`[LoggingInterceptor(), MetricsInterceptor(OtelMetrics()), TracingInterceptor()]`"

NO_OP: Final = ChainCost(
    chain="observed",
    label="the three, collected by nobody",
    title=f"{_TITLE}, collected by nobody (no-op OpenTelemetry, logging at WARNING),",
    goal_name="logging + metrics + tracing, collected by nobody / none",
    issue=16,
    goal_per_side=True,
    note=(
        "The calls' logger at WARNING (no call fails, so no record is made); OpenTelemetry's "
        "API's global meter and tracer with no SDK configured (its no-op ones). Actor with the "
        "three over direct without interceptors"
    ),
)

SDK: Final = ChainCost(
    chain="observed-sdk",
    label="the three, collected",
    title=f"{_TITLE}, collected (the OpenTelemetry SDK exporting nowhere, INFO records),",
    goal_name="logging + metrics + tracing, collected, no export / none",
    issue=None,
    goal_per_side=True,
    note=(
        "A record at INFO for every call, into a NullHandler; the OpenTelemetry SDK's "
        "MeterProvider with a reader never collected and its TracerProvider with no span "
        "processor (spans recorded, exported nowhere); the goal is the other table's, shown "
        "here for scale. Actor with the three over direct without interceptors"
    ),
)


def run(bench: Bench) -> str:
    """Measure the three interceptors' cost, no-op and with the SDK; return the section."""
    sections = ["## Observability: logging, metrics and tracing"]
    for cost in (NO_OP, SDK):
        sections.append(cost.section(bench, cost.measure(bench)))
    return "\n\n".join(sections)
