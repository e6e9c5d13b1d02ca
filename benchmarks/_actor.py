"""Actor overhead: a call through an endpoint actor against the same call made directly.

*direct*: ``open_client(url)`` (HTTP/2, our transport) and ``stub.Echo(request)``.
*actor*: ``open_plugin_nursery().connect("echo", url)`` and
``handle.stub(ECHO).Echo(request)``: the same transport and client, behind
the actor's inbox, admission and per-call task. Both against the same
server process, from one load-generator process per run and concurrency in
which they take turns of a quarter second (``benchmarks._load
--interleave``), so that a change in the machine's speed hits both alike.
Runs alternate the order (ABBA); the ratio is taken run by run, then its
median.
"""

from __future__ import annotations

import statistics

from ._common import LoadResult
from ._report import Summary, count, ms, ratio, table, us
from ._runner import Bench, progress

DIRECT = "h2"
ACTOR = "actor"


def run(bench: Bench) -> str:
    """Measure direct and actor calls at every concurrency; return the Markdown section."""
    settings = bench.settings
    server = bench.server("trioplugin")
    results: dict[tuple[str, int], list[LoadResult]] = {}
    for number in range(1, settings.runs + 1):
        order = (DIRECT, ACTOR) if number % 2 else (ACTOR, DIRECT)
        for concurrency in settings.concurrencies:
            measured = bench.measure_interleaved(
                server, concurrency, [(kind, "none") for kind in order]
            )
            for kind, result in zip(order, measured, strict=True):
                results.setdefault((kind, concurrency), []).append(result)
                progress(
                    f"actor run {number}/{settings.runs} c={concurrency} {kind}: "
                    f"{count(result.rate)} calls/s, p99 {ms(result.p99_ms)} ms"
                    + (f", {result.errors} errors ({result.first_error})" if result.errors else "")
                )
    return _section(bench, results)


def _section(bench: Bench, results: dict[tuple[str, int], list[LoadResult]]) -> str:
    rows = []
    for concurrency in bench.settings.concurrencies:
        direct_runs, actor_runs = results[(DIRECT, concurrency)], results[(ACTOR, concurrency)]
        direct, actor = Summary(direct_runs), Summary(actor_runs)
        ratios = [a.rate / d.rate for a, d in zip(actor_runs, direct_runs, strict=True) if d.rate]
        rows.append(
            [
                str(concurrency),
                count(direct.rate),
                count(actor.rate),
                ratio(statistics.median(ratios)) if ratios else "—",
                f"{ms(direct.p50)} / {ms(actor.p50)}",
                f"{ms(direct.p99)} / {ms(actor.p99)}",
                f"{(actor.p50 - direct.p50) * 1000:+,.0f}",
                f"{us(direct.client_us)} / {us(actor.client_us)}",
                f"{us(direct.server_us)} / {us(actor.server_us)}",
                str(direct.errors + actor.errors),
            ]
        )
    headers = [
        "c",
        "direct calls/s",
        "actor calls/s",
        "actor/direct",
        "p50 ms direct / actor",
        "p99 ms direct / actor",
        "p50 added µs",
        "client CPU µs/call direct / actor",
        "server CPU µs/call direct / actor",
        "errors",
    ]
    right = [True] * len(headers)
    return "\n".join(
        [
            "## Actor overhead: `handle.stub(...).Echo` against `client.stub(...).Echo`, h2c",
            "",
            table(headers, rows, right),
            "",
            "actor/direct: median over the runs of each run's actor calls/s over the direct "
            "calls/s measured beside it (1.00x = no cost). p50 added: actor p50 minus direct "
            "p50. CPU µs/call: CPU time of the caller's process and of the server process in "
            "the measured window over the calls completed in it.",
        ]
    )
