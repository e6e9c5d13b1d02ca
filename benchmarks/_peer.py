"""The peer stack: the connectrpc package's client and server, each in a process of its own.

connectrpc runs on asyncio. ``python -m benchmarks._peer serve [--cpu N]``
serves EchoService with connectrpc's ASGI application on uvicorn (HTTP/1.1),
prints the port as one line and serves until its stdin ends, SIGINT,
SIGTERM or :data:`~benchmarks._common.SERVER_LIFETIME`.
``python -m benchmarks._peer load URL --concurrency C ...`` is the closed-loop
load generator of :mod:`benchmarks._load`, with connectrpc's client (on
pyqwest, HTTP/1.1) instead of ours, and prints one JSON line the same way.

connectrpc's code generator is not available offline, so the service is
described by hand with ``MethodInfo`` and ``Endpoint``; the messages are the
google.protobuf classes of ``bench_pb2``, through ``connectrpc.compat``'s codecs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import stat
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Final

import uvicorn
from connectrpc.client import ConnectClient
from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_codecs
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from pyqwest import Client as HTTPClient
from pyqwest import HTTPTransport, HTTPVersion

from ._common import CALL_TIMEOUT, ECHO_TEXT, SERVER_LIFETIME, LoadResult, Window, pin
from .bench_pb2 import EchoRequest, EchoResponse

ECHO: Final = MethodInfo(
    name="Echo",
    service_name="trioplugin.bench.v1.EchoService",
    input=EchoRequest,
    output=EchoResponse,
    idempotency_level=IdempotencyLevel.NO_SIDE_EFFECTS,
    stream_type=StreamType.UNARY,
)

UVICORN_HTTP: Final = "httptools" if importlib.util.find_spec("httptools") else "h11"
"""The HTTP/1.1 parser uvicorn uses here: httptools (C) if installed, else h11."""

# --- the server ---------------------------------------------------------------


class EchoPeer:
    """The handler, doing what ``benchmarks._service.Echo`` does."""

    async def echo(
        self, request: EchoRequest, ctx: RequestContext[EchoRequest, EchoResponse]
    ) -> EchoResponse:
        return EchoResponse(text=request.text)


def _endpoints(peer: EchoPeer) -> Mapping[str, Endpoint[EchoRequest, EchoResponse]]:
    return {f"/{ECHO.service_name}/{ECHO.name}": Endpoint.unary(ECHO, peer.echo)}


class EchoApplication(ConnectASGIApplication[EchoPeer]):
    """What connectrpc's code generator would write for EchoService, by hand."""

    def __init__(self) -> None:
        super().__init__(
            service=EchoPeer(),
            # It wants a private union of the four Endpoint kinds; Endpoint.unary()
            # makes a member of it, but only the base is public.
            endpoints=_endpoints,  # type: ignore[arg-type]
            codecs=google_protobuf_codecs(),
        )

    @property
    def path(self) -> str:
        return f"/{ECHO.service_name}"


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handling, which re-raises the signal on exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _stop_on_eof(server: uvicorn.Server) -> None:
    mode = os.fstat(sys.stdin.fileno()).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return  # a terminal or /dev/null: only signals stop the server
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while await reader.read(4096):
        pass
    server.should_exit = True


async def serve() -> None:
    """Serve on a free loopback port until told to stop (see the module docstring)."""
    config = uvicorn.Config(
        EchoApplication(),
        lifespan="off",
        http=UVICORN_HTTP,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, setattr, server, "should_exit", True)
    loop.call_later(SERVER_LIFETIME, setattr, server, "should_exit", True)
    print(sock.getsockname()[1], flush=True)
    watcher = asyncio.create_task(_stop_on_eof(server))
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()


# --- the load generator -------------------------------------------------------


async def run_load(
    url: str, *, concurrency: int, warmup: float, duration: float, server_pid: int | None
) -> LoadResult:
    """The closed loop of :func:`benchmarks._load.run_load`, on asyncio and connectrpc."""
    window = Window(server_pid)
    stopping = False
    request = EchoRequest(text=ECHO_TEXT)
    async with HTTPTransport(http_version=HTTPVersion.HTTP1) as transport:
        client = ConnectClient(
            url,
            codec=google_protobuf_binary_codec(),
            send_compression=None,
            http_client=HTTPClient(transport),
        )

        async def worker() -> None:
            while not stopping:
                started = time.perf_counter()
                try:
                    await client.execute_unary(request=request, method=ECHO)
                except Exception as exc:
                    window.error(exc)
                    await asyncio.sleep(0.01)
                    continue
                ended = time.perf_counter()
                if window.recording:
                    window.latencies.append(ended - started)

        reply = await asyncio.wait_for(
            client.execute_unary(request=request, method=ECHO), CALL_TIMEOUT
        )
        if reply.text != ECHO_TEXT:
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


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._peer")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve EchoService on a free loopback port")
    load = commands.add_parser("load", help="call the EchoService at URL in a closed loop")
    load.add_argument("url")
    load.add_argument("--concurrency", type=int, default=1)
    load.add_argument("--warmup", type=float, default=1.0)
    load.add_argument("--duration", type=float, default=3.0)
    load.add_argument("--server-pid", type=int, default=None, help="read its CPU time")
    args = parser.parse_args(argv)
    pin(args.cpu)
    if args.command == "serve":
        asyncio.run(serve())
        return
    result = asyncio.run(
        run_load(
            args.url,
            concurrency=args.concurrency,
            warmup=args.warmup,
            duration=args.duration,
            server_pid=args.server_pid,
        )
    )
    result.dump()
    # pyqwest hands each response to asyncio from a tokio thread; if the
    # interpreter begins to finalize while such a thread waits for the GIL,
    # CPython (before 3.14) ends it with pthread_exit, whose unwinding through
    # Rust frames aborts the process. The result is written: skip finalizing.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
