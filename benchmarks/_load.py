"""The trioplugin load generator process: ``python -m benchmarks._load URL --mode MODE ...``.

Makes unary Echo calls to URL from ``--concurrency`` tasks, each calling
again as soon as its previous call returns (a closed loop), for ``--warmup``
seconds unrecorded and then ``--duration`` seconds measured, and prints one
JSON line (:class:`~benchmarks._common.LoadResult`). Modes:

- ``h1``: ``open_client(url, ClientOptions(http_version="1.1"))`` (its own HTTP/1.1 transport);
- ``h2``: ``open_client(url, ClientOptions(http_version="2"))`` (our own HTTP/2 transport,
  one multiplexed connection); the *direct* side of the actor benchmark;
- ``actor``: ``open_plugin_nursery().connect(...)``, then calls through the
  handle's stub: the same HTTP/2 transport, behind the endpoint actor.

Both call ``stub.Echo(request)`` on a stub of the same service, so the only
difference between ``h2`` and ``actor`` is the actor. With ``--interceptors
chain``, ``h2`` and ``actor`` make their calls through
``[CircuitBreakerInterceptor(), RetryInterceptor()]`` (default config and
policy), the resilience benchmark's chain; with ``--interceptors observed``
(or ``observed-sdk``) through the logging, metrics and tracing interceptors
(see :func:`observing_interceptors`); the default, ``none``, has none.

``--rpc server-stream`` (``h2`` only) makes each call a ``ServerStream`` of
``--count`` messages, read to its end; ``--rpc bidi`` (``h2`` only) opens one
``Bidi`` stream and makes each call one round trip on it: send a message,
receive its echo (ping-pong). Calls carry no
deadline (the run is bounded by cancelling a scope, which sets none), so no
``Connect-Timeout-Ms`` header goes out, as with the connectrpc peer.

``--interleave h2:none,actor:chain,...`` (instead of ``--mode``) measures
several unary callers in one process, taking turns of ``--slice`` seconds
(see :func:`run_interleaved`), and prints one JSON list, in that order.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Final

import trio

from trioplugin import ClientOptions, open_plugin_nursery
from trioplugin.resilience import CircuitBreakerInterceptor, RetryInterceptor
from trioplugin.rpc import InterceptorLike, open_client

from ._common import CALL_TIMEOUT, ECHO_TEXT, LoadResult, Tally, Window, pin
from ._service import ECHO, REQUEST
from .bench_pb2 import StreamRequest

MODES: Final = ("h1", "h2", "actor")

RPCS: Final = ("unary", "server-stream", "bidi")

INTERCEPTORS: Final = ("none", "chain", "observed", "observed-sdk")

Call = Callable[[], Awaitable[Any]]


def interceptors(name: str) -> list[InterceptorLike]:
    """The interceptors called ``name`` (see :data:`INTERCEPTORS`), freshly made."""
    if name == "none":
        return []
    if name == "chain":
        return [CircuitBreakerInterceptor(), RetryInterceptor()]
    if name in ("observed", "observed-sdk"):
        return observing_interceptors(sdk=name == "observed-sdk")
    raise ValueError(f"interceptors must be one of {', '.join(INTERCEPTORS)}, not {name!r}")


def observing_interceptors(*, sdk: bool) -> list[InterceptorLike]:
    """Logging, metrics and tracing, collected by nobody, or collected and exported nowhere.

    Without ``sdk``: what the interceptors cost an application that does not
    collect — the OpenTelemetry API's global meter and tracer with no SDK
    configured (its no-op ones) and the calls' logger at WARNING, Python's
    default (a record only for a failed call). With ``sdk``: the SDK's
    histograms aggregate (a reader that is never collected), its spans are
    recorded and ended (no span processor), and every call's record is made
    at INFO and handled (a NullHandler): the work of observing, without the
    exporters' I/O.
    """
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from trioplugin.observability import LoggingInterceptor, MetricsInterceptor
    from trioplugin.observability.otel import OtelMetrics, TracingInterceptor

    calls = logging.getLogger("trioplugin.calls")
    calls.setLevel(logging.INFO if sdk else logging.WARNING)
    calls.addHandler(logging.NullHandler())
    calls.propagate = False
    meters: MeterProvider | None = None  # the global ones: no SDK configured, the API's no-ops
    tracers: TracerProvider | None = None
    if sdk:
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

        meters = SdkMeterProvider(metric_readers=[InMemoryMetricReader()])
        tracers = SdkTracerProvider()
    return [
        LoggingInterceptor(),
        MetricsInterceptor(OtelMetrics(meters)),
        TracingInterceptor(tracer_provider=tracers),
    ]


@asynccontextmanager
async def open_caller(
    mode: str,
    url: str,
    chain: str = "none",
    rpc: str = "unary",
    count: int = 1000,
    tally: Tally | None = None,
) -> AsyncIterator[Call]:
    """A zero-argument coroutine function making one call (or bidi round trip), by ``mode``.

    ``chain`` names the interceptors the calls go through (see :func:`interceptors`);
    ``rpc`` and ``count`` are as in the module docstring; server-stream messages are
    counted into ``tally``.
    """
    tally = tally or Tally()
    if rpc != "unary":
        if mode != "h2":
            raise ValueError(f"--rpc {rpc} needs --mode h2")
        async with open_client(
            url, ClientOptions(http_version="2"), interceptors=interceptors(chain)
        ) as client:
            stub = client.stub(ECHO)
            if rpc == "server-stream":
                request = StreamRequest(text=REQUEST.text, count=count)

                async def stream() -> Any:
                    received, last = 0, None
                    async with stub.ServerStream(request) as responses:
                        async for message in responses:
                            last = message
                            received += 1
                            tally.messages += 1
                    if received != count:
                        raise RuntimeError(f"the stream ended after {received} of {count}")
                    return last

                yield stream
            elif rpc == "bidi":
                async with stub.Bidi() as bidi:

                    async def round_trip() -> Any:
                        await bidi.send(REQUEST)
                        return await bidi.receive()

                    yield round_trip
                    await bidi.close_send()
                    async for _ in bidi:
                        pass
            else:
                raise ValueError(f"rpc must be one of {', '.join(RPCS)}, not {rpc!r}")
    elif mode in ("h1", "h2"):
        async with open_client(
            url,
            ClientOptions(http_version="1.1" if mode == "h1" else "2"),
            interceptors=interceptors(chain),
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
    call: Call,
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    server_pid: int | None,
    tally: Tally | None = None,
) -> LoadResult:
    """Run the closed loop and measure one window (see the module docstring)."""
    window = Window(server_pid, tally)
    await _check_echo(call)
    await _closed_loop(call, window, concurrency, warmup, duration)
    return window.finish()


async def run_interleaved(
    calls: Sequence[Call],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    slice_seconds: float,
    server_pid: int | None,
) -> list[LoadResult]:
    """Measure several callers in turns of ``slice_seconds``, ``duration`` seconds each in all.

    The closed loop runs one caller at a time: for a slice, then its calls
    drain (uncounted), then the next caller's slice. Turns this short put every caller
    through the same moments of the machine (a VM's speed can change from
    one second to the next), so their ratios compare like with like. A
    warm-up of ``warmup`` seconds, in turns too, is not recorded.
    """
    for call in calls:
        await _check_echo(call)
    windows = [Window(server_pid) for _ in calls]
    warm_turns = max(1, round(warmup / (slice_seconds * len(calls))))
    turns = max(1, round(duration / slice_seconds))
    for turn in range(warm_turns + turns):
        for call, window in zip(calls, windows, strict=True):
            recorded = turn >= warm_turns
            await _closed_loop(
                call, window if recorded else unrecorded, concurrency, 0.0, slice_seconds
            )
    return [window.finish() for window in windows]


unrecorded: Final = Window(None)
"""The window of the warm-up's turns: never started, so what they do counts nowhere."""


