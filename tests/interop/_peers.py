"""What the interop tests share: npm peers, a peer's output lines, scripted calls, expectations."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import pytest
import trio

NODE_DIR: Final = Path(__file__).resolve().parent / "node"
"""The npm peers: connect-node (``peer.mjs``) and buf (``buf curl``), pinned in package.json."""
NPM_TIMEOUT: Final = 300.0
"""A cold `npm ci` of the few pinned packages takes a few seconds; a slow registry far longer."""
PEER_START_TIMEOUT: Final = 20.0
"""A peer process starts in well under a second; a loaded CI box is slower."""
PEER_STOP_TIMEOUT: Final = 10.0


def install_npm_peers() -> None:
    """Install the pinned npm packages in NODE_DIR (``npm ci``), or skip saying why."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip(f"node and npm, which install and run the npm peers in {NODE_DIR}, are missing")
    locked = (NODE_DIR / "package-lock.json").exists()
    args = ["ci" if locked else "install", "--no-audit", "--no-fund", "--prefer-offline"]
    shown = " ".join(["npm", *args])
    try:
        result = subprocess.run(
            [npm, *args],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"`{shown}` in {NODE_DIR} took over {NPM_TIMEOUT:.0f} s")
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        tail = "\n".join(output.splitlines()[-20:])
        pytest.skip(f"`{shown}` in {NODE_DIR} failed ({result.returncode}):\n{tail}")


class Lines:
    """Reads newline-terminated lines from a peer's stdout."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self, limit: int = 64 * 1024) -> bytes:
        """The next line, without its newline."""
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some(4096)
            if not chunk:
                raise AssertionError(f"the peer closed its stdout after {self._buffer!r}")
            self._buffer += chunk
            if len(self._buffer) > limit:
                raise AssertionError(f"no line from the peer, only {self._buffer[:200]!r}...")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line


@asynccontextmanager
async def peer_server(
    command: Sequence[str], cwd: Path, who: str
) -> AsyncIterator[tuple[int, Lines]]:
    """Run a peer's ``serve`` mode for the block: its port (its first line) and its stdout.

    Leaving the block closes the peer's stdin, and it must then exit 0 promptly;
    whatever happens, the process is killed and reaped before the block ends.
    """
    process = await trio.lowlevel.open_process(
        list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        lines = Lines(process.stdout)
        with trio.fail_after(PEER_START_TIMEOUT):
            port = int(await lines.next(limit=1024))
        yield port, lines
        await process.stdin.aclose()
        with trio.fail_after(PEER_STOP_TIMEOUT):
            returncode = await process.wait()
        assert returncode == 0, f"the {who} server exited with {returncode}"
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            await process.stdin.aclose()
            await process.stdout.aclose()


async def run_scripted_calls(
    command: Sequence[str], cwd: Path, who: str, cases: Sequence[str]
) -> dict[str, Any]:
    """Run a peer's ``call`` mode for ``cases``; each case's JSON result, by case.

    The peer prints one JSON object per case (with a ``case`` key), in order,
    and exits 0; anything else fails the test with the peer's stderr.
    """
    result = await trio.run_process(
        [*command, *cases], cwd=cwd, capture_stdout=True, capture_stderr=True, check=False
    )
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 0, f"the {who} client failed:\n{stderr}"
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    by_case = {line.pop("case"): line for line in lines}
    assert list(by_case) == list(cases), stderr
    return by_case


def echoed(
    text: str, version: str, index: int = 0, seen: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """An EchoResponse as a peer reports it."""
    return {
        "text": text,
        "index": index,
        "payload_size": 0,
        "seen": {"http-version": version, **(seen or {})},
    }


def failure(code: str, text: str) -> dict[str, Any]:
    """The error (with its FailureInfo detail) EchoService sends when asked to fail."""
    return {
        "code": code,
        "message": f"asked to fail: {text}",
        "details": [{"type": "trioplugin.test.v1.FailureInfo", "reason": text, "attempt": 0}],
    }
