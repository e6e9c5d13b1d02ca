"""What the benchmarks share in the parent: the settings, the servers, and one measured run."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ._common import CALL_TIMEOUT, LoadResult
from ._procs import ChildFailed, Children, ServerProcess

PEER = "connectrpc"
"""The load-generator kind that runs connectrpc's client (in ``benchmarks._peer``)."""


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


@dataclass
class Bench:
    """A benchmark session: its settings, its children, and the servers started so far."""

    settings: Settings
    children: Children
    servers: dict[str, ServerProcess]

    def server(self, name: str) -> ServerProcess:
        """The server ``"trioplugin"`` or ``"connectrpc"``, started on first use."""
        server = self.servers.get(name)
        if server is None:
            cpu = _cpu_args(self.settings.server_cpu)
            if name == "trioplugin":
                server = self.children.start_server(name, "_server", cpu)
            else:
                server = self.children.start_server(name, "_peer", [*cpu, "serve"])
            self.servers[name] = server
        return server

    def measure(
        self, kind: str, server: ServerProcess, concurrency: int, interceptors: str = "none"
    ) -> LoadResult:
        """One run: a fresh load-generator process of ``kind`` against ``server``.

        ``interceptors`` names the chain the calls go through (``benchmarks._load``'s
        ``--interceptors``); only our load generator takes one.
        """
        settings = self.settings
        common = [
            "--concurrency",
            str(concurrency),
            "--warmup",
            str(settings.warmup),
            "--duration",
            str(settings.duration),
            "--server-pid",
            str(server.pid),
        ]
        cpu = _cpu_args(settings.load_cpu)
        if interceptors != "none":
            if kind == PEER:
                raise ValueError("the connectrpc load generator takes no interceptors")
            common += ["--interceptors", interceptors]
        if kind == PEER:
            module, args = "_peer", [*cpu, "load", server.url, *common]
        else:
            module, args = "_load", [server.url, "--mode", kind, *common, *cpu]
        timeout = settings.warmup + settings.duration + CALL_TIMEOUT + 60
        try:
            output = self.children.run(module, args, timeout)
        finally:
            self.children.check_servers()  # a dead server explains a failed run best
        lines = output.strip().splitlines()
        if not lines:
            raise ChildFailed(f"{module} {' '.join(args)} printed nothing")
        return LoadResult.parse(lines[-1])


def _cpu_args(cpu: int | None) -> list[str]:
    return [] if cpu is None else ["--cpu", str(cpu)]


def progress(message: str) -> None:
    """A line on stderr, so that stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)
