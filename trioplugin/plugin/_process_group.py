"""A plugin process in a process group of its own: signalled as a group, reaped once.

A plugin may start helpers of its own; starting it as the leader of a new
session (so a new process group) lets the host signal all of them at once,
and keeps a Ctrl-C meant for the host's terminal from reaching them first.
"""

from __future__ import annotations

import contextlib
import os
import signal

import trio


def signal_group(process: trio.Process, signum: int) -> None:
    """Send ``signum`` to the process group ``process`` leads; nothing if all are gone.

    Safe while ``process`` is not reaped (its pid, which is the group's id,
    cannot be reused until then); after it is reaped, a last sweep of the
    group it left behind is what the caller may still send.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def describe_exit(returncode: int) -> str:
    """``exited with status 3`` or ``killed by SIGKILL``, from a returncode."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by {name}"
