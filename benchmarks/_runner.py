"""What the benchmarks share in the parent: the settings, the servers, and one measured run."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ._common import CALL_TIMEOUT, LoadResult
from ._procs import ChildFailed, Children, ServerProcess

PEER = "connectrpc"
"""The load-generator kind that runs connectrpc's client over HTTP/1.1 (``benchmarks._peer``)."""
PEER_H2 = "connectrpc-h2"
"""connectrpc's client over h2c (prior knowledge), for the server on pyvoy."""
GRPC_SYNC = "grpc-sync"
GRPC_AIO = "grpc-aio"

SERVERS: Final = {
    # name: (module, arguments after --cpu, the package it needs or "")
    "trioplugin": ("_server", [], ""),
    "connectrpc": ("_peer", ["serve", "--server", "uvicorn"], "uvicorn"),
    "pyvoy": ("_peer", ["serve", "--server", "pyvoy"], "pyvoy"),
    GRPC_SYNC: ("_grpc", ["serve", "--mode", "sync"], "grpc"),
    GRPC_AIO: ("_grpc", ["serve", "--mode", "aio"], "grpc"),
}

_PACKAGES: Final = {"pyvoy": "pyvoy", "grpc": "grpcio", "uvicorn": "uvicorn"}


def missing(server: str) -> str | None:
    """Why the peer ``server`` cannot run here (one line saying how to install it), or None."""
    module = SERVERS[server][2]
    if not module or importlib.util.find_spec(module) is not None:
        return None
    return (
        f"{_PACKAGES[module]} is not installed: `pip install -e '.[bench]'` "
        f"(or `pip install {_PACKAGES[module]}`) adds it"
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """How long and how often to measure, and on which CPUs."""

    duration: float
    warmup: float
    runs: int
    concurrencies: Sequence[int]
    actors: int
    server_cpu: int | None
    load_cpu: int | None
    stream_count: int = 1000
    quick: bool = False
    """``--quick``: a smoke run (benchmarks with their own lengths shorten them too)."""


@dataclass
class Bench:
    """A benchmark session: its settings, its children, and the servers started so far."""

    settings: Settings
    children: Children
    servers: dict[str, ServerProcess]
    goals: list[list[str]] = field(default_factory=list)
    """Rows of the goals table, added by the benchmarks that measure a goal."""

    def server(self, name: str) -> ServerProcess:
        """The server ``name`` (a key of :data:`SERVERS`), started on first use."""
        server = self.servers.get(name)
        if server is None:
            module, args, _ = SERVERS[name]
            cpu = _cpu_args(self.settings.server_cpu)
            server = self.children.start_server(name, module, [*cpu, *args])
            self.servers[name] = server
        return server

    def measure(
        self,
        kind: str,
        server: ServerProcess,
        concurrency: int,
        interceptors: str = "none",
        rpc: str = "unary",
    ) -> LoadResult:
        """One run: a fresh load-generator process of ``kind`` against ``server``.

        ``interceptors`` names the chain the calls go through (``benchmarks._load``'s
        ``--interceptors``); only our load generator takes one. ``rpc`` is
        ``unary``, ``server-stream`` (a stream of ``stream_count`` messages
        per call) or ``bidi`` (one round trip per call, over one stream);
        grpcio's load generator does only unary.
        """
        settings = self.settings
        common = self._closed_loop_args(server, concurrency)
        cpu = _cpu_args(settings.load_cpu)
        if interceptors != "none":
            if kind not in ("h1", "h2", "actor"):
                raise ValueError(f"the {kind} load generator takes no interceptors")
            common += ["--interceptors", interceptors]
        streams = ["--rpc", rpc, "--count", str(settings.stream_count)]
        if kind in (PEER, PEER_H2):
            http = "2" if kind == PEER_H2 else "1.1"
            module, args = "_peer", [*cpu, "load", server.url, "--http", http, *streams, *common]
        elif kind in (GRPC_SYNC, GRPC_AIO):
            if rpc != "unary":
                raise ValueError("the grpcio load generator makes only unary calls")
            mode = kind.removeprefix("grpc-")
            module, args = "_grpc", [*cpu, "load", server.url, "--mode", mode, *common]
        else:
            module, args = "_load", [server.url, "--mode", kind, *streams, *common, *cpu]
        timeout = settings.warmup + settings.duration + CALL_TIMEOUT + 60
        try:
            output = self.children.run(module, args, timeout)
        finally:
            self.children.check_servers()  # a dead server explains a failed run best
        lines = output.strip().splitlines()
        if not lines:
            raise ChildFailed(f"{module} {' '.join(args)} printed nothing")
        return LoadResult.parse(lines[-1])

    def measure_interleaved(
        self, server: ServerProcess, concurrency: int, variants: Sequence[tuple[str, str]]
    ) -> list[LoadResult]:
        """One run of several of our unary callers in turns, in one process (``--interleave``).

        ``variants`` are (kind, interceptors) pairs, ``h1``, ``h2`` or
        ``actor`` with an ``--interceptors`` name; each is measured for the
        run's duration in all, in turns of a quarter second, so their ratios
        do not depend on when the machine was fast.
        """
        settings = self.settings
        args = [
            server.url,
            "--interleave",
            ",".join(f"{kind}:{chain}" for kind, chain in variants),
            *self._closed_loop_args(server, concurrency),
            *_cpu_args(settings.load_cpu),
        ]
        timeout = (settings.warmup + settings.duration + CALL_TIMEOUT) * len(variants) + 60
        try:
            output = self.children.run("_load", args, timeout)
        finally:
            self.children.check_servers()
        lines = output.strip().splitlines()
        if not lines:
            raise ChildFailed(f"_load {' '.join(args)} printed nothing")
        return LoadResult.parse_all(lines[-1])

    def _closed_loop_args(self, server: ServerProcess, concurrency: int) -> list[str]:
        settings = self.settings
        return [
            "--concurrency",
            str(concurrency),
            "--warmup",
            str(settings.warmup),
            "--duration",
            str(settings.duration),
            "--server-pid",
            str(server.pid),
        ]


def _cpu_args(cpu: int | None) -> list[str]:
    return [] if cpu is None else ["--cpu", str(cpu)]


def progress(message: str) -> None:
    """A line on stderr, so that stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)
