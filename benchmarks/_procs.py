"""Child processes: servers that live for the whole benchmark, and one-shot measurements.

Every child is a ``python -m benchmarks.<module>`` of this repository, in a
session of its own (so Ctrl-C reaches only the parent, which then stops its
children in order). Servers are stopped by closing their stdin, then
SIGTERM, then SIGKILL; a server whose parent dies sees its stdin end and
exits too. One-shot children are waited for with a timeout and killed past it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

REPO: Final = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT: Final = 30.0


class ChildFailed(RuntimeError):
    """A child process failed, timed out, or printed something unexpected."""


def _command(module: str, args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", f"benchmarks.{module}", *args]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{path}" if path else str(REPO)
    return env


def _tail(log: IO[bytes], limit: int = 3000) -> str:
    log.seek(0)
    text = log.read().decode("utf-8", "replace")
    return text[-limit:]


@dataclass
class ServerProcess:
    """A running server child: where it listens and its process id."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]
    cpu_pid: int | None = None
    """The process whose CPU time is the server's, if not this one (pyvoy's Envoy child)."""

    @property
    def pid(self) -> int:
        """The process to read the server's CPU time from."""
        return self.cpu_pid or self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Children:
    """Starts children and, on leaving the ``with`` block, stops every one still running."""

    def __init__(self) -> None:
        self._servers: list[ServerProcess] = []
        self._running: set[subprocess.Popen[bytes]] = set()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start_server(self, name: str, module: str, args: Sequence[str]) -> ServerProcess:
        """Start a server child and wait until it prints the port it listens on.

        The line is the port, or the port and the id of the process that does the
        serving (a child of the child: its CPU time is the server's).
        """
        return self._ready(name, *self._spawn(module, args))

    def start_servers(
        self, name: str, module: str, args: Sequence[str], count: int
    ) -> list[ServerProcess]:
        """Start ``count`` servers alike, all at once, then wait for each one's port.

        Their start-ups (mostly imports) overlap, on as many CPUs as there are.
        """
        spawned = [self._spawn(module, args) for _ in range(count)]
        servers: list[ServerProcess] = []
        try:
            for number, (process, log) in enumerate(spawned, 1):
                servers.append(self._ready(f"{name} {number}", process, log))
        except BaseException:
            for process, log in spawned[len(servers) :]:
                self._stop(process, patience=0.0)
                log.close()
            raise
        return servers

    def discard(self, servers: Sequence[ServerProcess]) -> None:
        """Kill these servers (SIGKILL to each one's process group) and forget them.

        For servers a benchmark killed on purpose, or is done with and which
        hold nothing to save: killed at once, they do not take turns on their
        CPU to tear down an interpreter each. :meth:`check_servers` no longer
        looks at them.
        """
        for server in servers:
            if server in self._servers:
                self._servers.remove(server)
            if server.process.poll() is None:
                try:
                    os.killpg(server.process.pid, signal.SIGKILL)
                except OSError:
                    server.process.kill()
        for server in servers:
            self._stop(server.process, patience=5.0)
            for pipe in (server.process.stdin, server.process.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            server.log.close()

    def _spawn(self, module: str, args: Sequence[str]) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
        log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's, closed by close()
        process = subprocess.Popen(
            _command(module, args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=REPO,
            env=_environment(),
            start_new_session=True,
        )
        self._running.add(process)
        return process, log

    def _ready(self, name: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> ServerProcess:
        """Wait for the port line of a server just spawned; stop it if none comes."""
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT)
        line = process.stdout.readline() if ready else b""
        fields = line.split()
        if not 1 <= len(fields) <= 2 or not all(field.isdigit() for field in fields):
            self._stop(process, patience=0.0)
            raise ChildFailed(f"the {name} server did not start: {_tail(log)}")
        cpu_pid = int(fields[1]) if len(fields) == 2 else None
        server = ServerProcess(name, process, int(fields[0]), log, cpu_pid)
        self._servers.append(server)
        return server

    def run(self, module: str, args: Sequence[str], timeout: float) -> str:
        """Run a one-shot child to its end; return its stdout."""
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(
                _command(module, args),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=REPO,
                env=_environment(),
                start_new_session=True,
            )
            self._running.add(process)
            try:
                out, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise ChildFailed(
                    f"{module} {' '.join(args)} did not finish in {timeout:.0f} s: {_tail(log)}"
                ) from None
            finally:
                self._stop(process, patience=0.0)
            if process.returncode != 0:
                raise ChildFailed(
                    f"{module} {' '.join(args)} exited with {process.returncode}: {_tail(log)}"
                )
            return out.decode()

    def check_servers(self) -> None:
        """Raise if a server has died (its log says why)."""
        for server in self._servers:
            if server.process.poll() is not None:
                raise ChildFailed(
                    f"the {server.name} server exited with {server.process.returncode}: "
                    f"{_tail(server.log)}"
                )

    def close(self) -> None:
        """Stop every child still running: servers by closing stdin, the rest by signal."""
        for server in self._servers:
            if server.process.stdin is not None:
                with contextlib.suppress(OSError):
                    server.process.stdin.close()
        for process in list(self._running):
            self._stop(process, patience=3.0)
        for server in self._servers:
            if server.process.stdout is not None:
                server.process.stdout.close()
            server.log.close()
        self._servers.clear()

    def _stop(self, process: subprocess.Popen[bytes], patience: float) -> None:
        """Wait ``patience`` seconds for the child to end, then SIGTERM it, then SIGKILL it.

        The SIGKILL goes to the child's process group (its session, which it
        leads): a server's own children (pyvoy's Envoy) end with it.
        """

        def kill() -> None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                process.kill()

        steps = ((None, patience), (process.terminate, 2.0), (kill, 5.0))
        for send_signal, grace in steps:
            if process.poll() is not None:
                break
            if send_signal is not None:
                send_signal()
            try:
                process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        self._running.discard(process)
