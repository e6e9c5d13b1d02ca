"""RPC: unary echo calls per second and latency, our client and server beside the peers'.

Each row is a client -> server of the same stack, on loopback:

- trioplugin over HTTP/1.1 (its own HTTP/1.1 transport) -> the trioplugin server;
- trioplugin over h2c (our own HTTP/2 transport, one connection) -> the same server;
- trioplugin through an endpoint actor (the same h2c transport) -> the same server;
- connectrpc's client (pyqwest, HTTP/1.1) -> connectrpc's ASGI app on uvicorn;
- connectrpc's client (pyqwest, h2c) -> connectrpc's ASGI app on pyvoy (Envoy);
- grpcio sync: C threads of blocking calls -> ``grpc.server`` with a thread pool;
- grpcio asyncio: C tasks -> ``grpc.aio.server``.

A peer whose package is missing is skipped, with a note saying how to install
it. Runs are interleaved (run 1 of every stack and concurrency, then run 2,
...) so that drift on a shared machine hits them all alike; each is a fresh
load-generator process, except that our three stacks of one run and
concurrency share one, taking turns of a quarter second
(``benchmarks._load --interleave``): their ratios to each other then hold
whatever the machine's speed did meanwhile. After the table, the ratios issue 12 names, each
taken run by run (run N of one row over run N of the other), with their
median and spread; the goals among them go to the report's last table.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ._common import LoadResult
from ._report import Summary, count, goal_row, ms, ratio, ratio_spread, table, us
from ._runner import GRPC_AIO, GRPC_SYNC, PEER, PEER_H2, Bench, missing, progress


@dataclass(frozen=True, slots=True)
class Stack:
    kind: str
    """The load generator's kind (see :meth:`Bench.measure`)."""
    server: str
    label: str
    protocol: str


STACKS: Final = (
    Stack("h1", "trioplugin", "trioplugin → trioplugin", "Connect, HTTP/1.1 (own client)"),
    Stack("h2", "trioplugin", "trioplugin → trioplugin", "Connect, h2c (own HTTP/2 client)"),
    Stack("actor", "trioplugin", "trioplugin → trioplugin", "Connect, h2c, via the actor"),
    Stack(PEER, "connectrpc", "connectrpc → connectrpc", "Connect, HTTP/1.1 (pyqwest → uvicorn)"),
    Stack(PEER_H2, "pyvoy", "connectrpc → connectrpc", "Connect, h2c (pyqwest → pyvoy/Envoy)"),
    Stack(GRPC_SYNC, GRPC_SYNC, "grpcio sync → grpcio sync", "gRPC, h2c (threads → thread pool)"),
    Stack(GRPC_AIO, GRPC_AIO, "grpcio aio → grpcio aio", "gRPC, h2c (asyncio → grpc.aio)"),
)

LABELS: Final = {
    "h1": "trioplugin HTTP/1.1",
    "h2": "trioplugin h2c direct",
    "actor": "trioplugin h2c through the actor",
    PEER: "connectrpc on uvicorn",
    PEER_H2: "connectrpc on pyvoy",
    GRPC_SYNC: "grpcio sync",
    GRPC_AIO: "grpcio asyncio",
}


@dataclass(frozen=True, slots=True)
class Ratio:
    """One ratio between two rows at one concurrency, and its goal if it has one."""

    top: str
    bottom: str | None
    """None: the ratio is the ``top`` row's own p99 over its p50."""
    concurrency: int
    goal: float | None = None
    at_most: bool = False
    """The goal is an upper bound (p99/p50), not a lower one."""

    @property
    def name(self) -> str:
        if self.bottom is None:
            return f"{LABELS[self.top]}: p99 / p50"
        return f"{LABELS[self.top]} / {LABELS[self.bottom]}"

    def per_run(self, results: dict[tuple[str, int], list[LoadResult]]) -> list[float]:
        tops = results.get((self.top, self.concurrency), [])
        if self.bottom is None:
            return [r.p99_ms / r.p50_ms for r in tops if r.p50_ms]
        bottoms = results.get((self.bottom, self.concurrency), [])
        return [t.rate / b.rate for t, b in zip(tops, bottoms, strict=False) if b.rate]


RATIOS: Final = (
    # The goals of issue 12 (item 5).
    Ratio("h2", PEER_H2, 64, 1.5),
    Ratio("actor", PEER_H2, 64, 1.5),
    Ratio("h2", GRPC_SYNC, 64, 1.5),
    Ratio("actor", GRPC_SYNC, 64, 1.5),
    Ratio("h2", GRPC_SYNC, 1, 1.0),
    Ratio("h1", "h2", 64, 0.8),
    Ratio("h1", None, 64, 3.0, at_most=True),
    Ratio("actor", "h2", 1, 0.9),
    Ratio("actor", "h2", 64, 0.9),
    # Beside them, without a goal.
    Ratio("h2", PEER_H2, 1),
    Ratio("actor", PEER_H2, 1),
    Ratio("actor", GRPC_SYNC, 1),
    Ratio("h2", GRPC_AIO, 64),
    Ratio("h2", PEER, 64),
    Ratio("h2", None, 64),
    Ratio("h1", "h2", 1),
)


