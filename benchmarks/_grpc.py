"""grpcio, the gRPC reference stack (C core): its server and its client, each in a process.

``python -m benchmarks._grpc serve --mode sync|aio [--cpu N]`` serves
EchoService/Echo over gRPC (h2c) on a free loopback port, prints the port as
one line, and serves until its stdin ends, SIGINT, SIGTERM or
:data:`~benchmarks._common.SERVER_LIFETIME`.

- ``sync``: ``grpc.server(ThreadPoolExecutor(max_workers=THREADS))``, a
  synchronous handler: each call runs in a pool thread.
- ``aio``: ``grpc.aio.server()``, an ``async def`` handler on asyncio.

``python -m benchmarks._grpc load URL --mode sync|aio --concurrency C ...``
is the closed-loop load generator of :mod:`benchmarks._load` on grpcio:

- ``sync``: C threads, each making blocking calls one after another;
- ``aio``: C asyncio tasks, each awaiting its call, then the next.

Both share one ``insecure_channel`` (one HTTP/2 connection), as our h2c
client does. No stubs are generated: the method is registered and called by
its path with ``bench_pb2``'s serializers, which is all generated
``*_pb2_grpc`` code does. Calls carry no deadline. It prints one JSON line
(:class:`~benchmarks._common.LoadResult`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from concurrent import futures
from typing import Any, Final

# Optional peers (the bench extra), untyped: ignored whether or not they are installed.
import grpc  # type: ignore[import-untyped, import-not-found, unused-ignore]
import grpc.aio  # type: ignore[import-untyped, import-not-found, unused-ignore]

from ._common import (
    CALL_TIMEOUT,
    ECHO_TEXT,
    PROCEDURE,
    SERVER_LIFETIME,
    LoadResult,
    Window,
    pin,
    run_asyncio_load,
)
from .bench_pb2 import EchoRequest, EchoResponse

MODES: Final = ("sync", "aio")
SERVICE: Final = "trioplugin.bench.v1.EchoService"
THREADS: Final = 64
"""The sync server's pool: as many threads as calls in flight at the default c=64."""
OPTIONS: Final = [("grpc.so_reuseport", 0)]

# --- the servers --------------------------------------------------------------


def _echo(request: EchoRequest, context: Any) -> EchoResponse:
    return EchoResponse(text=request.text)


async def _echo_async(request: EchoRequest, context: Any) -> EchoResponse:
    return EchoResponse(text=request.text)


def _handler(function: Any) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                function,
                request_deserializer=EchoRequest.FromString,
                response_serializer=EchoResponse.SerializeToString,
            )
        },
    )


def _wait_for_stdin_end() -> None:
    while os.read(sys.stdin.fileno(), 4096):
        pass


def serve_sync() -> None:
    """The thread-pool server; stops when stdin ends, on a signal or after its lifetime."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=THREADS), options=OPTIONS)
    server.add_generic_rpc_handlers([_handler(_echo)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def watch_stdin() -> None:
        _wait_for_stdin_end()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(port, flush=True)
    stop.wait(SERVER_LIFETIME)
    server.stop(grace=1).wait()


async def serve_aio() -> None:
    """The asyncio server; stops as :func:`serve_sync` does."""
    server = grpc.aio.server(options=OPTIONS)
    server.add_generic_rpc_handlers([_handler(_echo_async)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.run_in_executor(None, _wait_for_stdin_end).add_done_callback(
        lambda _: loop.call_soon_threadsafe(stop.set)
    )
    print(port, flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), SERVER_LIFETIME)
    await server.stop(grace=1)
    os._exit(0)  # the stdin reader thread may still be blocked in read()


# --- the load generators ------------------------------------------------------


def _target(url: str) -> str:
    return url.removeprefix("http://").rstrip("/")


def _check(reply: EchoResponse) -> None:
    if reply.text != ECHO_TEXT:
        raise RuntimeError(f"the server answered {reply!r}, not an echo")


def load_sync(
    url: str, *, concurrency: int, warmup: float, duration: float, server_pid: int | None
) -> LoadResult:
    """C threads in a closed loop of blocking calls on one channel."""
    window = Window(server_pid)
    stopping = threading.Event()
    request = EchoRequest(text=ECHO_TEXT)
    with grpc.insecure_channel(_target(url)) as channel:
        echo = channel.unary_unary(
            PROCEDURE,
            request_serializer=EchoRequest.SerializeToString,
            response_deserializer=EchoResponse.FromString,
        )

        def worker() -> None:
            while not stopping.is_set():
                started = time.perf_counter()
                try:
                    echo(request)
                except Exception as exc:
                    window.error(exc)
                    time.sleep(0.01)
                    continue
                ended = time.perf_counter()
                if window.recording:
                    window.latencies.append(ended - started)  # list.append holds the GIL

        _check(echo(request, timeout=CALL_TIMEOUT))
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        time.sleep(warmup)
        window.start()
        time.sleep(duration)
        result = window.finish()
        stopping.set()
        deadline = time.monotonic() + CALL_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            raise RuntimeError(f"calls still running {CALL_TIMEOUT:.0f} s after the run")
    return result


async def load_aio(
    url: str, *, concurrency: int, warmup: float, duration: float, server_pid: int | None
) -> LoadResult:
    """C asyncio tasks in a closed loop of awaited calls on one channel."""
    request = EchoRequest(text=ECHO_TEXT)
    async with grpc.aio.insecure_channel(_target(url)) as channel:
        echo = channel.unary_unary(
            PROCEDURE,
            request_serializer=EchoRequest.SerializeToString,
            response_deserializer=EchoResponse.FromString,
        )
        return await run_asyncio_load(
            lambda: echo(request),
            concurrency=concurrency,
            warmup=warmup,
            duration=duration,
            server_pid=server_pid,
        )


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._grpc")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve EchoService/Echo on a free loopback port")
    serve.add_argument("--mode", choices=MODES, required=True)
    load = commands.add_parser("load", help="call EchoService/Echo at URL in a closed loop")
    load.add_argument("url")
    load.add_argument("--mode", choices=MODES, required=True)
    load.add_argument("--concurrency", type=int, default=1)
    load.add_argument("--warmup", type=float, default=1.0)
    load.add_argument("--duration", type=float, default=3.0)
    load.add_argument("--server-pid", type=int, default=None, help="read its CPU time")
    args = parser.parse_args(argv)
    pin(args.cpu)
    if args.command == "serve":
        if args.mode == "sync":
            serve_sync()
        else:
            asyncio.run(serve_aio())
        return
    options = {
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "duration": args.duration,
        "server_pid": args.server_pid,
    }
    if args.mode == "sync":
        result = load_sync(args.url, **options)
    else:
        result = asyncio.run(load_aio(args.url, **options))
    result.dump()
    sys.stderr.flush()
    os._exit(0)  # grpc's threads need not be joined: the result is written


if __name__ == "__main__":
    main()
