"""Discovery: one service handle over 4 replicas, and a replica killed under load.

The parent starts the replicas (``benchmarks._server`` processes, 4 and a
spare for every kill but the last) and runs this module as one child process,
``python -m benchmarks._discovery --replicas URL=PID,... [...]``, which
measures two things and prints them as one JSON line (:class:`DiscoveryResult`):

*Spreading*: unary echo through one service handle
(``host.connect_service(name, StaticSource(4 URLs))``, no interceptors,
the default retry policy), through a service handle over replica 1 alone
(the handle's own cost, nothing to spread) and through one endpoint handle
(``host.connect(name, URL of replica 1)``), in one plugin nursery. The
three callers take turns of a quarter second at each concurrency
(:func:`benchmarks._load.run_interleaved`), so that a change in the
machine's speed reaches them alike; runs alternate their order. The
service's ``statistics()`` before and after give the calls each replica
took.

*Ejection*: for each kill, a fresh service handle over 4 live replicas with
``[CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=5,
timeout=10.0))]`` (each endpoint its own breaker) and the default retry
policy, under a closed loop of ``c`` callers. After a steady stretch, one
replica's process is sent SIGKILL; then the times, from the signal, until
its breaker opened, until a subscriber of ``service.events()`` received
``EndpointEjected`` for it, and of the last call the balancer sent it (the
default :class:`PowerOfTwoChoices`, wrapped to note its picks), and the
calls that failed to the callers. The next kill's set is the 3 survivors
and a spare.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, TypeVar

import trio

from trioplugin import open_plugin_nursery
from trioplugin.discovery import (
    Candidate,
    EndpointEjected,
    PowerOfTwoChoices,
    ServiceHandle,
    ServiceOptions,
    StaticSource,
    open_service,
)
from trioplugin.resilience import (
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitState,
)

from ._common import CALL_TIMEOUT, LoadResult, pin
from ._load import run_interleaved
from ._procs import ChildFailed, ServerProcess
from ._report import Summary, count, ms, ratio, table, us
from ._runner import Bench, progress
from ._service import ECHO, REQUEST

REPLICAS: Final = 4
"""Replicas behind the service handle."""

SPREAD_DURATION: Final = 0.5
"""At most this many seconds measured per caller, concurrency and run (``--duration`` caps it
lower), and at most :data:`SPREAD_RUNS` runs: the section stays near 20 s."""
SPREAD_RUNS: Final = 2
SPREAD_WARMUP: Final = 0.5
SLICE: Final = 0.25
"""Seconds of one caller's turn."""

KILLS: Final = 3
"""Replicas killed at each concurrency (``--quick``: 1). Each kill but
the last needs a spare replica, whose start-up (~0.8 s of CPU, mostly imports) is paid for
up front."""
STEADY: Final = 0.3
"""Seconds of load through a fresh service handle before the kill (0.2 with ``--quick``)."""
EJECT_LIMIT: Final = 3.0
"""At most this long after the kill, waiting for ``EndpointEjected``."""
TAIL: Final = 0.2
"""Seconds the load goes on after the ejection (calls that still fail are counted)."""

BREAKER: Final = "CircuitBreakerConfig(failure_threshold=5, timeout=10.0)"
"""The ejection rounds' breaker, as the report spells it (the defaults, spelled out)."""

TIME_LIMIT: Final = 300.0
"""The child gives up after this long, whatever happens."""


# --- what the child prints -----------------------------------------------------


CALLERS: Final = ("endpoint", "service-1", "service-4")
"""The spreading part's callers: an endpoint handle to replica 1, a service handle over
replica 1 alone, a service handle over all 4."""


@dataclass(frozen=True, slots=True)
class SpreadRun:
    """One run at one concurrency: each caller's result, and the calls each replica took."""

    concurrency: int
    results: dict[str, LoadResult]
    """By caller (see :data:`CALLERS`)."""
    per_replica: list[int]
    """Calls the service handle over 4 sent each replica in this run, in the order given."""


