"""What every benchmark process shares: the echo request, pinning, CPU and memory readings.

Nothing here imports trio or asyncio: the connectrpc processes (asyncio) and
the trioplugin ones (trio) both use it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

ECHO_TEXT: Final = "trioplugin benchmark echo msg!"
"""The request's text: 30 bytes, a ~32-byte message, as in the notes' measurements."""

PROCEDURE: Final = "/trioplugin.bench.v1.EchoService/Echo"

SERVER_LIFETIME: Final = 1800.0
"""A server process exits by itself after this many seconds, whatever happens."""

CALL_TIMEOUT: Final = 30.0
"""A load generator gives up (and reports an error) if a run has not ended this long after
its planned end: a hung call must not hang the benchmark."""


def pin(cpu: int | None) -> None:
    """Run this process (and the threads it starts later) on ``cpu`` only, if given."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def cpu_seconds(pid: int | None = None) -> float | None:
    """CPU time (user + system, all threads) of ``pid`` (default: this process), or None.

    Another process's comes from ``/proc/PID/stat`` (clock ticks, so 10 ms
    granularity); None if that cannot be read (not Linux, process gone).
    """
    if pid is None or pid == os.getpid():
        times = os.times()
        return times.user + times.system
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            stat = file.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it are plain.
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_bytes() -> int:
    """This process's resident set size now (VmRSS), or 0 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def open_fds() -> int:
    """How many file descriptors this process has open, or -1 if unknown."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (0.0 if there are none)."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(fraction * len(sorted_values)) - 1
    return sorted_values[max(0, min(len(sorted_values) - 1, rank))]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One measured run of one load generator, as it prints it (one JSON line)."""

    calls: int
    """Calls that completed inside the measured window."""
    errors: int
    """Calls that failed inside the window (any failure: it should be 0)."""
    seconds: float
    """Length of the measured window."""
    p50_ms: float
    p99_ms: float
    client_cpu_s: float
    """CPU time the load generator used in the window (all its threads)."""
    server_cpu_s: float | None
    """CPU time the server process used in the window, if it could be read."""
    first_error: str = ""
    messages: int = 0
    """Stream messages received inside the window (server-stream runs; 0 otherwise)."""

    @property
    def rate(self) -> float:
        """Completed calls per second."""
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    def dump(self) -> None:
        """Print as the one JSON line the parent reads."""
        sys.stdout.write(json.dumps(asdict(self)) + "\n")
        sys.stdout.flush()

    @classmethod
    def parse(cls, line: str) -> LoadResult:
        """Read the line :meth:`dump` printed."""
        data = json.loads(line)
        return cls(**data)

    @staticmethod
    def dump_all(results: Sequence[LoadResult]) -> None:
        """Print several results as one JSON line (an interleaved run's, in order)."""
        sys.stdout.write(json.dumps([asdict(result) for result in results]) + "\n")
        sys.stdout.flush()

    @classmethod
    def parse_all(cls, line: str) -> list[LoadResult]:
        """Read the line :meth:`dump_all` printed."""
        return [cls(**data) for data in json.loads(line)]


class Tally:
    """A running count of stream messages received, read by :class:`Window` at both ends."""

    __slots__ = ("messages",)

    def __init__(self) -> None:
        self.messages = 0


class Window:
    """Times one measured window: start it, count calls into it, end it.

    Latencies are recorded only for calls that end inside the window, which
    begins after the warm-up and ends ``duration`` seconds later. With a
    :class:`Tally`, the messages counted into it inside the window are reported too.
    """

    def __init__(self, server_pid: int | None, tally: Tally | None = None) -> None:
        self.server_pid = server_pid
        self.tally = tally
        self.recording = False
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error = ""
        self._start = 0.0
        self._client_cpu = 0.0
        self._server_cpu: float | None = None
        self._messages = 0
        # Totals over the stretches measured so far (see pause).
        self._seconds = 0.0
        self._client_total = 0.0
        self._server_total: float | None = 0.0 if server_pid else None
        self._messages_total = 0

    def start(self) -> None:
        """Start (or resume, after :meth:`pause`) measuring."""
        self._client_cpu = cpu_seconds() or 0.0
        self._server_cpu = cpu_seconds(self.server_pid) if self.server_pid else None
        self._messages = self.tally.messages if self.tally else 0
        self._start = time.perf_counter()
        self.recording = True

    def error(self, exc: BaseException) -> None:
        if self.recording:
            self.errors += 1
            if not self.first_error:
                self.first_error = f"{type(exc).__name__}: {exc}"[:300]

    def record(self, started: float) -> None:
        """A call that began at ``started`` (``time.perf_counter()``) has ended well."""
        if self.recording:
            self.latencies.append(time.perf_counter() - started)

    def pause(self) -> None:
        """Stop measuring for now: the window is the sum of its measured stretches."""
        if not self.recording:
            return
        self.recording = False
        self._seconds += time.perf_counter() - self._start
        self._client_total += (cpu_seconds() or 0.0) - self._client_cpu
        if self._server_total is not None and self._server_cpu is not None and self.server_pid:
            end = cpu_seconds(self.server_pid)
            self._server_total = (
                None if end is None else self._server_total + end - self._server_cpu
            )
        if self.tally:
            self._messages_total += self.tally.messages - self._messages

    def finish(self) -> LoadResult:
        """End the window and summarize it."""
        self.pause()
        latencies = sorted(self.latencies)
        return LoadResult(
            calls=len(latencies),
            errors=self.errors,
            seconds=self._seconds,
            p50_ms=percentile(latencies, 0.50) * 1000,
            p99_ms=percentile(latencies, 0.99) * 1000,
            client_cpu_s=self._client_total,
            server_cpu_s=self._server_total,
            first_error=self.first_error,
            messages=self._messages_total,
        )


AsyncCall = Callable[[], Awaitable[Any]]
"""One call of an asyncio load generator (it returns the echo reply)."""


async def run_asyncio_load(
    call: AsyncCall,
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    server_pid: int | None,
    tally: Tally | None = None,
) -> LoadResult:
    """The closed loop of :func:`benchmarks._load.run_load` on asyncio.

    ``concurrency`` workers await ``call`` until the window has closed.
    """
    window = Window(server_pid, tally)
    stopping = False

    async def worker() -> None:
        while not stopping:
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:
                window.error(exc)
                await asyncio.sleep(0.01)
                continue
            window.record(started)

    reply = await asyncio.wait_for(call(), CALL_TIMEOUT)
    if getattr(reply, "text", None) != ECHO_TEXT:
        raise RuntimeError(f"the server answered {reply!r}, not an echo")
    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        window.start()
        await asyncio.sleep(duration)
        result = window.finish()
        stopping = True
        _, pending = await asyncio.wait(workers, timeout=CALL_TIMEOUT)
        if pending:
            raise RuntimeError(
                f"{len(pending)} calls still running {CALL_TIMEOUT:.0f} s after the run"
            )
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return result
