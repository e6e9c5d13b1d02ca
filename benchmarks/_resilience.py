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

from ._common import CALL_TIMEOUT, LoadResult
from ._procs import ChildFailed
from ._reject import LOOPS, PATHS, RejectResult
from ._report import Summary, count, goal_row, ms, ratio, table, us
from ._runner import Bench, progress

REJECTIONS_GOAL: Final = 100_000.0
"""Open-circuit rejections per second through a handle, on one core."""

CHAIN_GOAL: Final = 0.90
"""Calls/s with the chain over calls/s without it (≤ 10 % overhead)."""

REJECTIONS_WARMUP: Final = 0.1
"""At most this warm-up before a rejection window: with the circuits open and the first
rejection checked, there is no connection or cache left to warm, only the loop."""

DIRECT: Final = "h2"
ACTOR: Final = "actor"
NONE: Final = "none"
CHAIN: Final = "chain"

_PATH_LABELS: Final = {
    "handle": "`handle.stub(ECHO).Echo(req)`, through the actor",
    "client": "`client.stub(ECHO).Echo(req)`, a plain `open_client` Client",
    "admit": "`breaker.admit()` alone (raises CircuitOpenError)",
    "raise": "`raise CircuitOpenError(...)` alone, no breaker",
}

_SIDE_LABELS: Final = {DIRECT: "direct (`open_client`)", ACTOR: "actor (`host.connect`)"}


def run(bench: Bench) -> str:
    """Measure rejections, then the chain's overhead; return the Markdown section."""
    rejections = _measure_rejections(bench)
    overhead = _measure_chain(bench)
    return "\n\n".join(
        [
            "## Resilience: circuit breaker and retry",
            _rejections_section(bench, rejections),
            _chain_section(bench, overhead),
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


# --- the chain's cost on healthy calls ----------------------------------------

_Key = tuple[str, str, int]
"""(side, interceptors, concurrency)."""


def _measure_chain(bench: Bench) -> dict[_Key, list[LoadResult]]:
    settings = bench.settings
    server = bench.server("trioplugin")
    forward = [(DIRECT, NONE), (DIRECT, CHAIN), (ACTOR, NONE), (ACTOR, CHAIN)]
    results: dict[_Key, list[LoadResult]] = {}
    for number in range(1, settings.runs + 1):
        order = forward if number % 2 else forward[::-1]
        for concurrency in settings.concurrencies:
            measured = bench.measure_interleaved(server, concurrency, order)
            for (side, chain), result in zip(order, measured, strict=True):
                results.setdefault((side, chain, concurrency), []).append(result)
                progress(
                    f"resilience chain run {number}/{settings.runs} c={concurrency} {side} "
                    f"{chain}: {count(result.rate)} calls/s, p99 {ms(result.p99_ms)} ms"
                    + (f", {result.errors} errors ({result.first_error})" if result.errors else "")
                )
    return results


def _ratios(over: Sequence[LoadResult], under: Sequence[LoadResult]) -> list[float]:
    return [o.rate / u.rate for o, u in zip(over, under, strict=True) if u.rate]


def _chain_section(bench: Bench, results: dict[_Key, list[LoadResult]]) -> str:
    rows = []
    whole: list[str] = []
    for concurrency in bench.settings.concurrencies:
        for side in (DIRECT, ACTOR):
            plain_runs = results[(side, NONE, concurrency)]
            chain_runs = results[(side, CHAIN, concurrency)]
            plain, chained = Summary(plain_runs), Summary(chain_runs)
            ratios = _ratios(chain_runs, plain_runs)
            median = statistics.median(ratios) if ratios else 0.0
            rows.append(
                [
                    _SIDE_LABELS[side],
                    str(concurrency),
                    count(plain.rate),
                    count(chained.rate),
                    ratio(median) if ratios else "—",
                    f"{ratio(min(ratios))} - {ratio(max(ratios))}" if len(ratios) > 1 else "—",
                    f"{ms(plain.p50)} / {ms(chained.p50)}",
                    f"{(chained.p50 - plain.p50) * 1000:+,.0f}",
                    f"{us(plain.client_us)} / {us(chained.client_us)}",
                    f"{us(plain.server_us)} / {us(chained.server_us)}",
                    _meets(median >= CHAIN_GOAL) if ratios else "—",
                    str(plain.errors + chained.errors),
                ]
            )
        stack = _ratios(results[(ACTOR, CHAIN, concurrency)], results[(DIRECT, NONE, concurrency)])
        if stack:
            whole.append(f"c={concurrency} {ratio(statistics.median(stack))}")
        name = "actor + breaker + retry / direct without interceptors"
        bench.goals.append(goal_row(name, concurrency, CHAIN_GOAL, stack))
    headers = [
        "calls made",
        "c",
        "calls/s no interceptors",
        "calls/s breaker + retry",
        "chain/none",
        "chain/none runs (min - max)",
        "p50 ms none / chain",
        "p50 added µs",
        "client CPU µs/call none / chain",
        "server CPU µs/call none / chain",
        f"goal ≥ {CHAIN_GOAL:.2f}x",
        "errors",
    ]
    right = [False, *([True] * 9), False, True]
    return "\n".join(
        [
            "### Cost of the chain on healthy calls: `[CircuitBreakerInterceptor(), "
            "RetryInterceptor()]` against no interceptors, h2c",
            "",
            table(headers, rows, right),
            "",
            "The four callers of a run are measured in one load process, in turns of a "
            "quarter second, so that a change in the machine's speed reaches all of them "
            "alike. chain/none: median over the runs of each run's calls/s with the chain "
            "over the calls/s without it (1.00x = the chain costs nothing); the "
            "goal is ≥ 0.90x (≤ 10 % overhead); a miss does not fail the run. Default "
            "breaker config and retry policy; no call fails, so nothing is retried. "
            "Actor with the chain over direct without interceptors (actor and chain "
            "together, against the bare transport call): " + (", ".join(whole) or "—") + ".",
        ]
    )