@dataclass(frozen=True, slots=True)
class KillRound:
    """One replica killed under load, times in ms from the SIGKILL."""

    concurrency: int
    victim: str
    opened_ms: float | None
    """Its breaker went OPEN (None: not within the limit)."""
    ejected_ms: float | None
    """A subscriber received ``EndpointEjected`` for it (None: not within the limit)."""
    last_call_ms: float
    """The balancer's last pick of it (0 if it picked it no more after the kill)."""
    calls_after_kill: int
    """Calls (attempts) the balancer sent it after the kill."""
    failed: int
    """Calls that failed to the callers in the round (before the kill too: there should be
    none at all)."""
    calls_after: int
    """Calls that succeeded, from the kill to the end of the round."""
    slowest_ms: float
    """The slowest call that ended after the kill."""
    retries: int
    failovers: int
    first_error: str = ""


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    """Everything the child measured."""

    spread: list[SpreadRun]
    kills: list[KillRound]

    def dump(self) -> None:
        sys.stdout.write(json.dumps(asdict(self)) + "\n")
        sys.stdout.flush()

    @classmethod
    def parse(cls, line: str) -> DiscoveryResult:
        data = json.loads(line)
        spread = [
            SpreadRun(
                concurrency=run["concurrency"],
                results={name: LoadResult(**data) for name, data in run["results"].items()},
                per_replica=run["per_replica"],
            )
            for run in data["spread"]
        ]
        return cls(spread, [KillRound(**kill) for kill in data["kills"]])


# --- the parent ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    runs: int
    duration: float
    warmup: float
    concurrencies: list[int]
    """Where both parts measure (``--quick``: the highest of ``--concurrency`` only)."""
    kills: int
    steady: float

    @classmethod
    def of(cls, bench: Bench) -> _Plan:
        settings = bench.settings
        quick = settings.quick
        return cls(
            runs=min(settings.runs, SPREAD_RUNS),
            duration=min(settings.duration, SPREAD_DURATION),
            warmup=min(settings.warmup, SPREAD_WARMUP),
            concurrencies=(
                [max(settings.concurrencies)] if quick else list(settings.concurrencies)
            ),
            kills=1 if quick else KILLS,
            steady=0.2 if quick else STEADY,
        )


