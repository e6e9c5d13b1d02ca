"""How a plugin notices that its host is gone, however the host ended.

Two signs, either enough: the host holds the write end of the plugin's
stdin, so its end (EOF) means the host's process is gone, even after a
SIGKILL; and the host's process id, watched through a pidfd where Linux
has them, else polled. ``PR_SET_PDEATHSIG`` would not do: trio starts
processes from a worker thread, and the signal fires when that thread
exits, about ten seconds after the start, not when the host dies.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Final

import trio

POLL_INTERVAL: Final = 1.0
"""How often the host's pid is checked where there are no pidfds."""


async def wait_until_host_gone(*, host_pid: int | None, watch_stdin: bool) -> str:
    """Return, with the reason, once the host is gone; never, if there is nothing to watch."""
    async with trio.open_nursery() as nursery:
        gone: list[str] = []

        async def watch(sign: str, wait: Callable[[], Awaitable[None]]) -> None:
            await wait()
            gone.append(sign)
            nursery.cancel_scope.cancel()

        if watch_stdin:
            nursery.start_soon(watch, "its host closed the plugin's stdin", _stdin_closed)
        if host_pid is not None:
            nursery.start_soon(
                watch, f"its host (pid {host_pid}) exited", lambda: _process_gone(host_pid)
            )
        if not watch_stdin and host_pid is None:
            await trio.sleep_forever()
    return gone[0]


async def _stdin_closed() -> None:
    # A duplicate, so closing the stream leaves fd 0 to the program.
    async with trio.lowlevel.FdStream(os.dup(0)) as stdin:
        with contextlib.suppress(trio.BrokenResourceError, OSError):
            while await stdin.receive_some(4096):  # ends: at EOF, or on an error
                pass


async def _process_gone(pid: int) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfds here: poll
        while _alive(pid):  # noqa: ASYNC110 - nothing to wait on but time; ends: when it is gone
            await trio.sleep(POLL_INTERVAL)
        return
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
