"""Run the benchmarks and print Markdown tables: ``python -m benchmarks [--quick] [--only ...]``.

From the repository root. See ``benchmarks/README.md`` for what each number
means and how it is measured. Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Final

from . import _actor, _discovery, _idle, _observability, _resilience, _rpc, _stream
from ._procs import ChildFailed, Children
from ._report import header, load_average, table
from ._runner import Bench, Settings, progress

BENCHMARKS: Final[dict[str, Callable[[Bench], str]]] = {
    "rpc": _rpc.run,
    "stream": _stream.run,
    "actor": _actor.run,
    "idle": _idle.run,
    "resilience": _resilience.run,
    "observability": _observability.run,
    "discovery": _discovery.run,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "trioplugin benchmarks: RPC against connectrpc and grpcio, streaming, actor "
            "overhead, idle actors, resilience (open-circuit rejections, the chain's cost), "
            "observability (the cost of logging, metrics and tracing), discovery (a service "
            "handle over 4 replicas; a replica killed under load)."
        ),
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        help="run only this benchmark (repeat for several); default: all",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run of a few seconds: short, one run each"
    )
    parser.add_argument(
        "--duration", type=float, help="seconds measured per run (default 3; 0.3 with --quick)"
    )
    parser.add_argument(
        "--warmup", type=float, help="unmeasured seconds before each run (default 1; 0.15 quick)"
    )
    parser.add_argument("--runs", type=int, help="runs per configuration (default 3; 1 quick)")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 64],
        help="comma-separated calls in flight (default 1,64)",
    )
    parser.add_argument(
        "--actors", type=int, help="idle actors to connect (default 10000; 1000 with --quick)"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin server and load generator to CPUs"
    )
    return parser


def _cpus(no_pin: bool) -> tuple[int | None, int | None, str]:
    """The server's CPU, the load generator's, and a sentence saying so."""
    if no_pin or not hasattr(os, "sched_getaffinity"):
        return None, None, "none (--no-pin, or not supported here)"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None, f"none: only CPU {cpus[0]} is available, so everything shares it"
    server, load = cpus[0], cpus[1]
    return (
        server,
        load,
        f"servers on CPU {server}, load generators (and this parent) on CPU {load}, "
        "with os.sched_setaffinity",
    )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # stops every child on the way out, as Ctrl-C does


def _goals(rows: list[list[str]], runs: int) -> str:
    spread = (
        f"the spread is the min - max of the {runs} runs' ratios"
        if runs > 1
        else "one run, so no spread (one run of a noisy machine: do not judge by it)"
    )
    return "\n".join(
        [
            "## Goals",
            "",
            table(
                ["ratio", "c", "goal", "median", "runs (min - max)", "verdict", "issue"],
                rows,
                [False, True, False, True, True, False, True],
            ),
            "",
            f"Judged by the median of the run-by-run ratios; {spread}. A miss never fails the "
            "run. Issue: the one that set the goal.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks; the exit status is 0 if all of them ran."""
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if any(value < 1 for value in args.concurrency):
        raise SystemExit("--concurrency takes positive numbers")
    server_cpu, load_cpu, pinning = _cpus(args.no_pin)
    if load_cpu is not None:
        os.sched_setaffinity(0, {load_cpu})
    settings = Settings(
        duration=args.duration or (0.3 if args.quick else 3.0),
        warmup=args.warmup if args.warmup is not None else (0.15 if args.quick else 1.0),
        runs=args.runs or (1 if args.quick else 3),
        concurrencies=args.concurrency,
        actors=args.actors or (1000 if args.quick else 10_000),
        server_cpu=server_cpu,
        load_cpu=load_cpu,
        quick=args.quick,
    )
    chosen = args.only or list(BENCHMARKS)
    runs = f"{settings.runs} run{'' if settings.runs == 1 else 's'}"
    options = (
        f"{runs} of {settings.duration:g} s measured after {settings.warmup:g} s of warm-up "
        f"per configuration, concurrency {', '.join(map(str, settings.concurrencies))}; "
        f"idle: {settings.actors:,} actors"
    )
    started, load_at_start = time.monotonic(), load_average()
    sections: list[str] = []
    try:
        with Children() as children:
            bench = Bench(settings, children, {})
            for name in chosen:
                sections.append(BENCHMARKS[name](bench))
            if bench.goals:
                sections.append(_goals(bench.goals, settings.runs))
    except ChildFailed as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every child process is stopped", file=sys.stderr)
        return 130
    seconds = time.monotonic() - started
    progress(f"done in {seconds:.0f} s")
    print("\n\n".join([header(pinning, options, load_at_start, seconds), *sections]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
