"""The connectrpc peer: its server (on uvicorn or on pyvoy) and its client, each in a process.

connectrpc runs on asyncio. ``python -m benchmarks._peer serve [--server
uvicorn|pyvoy] [--cpu N]`` serves EchoService (``benchmarks._peer_app``) and
prints the port as one line (with pyvoy: the port and the Envoy process's
id, whose CPU time is the server's), then serves until its stdin ends,
SIGINT, SIGTERM or :data:`~benchmarks._common.SERVER_LIFETIME`.

- ``uvicorn``: HTTP/1.1 (uvicorn speaks no HTTP/2), with uvicorn's
  ``httptools`` parser if installed, else ``h11``.
- ``pyvoy``: Envoy does HTTP (HTTP/1.1 and h2c) and runs the ASGI application
  in its own embedded interpreter on one asyncio (uvloop) thread. Envoy gets
  ``--concurrency 1`` (one worker thread): the process is pinned to one CPU,
  as every server here is.

``python -m benchmarks._peer load URL --http 1.1|2 --rpc unary|server-stream|bidi
...`` is the closed-loop load generator of :mod:`benchmarks._load`, with
connectrpc's client (on pyqwest; ``--http 2`` is h2c with prior knowledge)
instead of ours, and prints one JSON line the same way.
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
from collections.abc import AsyncIterator
from typing import Any, Final

from connectrpc.client import ConnectClient
from connectrpc.compat import google_protobuf_binary_codec
from pyqwest import Client as HTTPClient
from pyqwest import HTTPTransport, HTTPVersion

from ._common import (
    ECHO_TEXT,
    SERVER_LIFETIME,
    AsyncCall,
    LoadResult,
    Tally,
    pin,
    run_asyncio_load,
)
from ._peer_app import BIDI, ECHO, SERVER_STREAM, EchoApplication
from .bench_pb2 import EchoRequest, StreamRequest

UVICORN_HTTP: Final = "httptools" if importlib.util.find_spec("httptools") else "h11"
"""The HTTP/1.1 parser uvicorn uses here: httptools (C) if installed, else h11."""

SERVERS: Final = ("uvicorn", "pyvoy")
RPCS: Final = ("unary", "server-stream", "bidi")

# --- the servers --------------------------------------------------------------


async def _stdin_ends() -> None:
    """Return when stdin ends; never, if it is a terminal or /dev/null."""
    mode = os.fstat(sys.stdin.fileno()).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        await asyncio.Event().wait()  # only signals stop the server
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while await reader.read(4096):
        pass


async def _until_told_to_stop() -> None:
    """Return on stdin's end, SIGTERM, SIGINT or the server's lifetime, whichever first."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.call_later(SERVER_LIFETIME, stop.set)
    watcher = asyncio.create_task(_stdin_ends())
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([watcher, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        waiter.cancel()


async def serve_uvicorn() -> None:
    """connectrpc's ASGI app on uvicorn, HTTP/1.1."""
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server without its signal handling, which re-raises the signal on exit."""

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield

    config = uvicorn.Config(
        EchoApplication(),
        lifespan="off",
        http=UVICORN_HTTP,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = Server(config)
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(sock.getsockname()[1], flush=True)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stopping = asyncio.create_task(_until_told_to_stop())
    await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving


async def serve_pyvoy() -> None:
    """connectrpc's ASGI app in Envoy (pyvoy): HTTP/1.1 and h2c on one port."""
    from pyvoy import PyvoyServer  # type: ignore[import-not-found, unused-ignore]

    server = PyvoyServer(
        "benchmarks._peer_app:app",
        address="127.0.0.1",
        port=0,
        lifespan=False,
        log_level="error",
        additional_envoy_args=["--concurrency", "1"],
        stdout=None,
        stderr=None,
    )
    async with server:
        process = server._process  # the Envoy child: where the server's CPU time goes
        pid = process.pid if process is not None else os.getpid()
        print(server.listener_port, pid, flush=True)
        waiting = asyncio.create_task(server.wait())
        stopping = asyncio.create_task(_until_told_to_stop())
        await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()


# --- the load generator -------------------------------------------------------

Call = AsyncCall


@contextlib.asynccontextmanager
async def open_caller(
    url: str, http: str, rpc: str, count: int, tally: Tally
) -> AsyncIterator[Call]:
    """A zero-argument coroutine function making one call (or one bidi round trip).

    Server-stream messages are counted into ``tally``.
    """
    version = HTTPVersion.HTTP2 if http == "2" else HTTPVersion.HTTP1
    async with HTTPTransport(http_version=version) as transport:
        client = ConnectClient(
            url,
            codec=google_protobuf_binary_codec(),
            send_compression=None,
            http_client=HTTPClient(transport),
        )
        if rpc == "unary":
            request = EchoRequest(text=ECHO_TEXT)
            yield lambda: client.execute_unary(request=request, method=ECHO)
        elif rpc == "server-stream":
            stream_request = StreamRequest(text=ECHO_TEXT, count=count)

            async def stream() -> Any:
                received, last = 0, None
                async for message in client.execute_server_stream(
                    request=stream_request, method=SERVER_STREAM
                ):
                    last = message
                    received += 1
                    tally.messages += 1
                if received != count:
                    raise RuntimeError(f"the stream ended after {received} of {count} messages")
                return last

            yield stream
        elif rpc == "bidi":
            # Full duplex: each request goes out only once the previous answer is in.
            outbox: asyncio.Queue[EchoRequest | None] = asyncio.Queue()

            async def requests() -> AsyncIterator[EchoRequest]:
                while (message := await outbox.get()) is not None:
                    yield message

            responses = aiter(client.execute_bidi_stream(request=requests(), method=BIDI))
            request = EchoRequest(text=ECHO_TEXT)

            async def round_trip() -> Any:
                await outbox.put(request)
                return await anext(responses)

            try:
                yield round_trip
            finally:
                await outbox.put(None)
                async for _ in responses:
                    pass
        else:
            raise ValueError(f"rpc must be one of {', '.join(RPCS)}, not {rpc!r}")


async def _load(args: argparse.Namespace) -> LoadResult:
    tally = Tally()
    async with open_caller(args.url, args.http, args.rpc, args.count, tally) as call:
        return await run_asyncio_load(
            call,
            concurrency=args.concurrency,
            warmup=args.warmup,
            duration=args.duration,
            server_pid=args.server_pid,
            tally=tally,
        )


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._peer")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve EchoService on a free loopback port")
    serve.add_argument("--server", choices=SERVERS, default="uvicorn")
    load = commands.add_parser("load", help="call the EchoService at URL in a closed loop")
    load.add_argument("url")
    load.add_argument("--http", choices=("1.1", "2"), default="1.1")
    load.add_argument("--rpc", choices=RPCS, default="unary")
    load.add_argument("--count", type=int, default=1000, help="messages per server stream")
    load.add_argument("--concurrency", type=int, default=1)
    load.add_argument("--warmup", type=float, default=1.0)
    load.add_argument("--duration", type=float, default=3.0)
    load.add_argument("--server-pid", type=int, default=None, help="read its CPU time")
    args = parser.parse_args(argv)
    pin(args.cpu)
    if args.command == "serve":
        asyncio.run(serve_pyvoy() if args.server == "pyvoy" else serve_uvicorn())
        return
    result = asyncio.run(_load(args))
    result.dump()
    # pyqwest hands each response to asyncio from a tokio thread; if the
    # interpreter begins to finalize while such a thread waits for the GIL,
    # CPython (before 3.14) ends it with pthread_exit, whose unwinding through
    # Rust frames aborts the process. The result is written: skip finalizing.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