def run(bench: Bench) -> str:
    """Start the replicas, run the child, stop the replicas; return the Markdown section."""
    settings = bench.settings
    plan = _Plan.of(bench)
    concurrencies = plan.concurrencies
    kills = plan.kills * len(concurrencies)
    spares = max(0, kills - 1)  # a spare replaces each killed replica but the last
    cpu = [] if settings.server_cpu is None else ["--cpu", str(settings.server_cpu)]
    progress(f"discovery: starting {REPLICAS} replicas and {spares} spare{'s' * (spares != 1)}")
    replicas: list[ServerProcess] = []
    try:
        started = time.monotonic()
        replicas = bench.children.start_servers(
            "discovery replica", "_server", cpu, REPLICAS + spares
        )
        progress(f"discovery: {len(replicas)} replicas up in {time.monotonic() - started:.1f} s")
        args = [
            "--replicas",
            ",".join(f"{server.url}={server.pid}" for server in replicas),
            "--concurrency",
            ",".join(map(str, concurrencies)),
            "--runs",
            str(plan.runs),
            "--warmup",
            str(plan.warmup),
            "--duration",
            str(plan.duration),
            "--kills",
            str(plan.kills),
            "--steady",
            str(plan.steady),
            *([] if settings.load_cpu is None else ["--cpu", str(settings.load_cpu)]),
        ]
        # A bound for a hung child, not an estimate (each kill's callers get CALL_TIMEOUT).
        spread_s = plan.runs * len(concurrencies) * len(CALLERS) * (plan.duration + SLICE)
        kill_s = kills * (plan.steady + EJECT_LIMIT + TAIL + CALL_TIMEOUT)
        started = time.monotonic()
        timeout = min(spread_s + kill_s + CALL_TIMEOUT, TIME_LIMIT) + 30
        output = bench.children.run("_discovery", args, timeout)
        progress(f"discovery: measured in {time.monotonic() - started:.1f} s")
    finally:
        bench.children.discard(replicas)  # some were killed on purpose; the rest are done with
    lines = output.strip().splitlines()
    if not lines:
        raise ChildFailed("_discovery printed nothing")
    result = DiscoveryResult.parse(lines[-1])
    for spread in result.spread:
        rates = ", ".join(f"{name} {count(r.rate)}" for name, r in spread.results.items())
        progress(
            f"discovery c={spread.concurrency}: calls/s {rates}; per replica {spread.per_replica}"
        )
    for kill in result.kills:
        progress(
            f"discovery kill c={kill.concurrency}: open {_ms(kill.opened_ms)} ms, ejected "
            f"{_ms(kill.ejected_ms)} ms, last call {ms(kill.last_call_ms)} ms, "
            f"{kill.retries} retries, {kill.failovers} failovers, {kill.failed} failed"
            + (f" ({kill.first_error})" if kill.first_error else "")
        )
    return "\n\n".join(
        [
            "## Discovery: one service handle over 4 replicas",
            _spread_section(bench, result.spread, plan),
            _kill_section(result.kills, plan),
        ]
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else ms(value)


def _cores(bench: Bench) -> str:
    settings = bench.settings
    cpus = os.cpu_count() or 1
    if settings.server_cpu is not None:
        return (
            f"This machine has {cpus} CPUs: the 4 replicas are pinned together to CPU "
            f"{settings.server_cpu}, as every server here, so they share one core, which "
            "replica 1 alone has to itself when the endpoint handle or the service over 1 "
            "calls it; the caller runs on the other CPU. So the service over 4 cannot be "
            "faster here: over 1 / endpoint is the service handle's own cost, over 4 / "
            "endpoint adds four connections and four server processes taking turns on one "
            "core, and the calls per replica show that the calls are spread."
        )
    return (
        f"Nothing is pinned ({cpus} CPUs): the replicas and the caller share the machine's "
        "cores. over 1 / endpoint is the service handle's own cost; the calls per replica "
        "show that the calls are spread."
    )


def _spread_section(bench: Bench, runs: list[SpreadRun], plan: _Plan) -> str:
    rows = []
    for concurrency in plan.concurrencies:
        mine = [run for run in runs if run.concurrency == concurrency]
        summaries = [Summary([run.results[name] for run in mine]) for name in CALLERS]
        endpoint, single, service = summaries
        per_replica = [sum(run.per_replica[index] for run in mine) for index in range(REPLICAS)]
        total = sum(per_replica) or 1
        rows.append(
            [
                str(concurrency),
                count(endpoint.rate),
                count(single.rate),
                count(service.rate),
                _ratio(mine, "service-1"),
                _ratio(mine, "service-4"),
                " / ".join(ms(summary.p50) for summary in summaries),
                " / ".join(ms(summary.p99) for summary in summaries),
                " / ".join(us(summary.client_us) for summary in summaries),
                " / ".join(f"{value / total:.0%}" for value in per_replica),
                str(sum(summary.errors for summary in summaries)),
            ]
        )
    headers = [
        "c",
        "endpoint calls/s",
        "service over 1 calls/s",
        "service over 4 calls/s",
        "over 1 / endpoint",
        "over 4 / endpoint",
        "p50 ms endpoint / over 1 / over 4",
        "p99 ms endpoint / over 1 / over 4",
        "client CPU µs/call endpoint / over 1 / over 4",
        "calls per replica, over 4",
        "errors",
    ]
    right = [True] * len(headers)
    right[-2] = False
    measured = (
        f"{plan.runs} runs" if plan.runs > 1 else "1 run"
    ) + f" of {plan.duration:g} s per caller"
    return "\n".join(
        [
            "### Unary echo through a service handle over 4 replicas, over 1, and through an "
            "endpoint handle, h2c",
            "",
            table(headers, rows, right),
            "",
            f"{_cores(bench)} Endpoint: `host.connect(name, URL)` to replica 1; service over "
            "1: `host.connect_service(name, StaticSource([URL]))`, the same replica (the "
            "handle's own cost, with nothing to spread); over 4: `StaticSource(4 URLs)`. The "
            "services have no interceptors, the default retry policy (no call fails, so "
            "nothing is retried) and the default balancer (two random choices, the less "
            "busy); every call is `stub(ECHO).Echo(req)`. The three callers run in one load "
            f"process, in turns of a quarter second ({measured}, after a turn of warm-up; "
            "runs alternate the order). Ratios: median of the run-by-run ratios of calls/s. "
            "Calls per replica: the service handle's `statistics()`, replica 1 first. CPU "
            "µs/call: the load process's CPU time in the window over the calls completed in it.",
        ]
    )


def _ratio(runs: Sequence[SpreadRun], name: str) -> str:
    ratios = [
        run.results[name].rate / run.results["endpoint"].rate
        for run in runs
        if run.results["endpoint"].rate
    ]
    return ratio(statistics.median(ratios)) if ratios else "—"


def _kill_section(kills: list[KillRound], plan: _Plan) -> str:
    rows = []
    for concurrency in plan.concurrencies:
        mine = [kill for kill in kills if kill.concurrency == concurrency]
        if not mine:
            continue
        ejected = [kill.ejected_ms for kill in mine if kill.ejected_ms is not None]
        opened = [kill.opened_ms for kill in mine if kill.opened_ms is not None]
        missed = len(mine) - len(ejected)
        rows.append(
            [
                str(concurrency),
                str(len(mine)),
                _median_max(opened),
                _median_max(ejected) + (f" ({missed} not ejected)" if missed else ""),
                _median_max([kill.last_call_ms for kill in mine]),
                f"{statistics.median(kill.calls_after_kill for kill in mine):g}",
                str(sum(kill.failed for kill in mine)),
                _median_max([kill.slowest_ms for kill in mine]),
                str(sum(kill.retries for kill in mine)),
            ]
        )
    headers = [
        "c",
        "kills",
        "breaker open ms median / max",
        "`EndpointEjected` ms median / max",
        "last call sent to it ms median / max",
        "calls sent to it after the kill, median",
        "calls failed to the caller",
        "slowest call ms median / max",
        "retries",
    ]
    right = [True] * len(headers)
    return "\n".join(
        [
            "### A replica killed under load: from SIGKILL to ejection",
            "",
            table(headers, rows, right),
            "",
            "For each kill, a fresh service handle over 4 live replicas, with "
            f"`interceptors=[CircuitBreakerInterceptor({BREAKER})]` (each endpoint its own "
            "breaker) and the default retry policy, under a closed loop of `c` callers; after "
            f"{plan.steady:g} s, one replica's process gets SIGKILL. Times from the "
            "signal: its breaker opened (the config's `on_state_change`); a subscriber of "
            "`service.events()` received `EndpointEjected` for it; the balancer last sent it "
            "a call (0: none after the kill). The service follows each endpoint's breaker "
            "events, so `EndpointEjected` follows the breaker's opening by a task switch or "
            "two, and reaches the subscriber when its task next runs. Failed: "
            "calls that raised to the callers in the whole round (the load before the kill "
            f"too), which ends {TAIL:g} s after the ejection; slowest: the longest call that "
            "ended after the kill (a retry waits the policy's backoff first). Retries: the "
            "service's counter, over the kills.",
        ]
    )


def _median_max(values: Sequence[float]) -> str:
    if not values:
        return "—"
    return f"{ms(statistics.median(values))} / {ms(max(values))}"


# --- the child -----------------------------------------------------------------

C = TypeVar("C", bound=Candidate)


class _Watching:
    """The default balancer, noting when it picks one URL."""

    def __init__(self, url: str) -> None:
        self._inner = PowerOfTwoChoices()
        self.url = url
        self.picks = 0
        self.last = 0.0

    def pick(self, candidates: Sequence[C]) -> C:
        chosen = self._inner.pick(candidates)
        if chosen.url == self.url:
            self.picks += 1
            self.last = time.perf_counter()
        return chosen


def _calls(service: ServiceHandle) -> dict[str, int]:
    return {endpoint.url: endpoint.calls for endpoint in service.statistics().endpoints}


async def _spread(
    urls: Sequence[str], concurrencies: Sequence[int], args: argparse.Namespace
) -> list[SpreadRun]:
    results: list[SpreadRun] = []
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect("echo", urls[0])
        single = await host.connect_service("echo-replica-1", StaticSource(urls[:1]))
        service = await host.connect_service("echo-replicas", StaticSource(urls))
        echoes = {
            "endpoint": handle.stub(ECHO).Echo,
            "service-1": single.stub(ECHO).Echo,
            "service-4": service.stub(ECHO).Echo,
        }
        callers: dict[str, Callable[[], Awaitable[Any]]] = {
            name: functools.partial(echo, REQUEST) for name, echo in echoes.items()
        }
        for number in range(1, args.runs + 1):
            order = list(CALLERS) if number % 2 else list(reversed(CALLERS))
            for concurrency in concurrencies:
                before = _calls(service)
                measured = await run_interleaved(
                    [callers[name] for name in order],
                    concurrency=concurrency,
                    warmup=args.warmup,
                    duration=args.duration,
                    slice_seconds=SLICE,
                    server_pid=None,
                )
                after = _calls(service)
                results.append(
                    SpreadRun(
                        concurrency,
                        dict(zip(order, measured, strict=True)),
                        [after[url] - before.get(url, 0) for url in urls],
                    )
                )
    return results


async def _kill_round(
    urls: Sequence[str], victim: str, victim_pid: int, concurrency: int, steady: float
) -> KillRound:
    """A fresh service over ``urls``, loaded by ``concurrency`` callers; kill ``victim``."""
    opened: list[float] = []

    def on_state_change(old: CircuitState, new: CircuitState) -> None:
        if new is CircuitState.OPEN:
            opened.append(time.perf_counter())

    config = CircuitBreakerConfig(
        failure_threshold=5, timeout=10.0, on_state_change=on_state_change
    )
    balancer = _Watching(victim)
    killed_at = 0.0
    ejected_at = 0.0
    ejected = trio.Event()
    stopping = False
    running = concurrency
    all_stopped = trio.Event()
    failed = succeeded = 0
    slowest = 0.0
    first_error = ""

    async with open_service(
        "echo-replicas",
        StaticSource(urls),
        services=[ECHO],
        interceptors=[CircuitBreakerInterceptor(config)],
        service=ServiceOptions(balancer=lambda: balancer),
    ) as service:
        echo = service.stub(ECHO).Echo

        async def caller() -> None:
            nonlocal running, failed, succeeded, slowest, first_error
            while not stopping:
                started = time.perf_counter()
                try:
                    await echo(REQUEST)
                except Exception as exc:
                    failed += 1  # before the kill too (there should be none at all)
                    first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
                    await trio.sleep(0.01)  # a failing service must not make this spin
                    continue
                ended = time.perf_counter()
                if killed_at:
                    succeeded += 1
                    slowest = max(slowest, ended - started)
            running -= 1
            if not running:
                all_stopped.set()

        async with service.events() as events:

            async def watch() -> None:
                nonlocal ejected_at
                async for event in events:
                    if isinstance(event, EndpointEjected) and event.url == victim and killed_at:
                        ejected_at = time.perf_counter()
                        ejected.set()
                        return

            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch)
                    for _ in range(concurrency):
                        nursery.start_soon(caller)
                    await trio.sleep(steady)
                    picks_before = balancer.picks
                    killed_at = time.perf_counter()
                    os.kill(victim_pid, signal.SIGKILL)
                    with trio.move_on_after(EJECT_LIMIT):
                        await ejected.wait()
                    await trio.sleep(TAIL)
                    stopping = True
                    with trio.move_on_after(CALL_TIMEOUT):
                        await all_stopped.wait()
                    scope.cancel()
        if running:
            raise RuntimeError(f"{running} calls still running {CALL_TIMEOUT:.0f} s after a kill")
        counters = service.statistics()

    def since_kill(moment: float) -> float:
        return (moment - killed_at) * 1000

    after_kill = [moment for moment in opened if moment >= killed_at]
    return KillRound(
        concurrency=concurrency,
        victim=victim,
        opened_ms=since_kill(after_kill[0]) if after_kill else None,
        ejected_ms=since_kill(ejected_at) if ejected.is_set() else None,
        last_call_ms=max(0.0, since_kill(balancer.last)) if balancer.last else 0.0,
        calls_after_kill=balancer.picks - picks_before,
        failed=failed,
        calls_after=succeeded,
        slowest_ms=slowest * 1000,
        retries=counters.retries,
        failovers=counters.failovers,
        first_error=first_error,
    )


