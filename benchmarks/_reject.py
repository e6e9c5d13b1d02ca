"""Open-circuit rejections: ``python -m benchmarks._reject --warmup W --duration D [...]``.

One process, pinned to one CPU with ``--cpu``, and no server: the endpoint
is a loopback port bound but never listening, so connecting is refused.
Four paths to the same refusal are opened with ``interceptors=[
CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=1,
timeout=3600)), RetryInterceptor()]`` (default retry policy), and the first
call through each fails (after its retries) and opens its circuit:

- ``handle``: ``open_plugin_nursery().connect("p", url, interceptors=...)``,
  then ``handle.stub(ECHO).Echo(request)``: through the endpoint actor;
- ``client``: ``open_client(url, interceptors=...)``, then
  ``client.stub(ECHO).Echo(request)``: the same chain, no actor;
- ``admit``: ``breaker.admit()`` of the client's bound breaker, alone;
- ``raise``: ``raise CircuitOpenError(...)`` and catch it, with no breaker:
  what the error itself costs.

The first two run as closed loops of ``--concurrency`` callers each; the
last two are plain loops in one task. Every loop reads ``time.perf_counter()``
after each rejection (every 256th for the two plain loops) and stops by
itself at the end of its window, so it does not depend on how often a
refusal yields to trio (once in 64). Rejections that end inside the window (``--duration`` seconds
after ``--warmup`` unrecorded) are counted, with the process's CPU time over
the window. Configurations run one after another, in the order given by
``--reverse``; prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import trio

from trioplugin import open_plugin_nursery
from trioplugin.resilience import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitOpenError,
    RetryInterceptor,
)
from trioplugin.rpc import InterceptorLike, open_client

from ._common import CALL_TIMEOUT, pin
from ._service import ECHO, REQUEST

PATHS: Final = ("handle", "client", "admit", "raise")
"""The ways to a rejection, from the whole handle path down to the bare error."""

LOOPS: Final = ("admit", "raise")
"""The paths measured as a plain loop in one task (no concurrency, no awaits)."""

_CHECK_EVERY: Final = 256
"""The plain loops read the clock once every this many rejections."""

Call = Callable[[], Awaitable[Any]]


def interceptors() -> list[InterceptorLike]:
    """The chain under test: a breaker that opens at the first failure, then retry."""
    breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=1, timeout=3600))
    return [breaker, RetryInterceptor()]


@dataclass(frozen=True, slots=True)
class RejectResult:
    """One configuration of one run, as the process prints it (one JSON line)."""

    path: str
    concurrency: int
    rejections: int
    """Rejections (CircuitOpenError) that ended inside the window."""
    seconds: float
    cpu_s: float
    """CPU time (user + system) this process used in the window."""
    errors: int = 0
    """Calls that did anything but raise CircuitOpenError (should be 0)."""
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.rejections / self.seconds if self.seconds > 0 else 0.0

    def dump(self) -> None:
        sys.stdout.write(json.dumps(asdict(self)) + "\n")
        sys.stdout.flush()

    @classmethod
    def parse(cls, line: str) -> RejectResult:
        return cls(**json.loads(line))


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


class _Window:
    """The measured window, read by the loops themselves (refusals seldom yield)."""

    def __init__(self, warmup: float, duration: float) -> None:
        self.start = time.perf_counter() + warmup
        self.end = self.start + duration
        self.started_at: float | None = None
        self.cpu_start = 0.0
        self.ended_at: float | None = None
        self.cpu_end = 0.0
        self.errors = 0
        self.first_error = ""

    def opened(self, now: float) -> None:
        if self.started_at is None:
            self.started_at, self.cpu_start = now, _cpu()

    def closed(self, now: float) -> None:
        if self.ended_at is None:
            self.ended_at, self.cpu_end = now, _cpu()

    def error(self, what: str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = what[:300]

    def result(self, path: str, concurrency: int, rejections: int) -> RejectResult:
        started = self.started_at if self.started_at is not None else self.start
        ended = self.ended_at if self.ended_at is not None else self.end
        return RejectResult(
            path=path,
            concurrency=concurrency,
            rejections=rejections,
            seconds=ended - started,
            cpu_s=self.cpu_end - self.cpu_start,
            errors=self.errors,
            first_error=self.first_error,
        )


async def _expect_rejection(call: Call) -> None:
    """Make one call and check that the circuit refuses it."""
    with trio.fail_after(CALL_TIMEOUT):
        try:
            reply = await call()
        except CircuitOpenError:
            return
    raise RuntimeError(f"the open circuit let a call through: {reply!r}")


async def _open_circuit(call: Call) -> None:
    """The first call fails (after its retries) and opens the circuit."""
    with trio.fail_after(CALL_TIMEOUT):
        try:
            reply = await call()
        except CircuitOpenError as exc:
            raise RuntimeError("the circuit was open before any call failed") from exc
        except Exception:
            pass  # refused by the closed port: the failure that opens the circuit
        else:
            raise RuntimeError(f"a closed port answered {reply!r}")
    await _expect_rejection(call)


async def closed_loop(
    path: str, call: Call, concurrency: int, warmup: float, duration: float
) -> RejectResult:
    """``concurrency`` callers, each calling again as soon as its call was refused."""
    await _expect_rejection(call)
    window = _Window(warmup, duration)
    counted = 0

    async def caller() -> None:
        nonlocal counted
        while True:
            try:
                await call()
            except CircuitOpenError:
                pass
            except Exception as exc:
                window.error(f"{type(exc).__name__}: {exc}")
                await trio.sleep(0.01)  # must not spin on an unexpected failure
            else:
                window.error("a call got through the open circuit")
            now = time.perf_counter()
            if now >= window.end:
                window.closed(now)
                return
            if now >= window.start:
                if window.started_at is None:
                    window.opened(now)  # the window starts as this rejection ends
                else:
                    counted += 1

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(caller)
    return window.result(path, concurrency, counted)


def plain_loop(path: str, breaker: CircuitBreaker, warmup: float, duration: float) -> RejectResult:
    """``breaker.admit()`` (or only the error it raises) in a loop, with no awaits."""
    window = _Window(warmup, duration)
    counted = 0
    name = breaker.name
    while True:
        for _ in range(_CHECK_EVERY):
            try:
                if path == "admit":
                    breaker.admit()
                else:
                    raise CircuitOpenError(name, 3600.0)
            except CircuitOpenError:
                pass
            else:
                window.error("admit() let a call through the open circuit")
        now = time.perf_counter()
        if now >= window.end:
            window.closed(now)
            return window.result(path, 1, counted)
        if now >= window.start:
            if window.started_at is None:
                window.opened(now)
            else:
                counted += _CHECK_EVERY


async def measure(
    concurrencies: Sequence[int], warmup: float, duration: float, reverse: bool
) -> list[RejectResult]:
    """Open the four paths, open their circuits, and measure every configuration."""
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connecting is refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        async with (
            open_plugin_nursery([ECHO]) as host,
            open_client(url, interceptors=interceptors()) as client,
        ):
            handle = await host.connect("p", url, interceptors=interceptors())
            through_handle, through_client = handle.stub(ECHO).Echo, client.stub(ECHO).Echo
            calls: dict[str, Call] = {
                "handle": lambda: through_handle(REQUEST),
                "client": lambda: through_client(REQUEST),
            }
            async with trio.open_nursery() as nursery:  # both wait out their retries at once
                for call in calls.values():
                    nursery.start_soon(_open_circuit, call)
            bound = client.interceptors[0]
            assert isinstance(bound, CircuitBreakerInterceptor)
            configurations = [
                (path, c) for path in PATHS if path not in LOOPS for c in concurrencies
            ] + [(path, 1) for path in LOOPS]
            if reverse:
                configurations.reverse()
            results = []
            for path, concurrency in configurations:
                if path in LOOPS:
                    result = plain_loop(path, bound.breaker, warmup, duration)
                    await trio.lowlevel.checkpoint()
                else:
                    result = await closed_loop(path, calls[path], concurrency, warmup, duration)
                results.append(result)
            return results


async def _main(args: argparse.Namespace) -> None:
    results = await measure(args.concurrency, args.warmup, args.duration, args.reverse)
    for result in results:
        result.dump()


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._reject")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 64],
        help="comma-separated callers in flight (default 1,64)",
    )
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--reverse", action="store_true", help="run the configurations backwards")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    args = parser.parse_args(argv)
    pin(args.cpu)
    trio.run(_main, args)


if __name__ == "__main__":
    main()