def available(stacks: Sequence[Stack]) -> tuple[list[Stack], list[str]]:
    """The stacks that can run here, and a one-line note per missing peer."""
    runnable, notes = [], []
    for stack in stacks:
        why = missing(stack.server)
        if why is None:
            runnable.append(stack)
        else:
            note = f"Skipped {stack.label} ({stack.protocol}): {why}."
            if note not in notes:
                notes.append(note)
    return runnable, notes


def run(bench: Bench) -> str:
    """Measure every stack at every concurrency; return the Markdown section."""
    settings = bench.settings
    stacks, notes = available(STACKS)
    for note in notes:
        progress(note)
    ours = [stack for stack in stacks if stack.server == "trioplugin"]
    peers = [stack for stack in stacks if stack.server != "trioplugin"]
    results: dict[tuple[str, int], list[LoadResult]] = {}
    for number in range(1, settings.runs + 1):
        for concurrency in settings.concurrencies:
            # Our stacks take turns in one process (see Bench.measure_interleaved), so
            # the ratios among them do not depend on the machine's speed of the moment.
            order = ours if number % 2 else ours[::-1]
            measured = bench.measure_interleaved(
                bench.server("trioplugin"), concurrency, [(stack.kind, "none") for stack in order]
            )
            done = list(zip(order, measured, strict=True))
            for stack in peers:
                done.append(
                    (stack, bench.measure(stack.kind, bench.server(stack.server), concurrency))
                )
            for stack, result in done:
                results.setdefault((stack.kind, concurrency), []).append(result)
                progress(
                    f"rpc run {number}/{settings.runs} c={concurrency} {stack.label} "
                    f"[{stack.kind}]: {count(result.rate)} calls/s, p99 {ms(result.p99_ms)} ms"
                    + (f", {result.errors} errors ({result.first_error})" if result.errors else "")
                )
    bench.goals.extend(goal_rows(results))
    return _section(bench, stacks, notes, results)


def goal_rows(results: dict[tuple[str, int], list[LoadResult]]) -> list[list[str]]:
    """The goals table's rows: ratio, c, goal, median, spread, met or not."""
    return [
        goal_row(
            item.name,
            item.concurrency,
            item.goal,
            item.per_run(results),
            at_most=item.at_most,
        )
        for item in RATIOS
        if item.goal is not None
    ]


def _section(
    bench: Bench,
    stacks: Sequence[Stack],
    notes: Sequence[str],
    results: dict[tuple[str, int], list[LoadResult]],
) -> str:
    kinds = {stack.kind for stack in stacks}
    baseline = PEER_H2 if PEER_H2 in kinds else PEER
    rows = []
    for concurrency in bench.settings.concurrencies:
        base = results.get((baseline, concurrency))
        base_rate = Summary(base).rate if base else 0.0
        for stack in stacks:
            summary = Summary(results[(stack.kind, concurrency)])
            rows.append(
                [
                    stack.label,
                    stack.protocol,
                    str(concurrency),
                    count(summary.rate),
                    summary.spread,
                    ms(summary.p50),
                    ms(summary.p99),
                    ratio(summary.rate / base_rate) if base_rate else "—",
                    us(summary.client_us),
                    us(summary.server_us),
                    str(summary.errors),
                ]
            )
    headers = [
        "client → server",
        "protocol",
        "c",
        "calls/s",
        "runs (min - max)",
        "p50 ms",
        "p99 ms",
        f"vs {LABELS[baseline]}",
        "client CPU µs/call",
        "server CPU µs/call",
        "errors",
    ]
    right = [False, False, *([True] * 9)]
    ratio_rows = []
    for item in RATIOS:
        values = item.per_run(results)
        if not values:
            continue
        goal = "—"
        if item.goal is not None:
            goal = f"≤ {ratio(item.goal)}" if item.at_most else f"≥ {ratio(item.goal)}"
        ratio_rows.append(
            [
                item.name,
                str(item.concurrency),
                ratio(statistics.median(values)),
                ratio_spread(values),
                goal,
            ]
        )
    lines = [
        "## RPC: unary echo, client → server of the same stack",
        "",
        table(headers, rows, right),
        "",
        "calls/s, p50 and p99: medians over the runs; c: calls in flight at once "
        "(closed loop); vs: calls/s over that row's at the same c; "
        "CPU µs/call: CPU time (all threads) of each process in the measured window "
        "over the calls completed in it.",
    ]
    if ratio_rows:
        lines += [
            "",
            "### Ratios (issue 12)",
            "",
            table(
                ["ratio", "c", "median", "runs (min - max)", "goal"],
                ratio_rows,
                [False, True, True, True, False],
            ),
            "",
            "Each ratio is taken run by run (run N of one row over run N of the other: the "
            "same round of the interleaved runs), then its median; the spread is over the runs.",
        ]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