async def _main(args: argparse.Namespace) -> None:
    replicas = [item.rpartition("=") for item in args.replicas.split(",")]
    urls = [url for url, _, _ in replicas]
    pids = {url: int(pid) for url, _, pid in replicas}
    concurrencies = [int(value) for value in args.concurrency.split(",")]
    rounds = [concurrency for _ in range(args.kills) for concurrency in concurrencies]
    if len(urls) < REPLICAS + len(rounds) - 1:
        raise SystemExit(f"{len(urls)} replicas: not enough for {len(rounds)} kills")
    with trio.fail_after(TIME_LIMIT):
        spread = await _spread(urls[:REPLICAS], concurrencies, args)
        live, spares = urls[:REPLICAS], urls[REPLICAS:]
        kills = []
        for concurrency in rounds:
            victim = live[0]
            kills.append(await _kill_round(live, victim, pids[victim], concurrency, args.steady))
            if spares:
                live = [*live[1:], spares.pop(0)]
    DiscoveryResult(spread, kills).dump()


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._discovery")
    parser.add_argument(
        "--replicas", required=True, help="URL=PID,...: 4 replicas, then a spare per kill"
    )
    parser.add_argument("--concurrency", default="1,64", help="comma-separated callers")
    parser.add_argument("--runs", type=int, default=SPREAD_RUNS)
    parser.add_argument("--warmup", type=float, default=SPREAD_WARMUP)
    parser.add_argument("--duration", type=float, default=SPREAD_DURATION)
    parser.add_argument("--kills", type=int, default=KILLS, help="kills at each concurrency")
    parser.add_argument("--steady", type=float, default=STEADY, help="seconds before a kill")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    args = parser.parse_args(argv)
    pin(args.cpu)
    trio.run(_main, args)


if __name__ == "__main__":
    main()
