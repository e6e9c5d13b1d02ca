"""Resilience: what an open circuit costs a caller, and what the chain costs a healthy call.

*Rejections*: in one process on one CPU (``benchmarks._reject``), an
endpoint whose circuit is open (``CircuitBreakerConfig(failure_threshold=1,
timeout=3600)``, then ``RetryInterceptor()``, against a closed port)
refuses calls in a closed loop; through the handle, through a plain
``Client``, and the bare ``breaker.admit()`` and ``CircuitOpenError`` below
them, so the table shows where the time goes. Goal: 100,000 rejections/s
through the handle on one core.

*Chain overhead*: unary echo calls to the benchmark server through
``[CircuitBreakerInterceptor(), RetryInterceptor()]`` (no failures) against
the same calls with no interceptors, directly (a ``Client``) and through
the actor (a handle), in fresh ``benchmarks._load`` processes. Runs
alternate the order of each pair (ABBA); the ratio is taken run by run,
then its median. Goal: the chain keeps ≥ 90 % of the calls/s (≤ 10 % overhead).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Final

from ._chain_cost import ChainCost
from ._common import CALL_TIMEOUT
from ._procs import ChildFailed
from ._reject import LOOPS, PATHS, RejectResult
from ._report import count, table
from ._runner import Bench, progress

REJECTIONS_GOAL: Final = 100_000.0
"""Open-circuit rejections per second through a handle, on one core."""

CHAIN_COST: Final = ChainCost(
    chain="chain",
    label="breaker + retry",
    title="`[CircuitBreakerInterceptor(), RetryInterceptor()]`",
    goal_name="actor + breaker + retry / direct without interceptors",
    issue=12,
    note=(
        "Default breaker config and retry policy; no call fails, so nothing is retried. "
        "Actor with the chain over direct without interceptors (actor and chain together, "
        "against the bare transport call)"
    ),
)

REJECTIONS_WARMUP: Final = 0.1
"""At most this warm-up before a rejection window: with the circuits open and the first
rejection checked, there is no connection or cache left to warm, only the loop."""


_PATH_LABELS: Final = {
    "handle": "`handle.stub(ECHO).Echo(req)`, through the actor",
    "client": "`client.stub(ECHO).Echo(req)`, a plain `open_client` Client",
    "admit": "`breaker.admit()` alone (raises CircuitOpenError)",
    "raise": "`raise CircuitOpenError(...)` alone, no breaker",
}


def run(bench: Bench) -> str:
    """Measure rejections, then the chain's overhead; return the Markdown section."""
    rejections = _measure_rejections(bench)
    overhead = CHAIN_COST.measure(bench)
    return "\n\n".join(
        [
            "## Resilience: circuit breaker and retry",
            _rejections_section(bench, rejections),
            CHAIN_COST.section(bench, overhead),
        ]
    )


# --- open-circuit rejections ---------------------------------------------------


def _measure_rejections(bench: Bench) -> dict[tuple[str, int], list[RejectResult]]:
    settings = bench.settings
    cpu = [] if settings.load_cpu is None else ["--cpu", str(settings.load_cpu)]
    warmup = min(settings.warmup, REJECTIONS_WARMUP)
    args = [
        "--concurrency",
        ",".join(map(str, settings.concurrencies)),
        "--warmup",
        str(warmup),
        "--duration",
        str(settings.duration),
        *cpu,
    ]
    configurations = len(settings.concurrencies) * (len(PATHS) - len(LOOPS)) + len(LOOPS)
    timeout = configurations * (warmup + settings.duration) + CALL_TIMEOUT + 60
    results: dict[tuple[str, int], list[RejectResult]] = {}
    for number in range(1, settings.runs + 1):
        reverse = ["--reverse"] if number % 2 == 0 else []
        output = bench.children.run("_reject", [*args, *reverse], timeout)
        lines = output.strip().splitlines()
        if len(lines) != configurations:
            raise ChildFailed(f"_reject printed {len(lines)} lines, not {configurations}")
        for line in lines:
            result = RejectResult.parse(line)
            results.setdefault((result.path, result.concurrency), []).append(result)
            progress(
                f"resilience rejections run {number}/{settings.runs} {result.path} "
                f"c={result.concurrency}: {count(result.rate)} rejections/s"
                + (f", {result.errors} errors ({result.first_error})" if result.errors else "")
            )
    return results


def _meets(met: bool) -> str:
    return "meets" if met else "misses"


def _rejections_section(bench: Bench, results: dict[tuple[str, int], list[RejectResult]]) -> str:
    rows = []
    for path in PATHS:
        concurrencies: Sequence[int] = [1] if path in LOOPS else bench.settings.concurrencies
        for concurrency in concurrencies:
            runs = results[(path, concurrency)]
            rates = [r.rate for r in runs]
            rate = statistics.median(rates)
            cpu = statistics.median(r.cpu_s / max(r.rejections, 1) * 1e6 for r in runs)
            goal = _meets(rate >= REJECTIONS_GOAL) if path == "handle" else "(for comparison)"
            rows.append(
                [
                    _PATH_LABELS[path],
                    "—" if path in LOOPS else str(concurrency),
                    count(rate),
                    f"{count(min(rates))} - {count(max(rates))}" if len(rates) > 1 else "—",
                    f"{1e6 / rate:,.2f}" if rate else "—",
                    f"{cpu:,.2f}",
                    goal,
                    str(sum(r.errors for r in runs)),
                ]
            )
    headers = [
        "path to the refusal",
        "c",
        "rejections/s",
        "runs (min - max)",
        "µs per rejection",
        "CPU µs per rejection",
        f"goal ≥ {count(REJECTIONS_GOAL)}/s",
        "errors",
    ]
    right = [False, True, True, True, True, True, False, True]
    return "\n".join(
        [
            "### Open-circuit rejections, one process on one CPU",
            "",
            table(headers, rows, right),
            "",
            "Interceptors `[CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=1, "
            "timeout=3600)), RetryInterceptor()]`, opened by one call to a closed port; then "
            "every call raises CircuitOpenError, caught by the caller. rejections/s: median "
            "over the runs; µs per rejection: one second over that rate (at c=1, the time of "
            "one refused call); CPU µs: the process's CPU time in the window over the "
            "rejections in it. c: callers in a closed loop (a refusal yields to the scheduler "
            "only once in 64, so callers take turns in runs of refusals). "
            "The goal is for the handle; a miss does not fail the run.",
        ]
    )
