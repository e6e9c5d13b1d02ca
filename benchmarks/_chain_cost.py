"""What a chain of interceptors costs a healthy call, directly and through the actor.

Unary echo calls to the benchmark server through the chain (a
``benchmarks._load --interceptors`` name) against the same calls with no
interceptors, directly (a ``Client``) and through the actor (a handle),
measured in one load process per run and concurrency, in turns of a quarter
second. Runs alternate the order of the variants (ABBA); the ratio is taken
run by run, then its median. The goal: the chain keeps ≥ 90 % of the
calls/s (≤ 10 % overhead).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ._common import LoadResult
from ._report import Summary, count, goal_row, ms, ratio, table, us
from ._runner import Bench, progress

GOAL: Final = 0.90
"""Calls/s with the chain over calls/s without it (≤ 10 % overhead)."""

DIRECT: Final = "h2"
ACTOR: Final = "actor"
NONE: Final = "none"

_SIDE_LABELS: Final = {DIRECT: "direct (`open_client`)", ACTOR: "actor (`host.connect`)"}

_Key = tuple[str, str, int]
"""(side, interceptors, concurrency)."""


@dataclass(frozen=True)
class ChainCost:
    """One chain to measure against none, and how the report names it."""

    chain: str
    """Its ``benchmarks._load --interceptors`` name."""
    label: str
    """Its short name in the table's headers."""
    title: str
    """What it is, in the section's heading (Markdown)."""
    goal_name: str
    """Its row in the goals table."""
    issue: int | None
    """The issue that set its goal; None: the goal is another table's, and its rows stay
    out of the goals table."""
    note: str
    """What the footnote says of it, before the ratios of actor + chain over direct."""
    goal_per_side: bool = False
    """Whether the goal is the chain's own cost, directly and through the actor (a goal
    row for each: chain over none on the same side); else actor + chain over direct
    without interceptors (one row: the actor's cost and the chain's together)."""

    def measure(self, bench: Bench) -> dict[_Key, list[LoadResult]]:
        """Every run of the four callers (direct or actor, with or without the chain)."""
        settings = bench.settings
        server = bench.server("trioplugin")
        forward = [(DIRECT, NONE), (DIRECT, self.chain), (ACTOR, NONE), (ACTOR, self.chain)]
        results: dict[_Key, list[LoadResult]] = {}
        for number in range(1, settings.runs + 1):
            order = forward if number % 2 else forward[::-1]
            for concurrency in settings.concurrencies:
                measured = bench.measure_interleaved(server, concurrency, order)
                for (side, chain), result in zip(order, measured, strict=True):
                    results.setdefault((side, chain, concurrency), []).append(result)
                    progress(
                        f"{self.chain} cost run {number}/{settings.runs} c={concurrency} {side} "
                        f"{chain}: {count(result.rate)} calls/s, p99 {ms(result.p99_ms)} ms"
                        + (
                            f", {result.errors} errors ({result.first_error})"
                            if result.errors
                            else ""
                        )
                    )
        return results

    def section(self, bench: Bench, results: dict[_Key, list[LoadResult]]) -> str:
        """The Markdown table of the results, with their goal rows added to ``bench.goals``."""
        rows = []
        whole: list[str] = []
        for concurrency in bench.settings.concurrencies:
            for side in (DIRECT, ACTOR):
                plain_runs = results[(side, NONE, concurrency)]
                chain_runs = results[(side, self.chain, concurrency)]
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
                        ("meets" if median >= GOAL else "misses") if ratios else "—",
                        str(plain.errors + chained.errors),
                    ]
                )
            stack = _ratios(
                results[(ACTOR, self.chain, concurrency)], results[(DIRECT, NONE, concurrency)]
            )
            if stack:
                whole.append(f"c={concurrency} {ratio(statistics.median(stack))}")
            if self.issue is None:
                continue
            if not self.goal_per_side:
                bench.goals.append(
                    goal_row(self.goal_name, concurrency, GOAL, stack, issue=self.issue)
                )
                continue
            for side in (DIRECT, ACTOR):
                own = _ratios(
                    results[(side, self.chain, concurrency)], results[(side, NONE, concurrency)]
                )
                name = f"{self.goal_name}, {_SIDE_LABELS[side].split(' ')[0]}"
                bench.goals.append(goal_row(name, concurrency, GOAL, own, issue=self.issue))
        headers = [
            "calls made",
            "c",
            "calls/s no interceptors",
            f"calls/s {self.label}",
            "chain/none",
            "chain/none runs (min - max)",
            "p50 ms none / chain",
            "p50 added µs",
            "client CPU µs/call none / chain",
            "server CPU µs/call none / chain",
            f"goal ≥ {GOAL:.2f}x",
            "errors",
        ]
        right = [False, *([True] * 9), False, True]
        return "\n".join(
            [
                f"### Cost of the chain on healthy calls: {self.title} against no "
                "interceptors, h2c",
                "",
                table(headers, rows, right),
                "",
                "The four callers of a run are measured in one load process, in turns of a "
                "quarter second, so that a change in the machine's speed reaches all of them "
                "alike. chain/none: median over the runs of each run's calls/s with the chain "
                "over the calls/s without it (1.00x = the chain costs nothing); the "
                "goal is ≥ 0.90x (≤ 10 % overhead); a miss does not fail the run. "
                f"{self.note}: " + (", ".join(whole) or "—") + ".",
            ]
        )


def _ratios(over: Sequence[LoadResult], under: Sequence[LoadResult]) -> list[float]:
    return [o.rate / u.rate for o, u in zip(over, under, strict=True) if u.rate]
