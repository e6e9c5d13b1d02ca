"""A real etcd on 127.0.0.1 for the tests: started on free ports, stopped and started again.

Also what the tests do with it again and again: a source of a prefix, a
registration (in this process, or in a child process that can be killed so
that its lease expires), and the next answer of a watch, bounded in time.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.discovery._ports import free_port
from trioplugin.discovery import Endpoints
from trioplugin.discovery.etcd import EtcdRegistration, EtcdSource, open_etcd_registration

ETCD = shutil.which("etcd")
MISSING = "no etcd binary on PATH (Debian: apt-get install etcd-server; .ci/run installs it)"
STARTUP = 15.0
"""How long a start may take before the tests fail, in seconds."""


class EtcdServer:
    """One etcd member with its own data directory; its ports stay the same across restarts."""

    def __init__(self, data_dir: Path) -> None:
        assert ETCD is not None, MISSING
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.with_suffix(".log")

    def start(self) -> None:
        """Start etcd and return once it answers its /health (bounded by STARTUP)."""
        assert self.process is None
        peer = f"http://127.0.0.1:{self.peer_port}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(ETCD),
                    "--name=default",
                    f"--data-dir={self.data_dir}",
                    f"--listen-client-urls={self.url}",
                    f"--advertise-client-urls={self.url}",
                    f"--listen-peer-urls={peer}",
                    f"--initial-advertise-peer-urls={peer}",
                    f"--initial-cluster=default={peer}",
                    "--log-level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if json.load(response).get("health") == "true":
                        return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.05)  # polling another process's readiness, bounded by the deadline
        self.stop()
        raise RuntimeError(f"etcd did not answer on {self.url} within {STARTUP} s: {self.tail()}")

    def stop(self) -> None:
        """Stop etcd (SIGTERM, then SIGKILL) and reap it."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One call of etcd's JSON API, as another client would make it."""
        request = urllib.request.Request(
            f"{self.url}/v3/{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer: dict[str, Any] = json.load(response)
            return answer

    def put(self, key: str, value: str | bytes, lease: int = 0) -> int:
        """Put a key; the revision it made."""
        data = value.encode() if isinstance(value, str) else value
        body = {"key": _b64(key.encode()), "value": _b64(data), "lease": str(lease)}
        return int(self.call("kv/put", body)["header"]["revision"])

    def get(self, key: str) -> bytes | None:
        kvs = self.call("kv/range", {"key": _b64(key.encode())}).get("kvs", [])
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def delete(self, key: str) -> None:
        self.call("kv/deleterange", {"key": _b64(key.encode())})

    def grant(self, ttl: int) -> int:
        return int(self.call("lease/grant", {"TTL": str(ttl)})["ID"])

    def revoke(self, lease: int) -> None:
        self.call("lease/revoke", {"ID": str(lease)})

    def compact(self, revision: int) -> None:
        self.call("kv/compaction", {"revision": str(revision), "physical": True})

    def source(self, prefix: str) -> EtcdSource:
        """An EtcdSource of ``prefix`` on this etcd."""
        return EtcdSource(prefix, endpoints=[self.url])

    def register(
        self,
        prefix: str,
        key_name: str,
        url: str,
        *,
        ttl: int = 10,
        priority: int = 0,
        weight: int = 1,
    ) -> AbstractAsyncContextManager[EtcdRegistration]:
        """``open_etcd_registration`` of ``url`` as ``prefix + key_name`` on this etcd."""
        return open_etcd_registration(
            prefix, key_name, url, ttl=ttl, endpoints=[self.url], priority=priority, weight=weight
        )

    async def register_elsewhere(
        self, nursery: trio.Nursery, prefix: str, key_name: str, url: str, *, ttl: int = 2
    ) -> trio.Process:
        """A child process that registers ``url`` and holds the lease until it is killed.

        Returns once the process runs (not once it registered: watch for the
        key). Killed with SIGKILL it cannot revoke, so its key goes when the
        lease's ``ttl`` runs out; ``nursery`` reaps it.
        """
        command = [sys.executable, "-c", _HOLDER, prefix, key_name, url, str(ttl), self.url]
        process: trio.Process = await nursery.start(
            partial(trio.run_process, command, stdout=subprocess.DEVNULL, check=False)
        )
        return process


_HOLDER = """
import sys, trio
from trioplugin.discovery.etcd import open_etcd_registration

async def main(prefix, key_name, url, ttl, etcd):
    async with open_etcd_registration(prefix, key_name, url, ttl=int(ttl), endpoints=[etcd]):
        print("registered", flush=True)
        await trio.sleep_forever()

trio.run(main, *sys.argv[1:])
"""


@contextmanager
def running_etcd(data_dir: Path) -> Iterator[EtcdServer]:
    """An etcd started on ``data_dir`` for the block and stopped after; skips without etcd."""
    if ETCD is None:
        pytest.skip(MISSING)
    server = EtcdServer(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def next_answer(
    answers: trio.MemoryReceiveChannel[Endpoints], within: float = 5
) -> Endpoints:
    """The watch's next answer, within ``within`` seconds (or the test fails)."""
    with trio.fail_after(within):
        return await answers.receive()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def endpoint_value(url: str, **fields: object) -> str:
    return json.dumps({"url": url, **fields})
