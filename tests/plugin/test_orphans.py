"""A host killed with SIGKILL leaves no plugin behind: the plugin sees it go and exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import trio

from tests.plugin.conftest import ROOT


async def wait_gone(pid: int) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)


async def test_a_plugin_outlives_its_killed_host_by_no_more_than_seconds() -> None:
    host = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.plugin.host_program"],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        assert host.stdout is not None
        with trio.fail_after(20):
            line = b""
            while not line.endswith(b"\n"):  # ends: the host prints the pid, or the deadline
                chunk = await host.stdout.receive_some(64)
                assert chunk, "the host exited before launching its plugin"
                line += chunk
        plugin_pid = int(line)
        assert os.getpgid(plugin_pid) == plugin_pid  # a process group of its own
        host.send_signal(signal.SIGKILL)
        await host.wait()
        with trio.fail_after(5):
            await wait_gone(plugin_pid)  # it noticed: stdin ended, the host's pidfd fired
    finally:
        with trio.CancelScope(shield=True):
            host.kill()
            await host.wait()
            if host.stdout is not None:
                await host.stdout.aclose()
