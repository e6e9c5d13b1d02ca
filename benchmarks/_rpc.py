"""RPC: unary echo calls per second and latency, our client and server beside connectrpc's.

Three stacks, each client -> server of the same stack, on loopback:

- trioplugin over HTTP/1.1 (its own h11 transport) -> the trioplugin server;
- trioplugin over h2c (our own HTTP/2 transport, one connection) -> the same server;
- connectrpc's client (pyqwest, HTTP/1.1) -> connectrpc's ASGI app on uvicorn, the peer.

Runs are interleaved (run 1 of every stack and concurrency, then run 2, ...)
so that drift on a shared machine hits them all alike; each is a fresh
load-generator process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._common import LoadResult
from ._report import Summary, count, ms, ratio, table, us
from ._runner import PEER, Bench, progress


@dataclass(frozen=True, slots=True)
class Stack:
    kind: str
    """The load generator's mode (or :data:`PEER`)."""
    server: str
    label: str
    protocol: str


STACKS: Final = (
    Stack("h1", "trioplugin", "trioplugin → trioplugin", "Connect, HTTP/1.1 (own h11 client)"),
    Stack("h2", "trioplugin", "trioplugin → trioplugin", "Connect, h2c (own HTTP/2 client)"),
    Stack(PEER, PEER, "connectrpc → connectrpc", "Connect, HTTP/1.1 (pyqwest → uvicorn)"),
)


def run(bench: Bench) -> str:
    """Measure every stack at every concurrency; return the Markdown section."""
    settings = bench.settings
    results: dict[tuple[str, int], list[LoadResult]] = {}
    for number in range(1, settings.runs + 1):
        for concurrency in settings.concurrencies:
            for stack in STACKS:
                server = bench.server(stack.server)
                result = bench.measure(stack.kind, server, concurrency)
                results.setdefault((stack.kind, concurrency), []).append(result)
                progress(
                    f"rpc run {number}/{settings.runs} c={concurrency} {stack.label} "
                    f"[{stack.kind}]: {count(result.rate)} calls/s, p99 {ms(result.p99_ms)} ms"
                    + (f", {result.errors} errors ({result.first_error})" if result.errors else "")
                )
    return _section(bench, results)


def _section(bench: Bench, results: dict[tuple[str, int], list[LoadResult]]) -> str:
    rows = []
    for concurrency in bench.settings.concurrencies:
        peer = Summary(results[(PEER, concurrency)])
        for stack in STACKS:
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
                    ratio(summary.rate / peer.rate) if peer.rate else "—",
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
        "vs connectrpc",
        "client CPU µs/call",
        "server CPU µs/call",
        "errors",
    ]
    right = [False, False, *([True] * 9)]
    return "\n".join(
        [
            "## RPC: unary echo, client → server of the same stack",
            "",
            table(headers, rows, right),
            "",
            "calls/s, p50 and p99: medians over the runs; c: calls in flight at once "
            "(closed loop); vs connectrpc: calls/s over the peer's at the same c; "
            "CPU µs/call: CPU time (all threads) of each process in the measured window "
            "over the calls completed in it.",
        ]
    )