async def _closed_loop(
    call: Call, window: Window, concurrency: int, warmup: float, duration: float
) -> None:
    """``concurrency`` callers, each calling again when its call ends; ``window`` after ``warmup``.

    Calls that end after the ``duration`` measured are not counted; the
    loop returns once they have all ended.
    """
    stopping = False
    running = concurrency
    all_stopped = trio.Event()

    async def worker() -> None:
        nonlocal running
        await _call_until(call, window, lambda: stopping)
        running -= 1
        if not running:
            all_stopped.set()

    # Bounded by cancelling this scope by hand: a deadline would reach every call
    # (a Connect-Timeout-Ms header and a deadline scope on the server per call).
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
            if warmup:
                await trio.sleep(warmup)
            if window is not unrecorded:
                window.start()
            await trio.sleep(duration)
            window.pause()
            stopping = True
            with trio.move_on_after(CALL_TIMEOUT):  # only this wait: the calls get no deadline
                await all_stopped.wait()
            scope.cancel()
    if running:
        raise RuntimeError(f"{running} calls still running {CALL_TIMEOUT:.0f} s after the run")


async def _call_until(call: Call, window: Window, stop: Callable[[], bool]) -> None:
    """One caller of a closed loop: call again as soon as a call ends, until ``stop()``."""
    while not stop():
        started = time.perf_counter()
        try:
            await call()
        except Exception as exc:
            window.error(exc)
            await trio.sleep(0.01)  # a failing server must not make this spin
            continue
        window.record(started)


async def _check_echo(call: Call) -> None:
    """Make one call and check that it is answered with the echo."""
    with trio.fail_after(CALL_TIMEOUT):  # the first call only
        reply = await call()
    if getattr(reply, "text", None) != ECHO_TEXT:
        raise RuntimeError(f"the server answered {reply!r}, not an echo")


async def _main(args: argparse.Namespace) -> None:
    if args.interleave:
        async with AsyncExitStack() as stack:
            calls = []
            for variant in args.interleave.split(","):
                mode, _, chain = variant.partition(":")
                calls.append(await stack.enter_async_context(open_caller(mode, args.url, chain)))
            results = await run_interleaved(
                calls,
                concurrency=args.concurrency,
                warmup=args.warmup,
                duration=args.duration,
                slice_seconds=args.slice,
                server_pid=args.server_pid,
            )
        LoadResult.dump_all(results)
        return
    if args.mode is None:
        raise SystemExit("give --mode, or --interleave")
    tally = Tally()
    async with open_caller(
        args.mode, args.url, args.interceptors, args.rpc, args.count, tally
    ) as call:
        result = await run_load(
            call,
            concurrency=args.concurrency,
            warmup=args.warmup,
            duration=args.duration,
            server_pid=args.server_pid,
            tally=tally,
        )
    result.dump()


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._load")
    parser.add_argument("url")
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument(
        "--interleave",
        default="",
        help="MODE:INTERCEPTORS,... : measure unary callers in turns (see run_interleaved)",
    )
    parser.add_argument(
        "--slice", type=float, default=0.25, help="seconds of one turn, with --interleave"
    )
    parser.add_argument(
        "--interceptors", choices=INTERCEPTORS, default="none", help="the calls' interceptors"
    )
    parser.add_argument("--rpc", choices=RPCS, default="unary", help="what one call is")
    parser.add_argument("--count", type=int, default=1000, help="messages per server stream")
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
