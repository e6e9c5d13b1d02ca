"""Streaming: a server stream of small messages, and bidi ping-pong over one stream.

Two stacks, each client -> server of the same stack, over h2c on loopback:

- trioplugin's client (our HTTP/2 transport) -> the trioplugin server;
- connectrpc's client (pyqwest, h2c) -> connectrpc's ASGI app on pyvoy (Envoy).

*Server stream*: one caller opens ``ServerStream(count=N)`` (N EchoResponse
of the 30-byte text, N = 1,000), reads it to its end, and opens the next one
at once. Reported: messages received per second inside the window, and the
time of one whole stream (request sent to the last message read).

*Bidi ping-pong*: one caller opens one ``Bidi`` stream for the whole run and
sends a message, waits for its echo, sends the next (full duplex: the
request stays open while answers come back). Reported: round trips per
second and the latency of one round trip.

Both at one stream at a time (c=1). Runs are interleaved as in the RPC
benchmark; each is a fresh load-generator process.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Final

from ._common import LoadResult
from ._report import Summary, count, goal_row, ms, ratio, table, us
from ._rpc import Stack, available
from ._runner import PEER_H2, Bench, progress

STACKS: Final = (
    Stack("h2", "trioplugin", "trioplugin → trioplugin", "Connect, h2c (own HTTP/2 client)"),
    Stack(PEER_H2, "pyvoy", "connectrpc → connectrpc", "Connect, h2c (pyqwest → pyvoy/Envoy)"),
)
RPCS: Final = ("server-stream", "bidi")
STREAM_GOAL: Final = 1.5
"""Issue 12: our streams at least 1.5x connectrpc on pyvoy, both kinds."""
OURS: Final = "h2"
"""The stack the goals are for: trioplugin on its own HTTP/2."""


def run(bench: Bench) -> str:
    """Measure both kinds of stream on every stack; return the Markdown section."""
    settings = bench.settings
    stacks, notes = available(STACKS)
    for note in notes:
        progress(note)
    results: dict[tuple[str, str], list[LoadResult]] = {}
    for number in range(1, settings.runs + 1):
        for rpc in RPCS:
            for stack in stacks:
                server = bench.server(stack.server)
                result = bench.measure(stack.kind, server, 1, rpc=rpc)
                results.setdefault((stack.kind, rpc), []).append(result)
                what = (
                    f"{count(result.messages / result.seconds)} messages/s"
                    if rpc == "server-stream"
                    else f"{count(result.rate)} round trips/s"
                )
                progress(
                    f"stream run {number}/{settings.runs} {rpc} {stack.label} [{stack.kind}]: "
                    f"{what}, p50 {ms(result.p50_ms)} ms"
                    + (f", {result.errors} errors ({result.first_error})" if result.errors else "")
                )
    return _section(bench, stacks, notes, results)


def _per_message(runs: Sequence[LoadResult], server: bool) -> float | None:
    values = []
    for r in runs:
        cpu = r.server_cpu_s if server else r.client_cpu_s
        if cpu is not None and r.messages:
            values.append(cpu / r.messages * 1e6)
    return statistics.median(values) if values else None


def _section(
    bench: Bench,
    stacks: Sequence[Stack],
    notes: Sequence[str],
    results: dict[tuple[str, str], list[LoadResult]],
) -> str:
    kinds = {stack.kind for stack in stacks}
    base = PEER_H2 if PEER_H2 in kinds else None
    stream_rows, bidi_rows = [], []
    for stack in stacks:
        runs = results[(stack.kind, "server-stream")]
        rates = [r.messages / r.seconds for r in runs]
        vs = "—"
        if base is not None:
            base_rates = [r.messages / r.seconds for r in results[(base, "server-stream")]]
            per_run = [a / b for a, b in zip(rates, base_rates, strict=True) if b]
            vs = ratio(statistics.median(per_run)) if per_run else "—"
            if stack.kind == OURS:
                name = "trioplugin server stream, 1,000 messages / connectrpc on pyvoy"
                bench.goals.append(goal_row(name, 1, STREAM_GOAL, per_run))
        summary = Summary(runs)
        stream_rows.append(
            [
                stack.label,
                stack.protocol,
                count(statistics.median(rates)),
                f"{count(min(rates))} - {count(max(rates))}" if len(rates) > 1 else "—",
                ms(summary.p50),
                ms(summary.p99),
                vs,
                us(_per_message(runs, server=False)),
                us(_per_message(runs, server=True)),
                str(summary.errors),
            ]
        )
        runs = results[(stack.kind, "bidi")]
        summary = Summary(runs)
        vs = "—"
        if base is not None:
            base_runs = results[(base, "bidi")]
            per_run = [a.rate / b.rate for a, b in zip(runs, base_runs, strict=True) if b.rate]
            vs = ratio(statistics.median(per_run)) if per_run else "—"
            if stack.kind == OURS:
                name = "trioplugin bidi ping-pong / connectrpc on pyvoy"
                bench.goals.append(goal_row(name, 1, STREAM_GOAL, per_run))
        bidi_rows.append(
            [
                stack.label,
                stack.protocol,
                count(summary.rate),
                summary.spread,
                ms(summary.p50),
                ms(summary.p99),
                vs,
                us(summary.client_us),
                us(summary.server_us),
                str(summary.errors),
            ]
        )
    vs_header = "vs connectrpc on pyvoy"
    right = [False, False, *([True] * 8)]
    lines = [
        "## Streaming, h2c, one stream at a time",
        "",
        f"Server stream of {bench.settings.stream_count:,} messages "
        "(`ServerStream`, a 32-byte `EchoResponse` each), read to its end, then the next:",
        "",
        table(
            [
                "client → server",
                "protocol",
                "messages/s",
                "runs (min - max)",
                "stream p50 ms",
                "stream p99 ms",
                vs_header,
                "client CPU µs/message",
                "server CPU µs/message",
                "errors",
            ],
            stream_rows,
            right,
        ),
        "",
        "Bidi ping-pong over one stream (`Bidi`: send one message, wait for its echo, again):",
        "",
        table(
            [
                "client → server",
                "protocol",
                "round trips/s",
                "runs (min - max)",
                "p50 ms",
                "p99 ms",
                vs_header,
                "client CPU µs/round trip",
                "server CPU µs/round trip",
                "errors",
            ],
            bidi_rows,
            right,
        ),
        "",
        "messages/s: messages received inside the measured window over its length; stream "
        "p50/p99: time of one whole stream; vs: run-by-run ratio, median. Medians over the runs.",
    ]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
