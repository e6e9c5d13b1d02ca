"""The trioplugin server process: ``python -m benchmarks._server [--cpu N]``.

Serves EchoService (HTTP/1.1 and h2c on one loopback port), prints the port
as one line on stdout, and serves until its stdin ends (the parent closes it,
or dies), SIGINT, SIGTERM, or :data:`~benchmarks._common.SERVER_LIFETIME`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import trio

from trioplugin import ServerLimits, ServerOptions
from trioplugin.rpc import open_connect_server

from ._common import SERVER_LIFETIME, pin
from ._service import ECHO, Echo


async def _until_stdin_ends() -> None:
    async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as stdin:
        while await stdin.receive_some(4096):
            pass


async def _until_signalled() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            return


async def serve() -> None:
    """Serve until told to stop (see the module docstring)."""
    async with open_connect_server(
        {ECHO: Echo()}, ServerOptions(limits=ServerLimits(grace_period=1.0))
    ) as server:
        print(server.port, flush=True)
        async with trio.open_nursery() as nursery:
            nursery.cancel_scope.deadline = trio.current_time() + SERVER_LIFETIME

            async def stop_after(wait: Callable[[], Awaitable[None]]) -> None:
                await wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop_after, _until_stdin_ends)
            nursery.start_soon(stop_after, _until_signalled)


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    args = parser.parse_args(argv)
    pin(args.cpu)
    trio.run(serve)


if __name__ == "__main__":
    main()
