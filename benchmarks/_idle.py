"""Idle endpoint actors: ``python -m benchmarks._idle --actors N [--tracemalloc] [--cpu C]``.

In one fresh process: serve EchoService on loopback (so the URL is real), then
connect N endpoint actors to it in one plugin nursery and measure the time
that took, the growth of the resident set, file descriptors and trio tasks,
and whether the server accepted any connection (it must not: connections
are made by the first call). Then one call through one actor proves the URL
works, and leaving the nursery closes all N; that is timed too. Prints one
JSON line. With ``--tracemalloc``, Python's allocations during the connects
are traced too (slower: the times of that run mean nothing).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass

import trio

from trioplugin import open_plugin_nursery
from trioplugin.rpc import open_connect_server

from ._common import ECHO_TEXT, open_fds, pin, rss_bytes
from ._report import table
from ._runner import Bench, progress
from ._service import ECHO, REQUEST, Echo

TIME_LIMIT = 600.0
"""The whole measurement gives up after this long."""


@dataclass(frozen=True, slots=True)
class IdleResult:
    """What one idle-actor run measured."""

    actors: int
    connect_s: float
    """Time to connect all the actors (each ``await host.connect(...)`` in turn)."""
    connect_gc_s: float
    """Of which the cyclic garbage collector ran (as ``gc.callbacks`` saw it)."""
    rss_delta: int
    """Growth of the resident set from before the first connect to after the last."""
    traced_current: int | None
    """Bytes allocated by Python and still held after the connects (tracemalloc)."""
    traced_peak: int | None
    fds_delta: int
    tasks_delta: int
    accepted_while_idle: int
    """Connections the server accepted while the actors were idle: 0 if they are lazy."""
    accepted_after_call: int
    first_call_ms: float
    """One call through one of the actors: connects, then calls."""
    close_s: float
    """Time to leave the plugin nursery: every actor closed and its task ended."""
    fds_after_close: int
    tasks_after_close: int

    def dump(self) -> None:
        sys.stdout.write(json.dumps(asdict(self)) + "\n")
        sys.stdout.flush()

    @classmethod
    def parse(cls, line: str) -> IdleResult:
        return cls(**json.loads(line))


class _GCTimer:
    """Adds up the time the cyclic garbage collector runs while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def _count_tasks() -> int:
    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            walk(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return walk(root)


async def measure(actors: int, trace: bool) -> IdleResult:
    """Connect ``actors`` idle actors and take the measurements (see the module docstring)."""
    async with open_connect_server({ECHO: Echo()}) as server:
        await trio.sleep(0.05)
        gc.collect()
        fds, tasks, rss = open_fds(), _count_tasks(), rss_bytes()
        if trace:
            tracemalloc.start()
        traced: tuple[int, int] | None = None
        gc_timer = _GCTimer()
        gc.callbacks.append(gc_timer)
        started = time.perf_counter()
        async with open_plugin_nursery([ECHO]) as host:
            for index in range(actors):
                await host.connect(f"plugin-{index}", server.url)
            connect_s = time.perf_counter() - started
            gc.callbacks.remove(gc_timer)
            if trace:
                traced = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            await trio.sleep(0.2)  # time for anything lazy to happen (nothing should)
            gc.collect()
            rss_delta = rss_bytes() - rss
            fds_delta, tasks_delta = open_fds() - fds, _count_tasks() - tasks
            accepted_idle = server.statistics().connections_accepted
            called = time.perf_counter()
            reply = await host["plugin-0"].stub(ECHO).Echo(REQUEST)
            first_call_ms = (time.perf_counter() - called) * 1000
            if reply.text != ECHO_TEXT:
                raise RuntimeError(f"the server answered {reply!r}, not an echo")
            accepted_call = server.statistics().connections_accepted
            closing = time.perf_counter()
        close_s = time.perf_counter() - closing
        await trio.sleep(0.05)
        return IdleResult(
            actors=actors,
            connect_s=connect_s,
            connect_gc_s=gc_timer.seconds,
            rss_delta=rss_delta,
            traced_current=None if traced is None else traced[0],
            traced_peak=None if traced is None else traced[1],
            fds_delta=fds_delta,
            tasks_delta=tasks_delta,
            accepted_while_idle=accepted_idle,
            accepted_after_call=accepted_call,
            first_call_ms=first_call_ms,
            close_s=close_s,
            fds_after_close=open_fds() - fds,
            tasks_after_close=_count_tasks() - tasks,
        )


async def _main(args: argparse.Namespace) -> None:
    with trio.fail_after(TIME_LIMIT):
        result = await measure(args.actors, args.tracemalloc)
    result.dump()


# --- in the parent -------------------------------------------------------------


def run(bench: Bench) -> str:
    """Run the measurement in a fresh process, then again with tracemalloc; the section."""
    settings = bench.settings
    cpu = [] if settings.load_cpu is None else ["--cpu", str(settings.load_cpu)]
    actors = ["--actors", str(settings.actors)]
    plain = IdleResult.parse(bench.children.run("_idle", [*actors, *cpu], TIME_LIMIT + 30))
    progress(
        f"idle: {plain.actors:,} actors connected in {plain.connect_s:.2f} s, "
        f"RSS +{plain.rss_delta / 2**20:.1f} MiB, closed in {plain.close_s:.2f} s"
    )
    traced = IdleResult.parse(
        bench.children.run("_idle", [*actors, "--tracemalloc", *cpu], TIME_LIMIT + 30)
    )
    progress(f"idle, traced: {(traced.traced_current or 0) / 2**20:.1f} MiB held")
    return _section(plain, traced)


def _section(plain: IdleResult, traced: IdleResult) -> str:
    n = plain.actors

    def per(value: float, unit: float, suffix: str = "", digits: int = 0) -> str:
        return f"{value / n / unit:,.{digits}f}" + (f" {suffix}" if suffix else "")

    held = traced.traced_current or 0
    peak = traced.traced_peak or 0
    rows = [
        [
            "connect them all (start-up)",
            f"{plain.connect_s:.2f} s",
            per(plain.connect_s, 1e-6, "µs"),
        ],
        [
            "... of which in the garbage collector",
            f"{plain.connect_gc_s:.2f} s",
            per(plain.connect_gc_s, 1e-6, "µs"),
        ],
        [
            "resident set growth",
            f"{plain.rss_delta / 2**20:.1f} MiB",
            per(plain.rss_delta, 1, "bytes"),
        ],
        [
            "Python allocations held (tracemalloc)",
            f"{held / 2**20:.1f} MiB",
            per(held, 1, "bytes"),
        ],
        [
            "Python allocations, peak (tracemalloc)",
            f"{peak / 2**20:.1f} MiB",
            per(peak, 1, "bytes"),
        ],
        ["trio tasks", f"+{plain.tasks_delta:,}", per(plain.tasks_delta, 1, digits=1)],
        ["file descriptors", f"+{plain.fds_delta:,}", per(plain.fds_delta, 1, digits=1)],
        ["connections the server accepted while idle", str(plain.accepted_while_idle), ""],
        [
            "first call through one idle actor (connects, then calls)",
            f"{plain.first_call_ms:.1f} ms",
            f"server then accepted {plain.accepted_after_call}",
        ],
        [
            "close them all (leave the plugin nursery)",
            f"{plain.close_s:.2f} s",
            per(plain.close_s, 1e-6, "µs"),
        ],
        [
            "left after closing: file descriptors, trio tasks",
            f"{plain.fds_after_close:+d}, {plain.tasks_after_close:+d}",
            "",
        ],
    ]
    return "\n".join(
        [
            f"## Idle endpoint actors: {n:,} in one process, connected to one URL",
            "",
            table(["", "total", "per actor"], rows, [False, True, True]),
            "",
            "One fresh process serves EchoService on loopback and connects the actors to it "
            "one after another in one plugin nursery. Connections are lazy: no socket is "
            "opened until a call. Memory is measured after `gc.collect()`; the tracemalloc "
            "figures come from a second run (tracing slows it: its times are not shown).",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._idle")
    parser.add_argument("--actors", type=int, default=10_000)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    args = parser.parse_args(argv)
    pin(args.cpu)
    trio.run(_main, args)


if __name__ == "__main__":
    main()
