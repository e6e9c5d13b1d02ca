"""The trioplugin load generator process: ``python -m benchmarks._load URL --mode MODE ...``.

Makes unary Echo calls to URL from ``--concurrency`` tasks, each calling
again as soon as its previous call returns (a closed loop), for ``--warmup``
seconds unrecorded and then ``--duration`` seconds measured, and prints one
JSON line (:class:`~benchmarks._common.LoadResult`). Modes:

- ``h1``: ``open_client(url, http_version="1.1")`` (its own h11 transport);
- ``h2``: ``open_client(url, http_version="2")`` (our own HTTP/2 transport,
  one multiplexed connection); the *direct* side of the actor benchmark;
- ``actor``: ``open_plugin_nursery().connect(...)``, then calls through the
  handle's stub: the same HTTP/2 transport, behind the endpoint actor.

Both call ``stub.Echo(request)`` on a stub of the same service, so the only
difference between ``h2`` and ``actor`` is the actor. With ``--interceptors
chain``, ``h2`` and ``actor`` make their calls through
``[CircuitBreakerInterceptor(), RetryInterceptor()]`` (default config and
policy), the resilience benchmark's chain; the default, ``none``, has none. Calls carry no
deadline (the run is bounded by cancelling a scope, which sets none), so no
``Connect-Timeout-Ms`` header goes out, as with the connectrpc peer.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import trio

from trioplugin.actor import open_plugin_nursery
from trioplugin.resilience import CircuitBreakerInterceptor, RetryInterceptor
from trioplugin.rpc import InterceptorLike, open_client

from ._common import CALL_TIMEOUT, ECHO_TEXT, LoadResult, Window, pin
from ._service import ECHO, REQUEST

MODES: Final = ("h1", "h2", "actor")

INTERCEPTORS: Final = ("none", "chain")

Call = Callable[[], Awaitable[Any]]


def interceptors(name: str) -> list[InterceptorLike]:
    """The interceptors called ``name`` (see :data:`INTERCEPTORS`), freshly made."""
    if name == "none":
        return []
    if name == "chain":
        return [CircuitBreakerInterceptor(), RetryInterceptor()]
    raise ValueError(f"interceptors must be one of {', '.join(INTERCEPTORS)}, not {name!r}")


@asynccontextmanager
async def open_caller(mode: str, url: str, chain: str = "none") -> AsyncIterator[Call]:
    """A zero-argument coroutine function making one Echo call, by ``mode``.

    ``chain`` names the interceptors the calls go through (see :func:`interceptors`).
    """
    if mode in ("h1", "h2"):
        async with open_client(
            url, http_version="1.1" if mode == "h1" else "2", interceptors=interceptors(chain)
        ) as client:
            echo = client.stub(ECHO).Echo
            yield lambda: echo(REQUEST)
    elif mode == "actor":
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", url, interceptors=interceptors(chain))
            echo = handle.stub(ECHO).Echo
            yield lambda: echo(REQUEST)
    else:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")


async def run_load(
    call: Call, *, concurrency: int, warmup: float, duration: float, server_pid: int | None
) -> LoadResult:
    """Run the closed loop and measure one window (see the module docstring)."""
    window = Window(server_pid)
    stopping = False
    running = concurrency
    all_stopped = trio.Event()

    async def worker() -> None:
        nonlocal running
        while not stopping:
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:
                window.error(exc)
                await trio.sleep(0.01)  # a failing server must not make this spin
                continue
            ended = time.perf_counter()
            if window.recording:
                window.latencies.append(ended - started)
        running -= 1
        if not running:
            all_stopped.set()

    with trio.fail_after(CALL_TIMEOUT):  # the first call only, which checks the answer
        reply = await call()
    if getattr(reply, "text", None) != ECHO_TEXT:
        raise RuntimeError(f"the server answered {reply!r}, not an echo")
    # Bounded by cancelling this scope by hand: a deadline would reach every call.
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
            await trio.sleep(warmup)
            window.start()
            await trio.sleep(duration)
            result = window.finish()
            stopping = True
            with trio.move_on_after(CALL_TIMEOUT):  # only this wait: the calls get no deadline
                await all_stopped.wait()
            scope.cancel()
    if running:
        raise RuntimeError(f"{running} calls still running {CALL_TIMEOUT:.0f} s after the run")
    return result


async def _main(args: argparse.Namespace) -> None:
    async with open_caller(args.mode, args.url, args.interceptors) as call:
        result = await run_load(
            call,
            concurrency=args.concurrency,
            warmup=args.warmup,
            duration=args.duration,
            server_pid=args.server_pid,
        )
    result.dump()


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._load")
    parser.add_argument("url")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument(
        "--interceptors", choices=INTERCEPTORS, default="none", help="the calls' interceptors"
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument("--server-pid", type=int, default=None, help="read its CPU time")
    args = parser.parse_args(argv)
    pin(args.cpu)
    trio.run(_main, args)


if __name__ == "__main__":
    main()
