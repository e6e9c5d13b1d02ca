"""A real dnsmasq on 127.0.0.1 for the DNS sources' tests; they skip without the binary."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.discovery._ports import free_port

DNSMASQ = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")


class Dnsmasq:
    """One dnsmasq serving ``example.test`` (anything else under it is NXDOMAIN).

    SRV records live in its configuration file, which dnsmasq reads at start
    only (SIGHUP re-reads hosts files, not the configuration), so
    :meth:`serve` with new records restarts it on the same port. Address
    records are host-record lines of the same file.
    """

    def __init__(self, directory: Path, ttl: int) -> None:
        self.directory = directory
        self.ttl = ttl
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None

    def serve(self, *lines: str) -> None:
        """(Re)start serving the given configuration lines (srv-host=..., host-record=...)."""
        self.stop()
        conf = self.directory / "dnsmasq.conf"
        conf.write_text("\n".join(["local=/example.test/", *lines]) + "\n")
        assert DNSMASQ is not None
        self.process = subprocess.Popen(
            [
                DNSMASQ,
                "--no-daemon",
                f"--port={self.port}",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--pid-file",  # none
                f"--user={pwd.getpwuid(os.getuid()).pw_name}",
                f"--group={grp.getgrgid(os.getgid()).gr_name}",
                f"--conf-file={conf}",
                f"--local-ttl={self.ttl}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        seen = []
        # dnsmasq binds its sockets before it logs "started": then it answers.
        for line in self.process.stderr:
            seen.append(line)
            if "started" in line:
                return
        self.process.wait(timeout=10)
        raise RuntimeError(f"dnsmasq did not start: {''.join(seen)}")

    def stop(self) -> None:
        """Stop the server (queries then time out); serve() starts it again."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            assert self.process.stderr is not None
            self.process.stderr.close()
            self.process = None


def _dnsmasq(tmp_path: Path, ttl: int) -> Iterator[Dnsmasq]:
    if DNSMASQ is None:
        pytest.skip("dnsmasq is not installed (apt-get install dnsmasq-base; .ci/run does)")
    server = Dnsmasq(tmp_path, ttl)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[Dnsmasq]:
    """A dnsmasq whose records have a TTL of 7 s (not yet serving: call ``serve``)."""
    yield from _dnsmasq(tmp_path, ttl=7)


@pytest.fixture
def dnsmasq_ttl_1(tmp_path: Path) -> Iterator[Dnsmasq]:
    """A dnsmasq whose records have a TTL of 1 s, for watches that see changes."""
    yield from _dnsmasq(tmp_path, ttl=1)
