"""One plugin process on the host's side: started, read until its handshake line, stopped.

Starting reads the plugin's stdout for the handshake line under the start
deadline and forwards its stderr to ``logging`` from the first byte.
Whatever goes wrong before the line (the program is missing, it exits, it
prints something else first, it says nothing in time) is a
:class:`PluginStartError` that says what happened, with the last lines the
plugin wrote on stderr, and the process is killed and reaped.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import trio

from ..protocol import Code, ConnectError
from ._certificates import Identity
from ._config import CORE_PROTOCOL_VERSION, listed_versions
from ._env import connect_plugin_go_environment, host_environment
from ._go_style import free_port, until_answering
from ._handshake_line import HandshakeLine, HandshakeLineError, LineBuffer
from ._launch_options import LaunchOptions
from ._logs import LogForwarder
from ._process_group import describe_exit, signal_group
from ._start_error import PluginStartError

STDERR_TAIL: Final = 20
"""How many of a plugin's last stderr lines a start-up error quotes."""

PUMP_DRAIN: Final = 1.0
"""After the process is reaped, how long its last output may take to be read and logged."""

EXIT_WAIT: Final = 1.0
"""After stdout ends, how long a starting plugin is given to exit, so its status can be told."""


class PluginProcess:
    """A started plugin process: where it listens, its exit, the ladder that stops it."""

    def __init__(
        self,
        name: str,
        process: trio.Process,
        line: HandshakeLine,
        tail: collections.deque[str],
        pumps_done: Sequence[trio.Event],
    ) -> None:
        self.name = name
        self.process = process
        self.line = line
        self._tail = tail
        self._pumps_done = pumps_done

    async def wait_finished(self) -> None:
        """Return once its stdout and stderr are read to their end (it exited, or closed them)."""
        for done in self._pumps_done:
            await done.wait()

    @property
    def url(self) -> str:
        """Where the plugin serves Connect."""
        return self.line.url

    @property
    def pid(self) -> int:
        """The plugin's process id (also its process group's)."""
        return self.process.pid

    def describe_exit(self) -> str:
        """How the process ended, with its last stderr lines; only once it has."""
        returncode = self.process.returncode
        if returncode is None:
            return "is running"
        return describe_exit(returncode) + _tail_text(self._tail)

    async def stop(
        self,
        options: LaunchOptions,
        shutdown_call: Callable[[], Awaitable[None]] | None,
    ) -> None:
        """Stop the plugin: Shutdown call, grace, SIGTERM, grace, SIGKILL; then reap it.

        Bounded by the two graces plus a moment; safe to call when the
        process has already exited. Run it shielded when the host is
        being cancelled.
        """
        process = self.process
        if process.returncode is None:
            unheard = False
            if shutdown_call is not None:
                with trio.move_on_after(min(1.0, options.shutdown_grace) or 0.1):
                    try:
                        await shutdown_call()
                    except ConnectError as exc:
                        unheard = exc.code in (Code.UNIMPLEMENTED, Code.NOT_FOUND)
                    except Exception:  # it may be going already: its grace will tell
                        pass
            await _close_quietly(process.stdin)  # our plugins read this as "the host is gone"
            # One that cannot have heard (no PluginControl, and no watch on its stdin, as
            # a plain connect-plugin-go plugin) gets SIGTERM at once.
            if shutdown_call is None:
                unheard = options.handshake == "connect-plugin-go"
            with trio.move_on_after(0 if unheard else options.shutdown_grace):
                await process.wait()
        if process.returncode is None:
            signal_group(process, signal.SIGTERM)
            with trio.move_on_after(options.terminate_grace):
                await process.wait()
        if process.returncode is None:
            signal_group(process, signal.SIGKILL)
        await process.wait()
        signal_group(process, signal.SIGKILL)  # what the plugin started and left behind
        with trio.move_on_after(PUMP_DRAIN):  # its last log lines, read to the pipes' end
            await self.wait_finished()


async def start_plugin_process(
    name: str,
    argv: Sequence[str],
    options: LaunchOptions,
    nursery: trio.Nursery,
    *,
    identity: Identity | None,
    port: int | None = None,
    unix_socket: str | None = None,
) -> PluginProcess:
    """Start the plugin and read its handshake line, within ``options.start_timeout``.

    ``identity`` is the host's client certificate for automatic mTLS (None
    for h2c); ``port``, the port it is asked to listen on (its last one,
    on a restart); ``unix_socket``, the path it is asked to listen on
    instead, if any.

    The pumps that forward its stderr (and, after the line, its stdout) to
    ``logging`` run in ``nursery`` until the pipes close.

    Raises:
        PluginStartError: it did not start; the process is killed and reaped.
    """
    go_style = options.handshake == "connect-plugin-go"
    if go_style:
        port = port or free_port()
        env = options.environment() | connect_plugin_go_environment(
            host_pid=os.getpid(), port=port, host_url=options.host_url
        )
    else:
        env = options.environment() | host_environment(
            options.config,
            host_pid=os.getpid(),
            client_certificate=None if identity is None else identity.certificate_pem,
            port=port,
            unix_socket=unix_socket,
        )
    try:
        process = await trio.lowlevel.open_process(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
            cwd=options.cwd,
        )
    except OSError as exc:
        raise PluginStartError(
            f"plugin {name!r} could not be started ({argv[0]!r}): {exc}"
        ) from exc
    forwarder = LogForwarder(name)
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
    stderr_done = trio.Event()
    nursery.start_soon(_pump, process.stderr, forwarder, "stderr", tail, None, stderr_done)
    buffer = LineBuffer()
    stdout_done = trio.Event()
    try:
        with trio.fail_after(options.start_timeout):
            if go_style:  # no line: all of stdout is logs, and the port says when it is up
                assert port is not None
                nursery.start_soon(
                    _pump, process.stdout, forwarder, "stdout", None, buffer, stdout_done
                )
                line = await until_answering(name, process, port, options)
            else:
                line = await _read_handshake(name, process, buffer)
                _check_line(name, line, options)
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            signal_group(process, signal.SIGKILL)
            await process.wait()
            signal_group(process, signal.SIGKILL)
            with trio.move_on_after(EXIT_WAIT):  # so the error can quote its last words
                await stderr_done.wait()
        if isinstance(exc, trio.TooSlowError):
            missing = f"did not answer on port {port}" if go_style else "printed no handshake line"
            raise PluginStartError(
                f"plugin {name!r} {missing} within "
                f"{options.start_timeout:g} s (it was killed){_tail_text(tail)}"
            ) from None
        if isinstance(exc, PluginStartError):
            raise PluginStartError(f"{exc}{_tail_text(tail)}") from None
        raise
    if not go_style:
        nursery.start_soon(_pump, process.stdout, forwarder, "stdout", None, buffer, stdout_done)
    return PluginProcess(name, process, line, tail, (stderr_done, stdout_done))


async def _read_handshake(name: str, process: trio.Process, buffer: LineBuffer) -> HandshakeLine:
    assert process.stdout is not None  # opened with a pipe
    while True:  # ends: a line, the end of stdout, or the deadline
        try:
            data = await process.stdout.receive_some(65_536)
            lines = buffer.feed(data)
        except HandshakeLineError as exc:
            raise PluginStartError(f"plugin {name!r}: {exc}") from None
        if lines:
            return _parse_first(name, lines[0])
        if not data:
            break
    with trio.move_on_after(EXIT_WAIT):
        await process.wait()
    rest = buffer.rest()
    if rest:
        return _parse_first(name, rest)
    how = "closed its stdout" if process.returncode is None else describe_exit(process.returncode)
    raise PluginStartError(f"plugin {name!r} {how} before its handshake line")


def _parse_first(name: str, line: str) -> HandshakeLine:
    if "|" not in line:
        raise PluginStartError(
            f"plugin {name!r} wrote {line[:200]!r} on stdout before its handshake line; "
            "a plugin must print nothing on stdout before it (log to stderr instead)"
        )
    try:
        return HandshakeLine.parse(line)
    except HandshakeLineError as exc:
        raise PluginStartError(f"plugin {name!r}: {exc}") from None


def _check_line(name: str, line: HandshakeLine, options: LaunchOptions) -> None:
    if line.core_version != CORE_PROTOCOL_VERSION:
        raise PluginStartError(
            f"plugin {name!r} speaks core protocol version {line.core_version}; "
            f"this host speaks {CORE_PROTOCOL_VERSION}"
        )
    ours = options.config.app_protocol_versions
    if line.app_version not in ours:
        raise PluginStartError(
            f"plugin {name!r} chose app protocol version {line.app_version}; "
            f"this host speaks {listed_versions(ours)}"
        )
    if options.auto_mtls and line.server_certificate is None:
        raise PluginStartError(
            f"plugin {name!r} serves without TLS, but the host launched it with automatic "
            "mTLS; launch it with LaunchOptions(auto_mtls=False) to accept plain h2c"
        )


async def _pump(
    stream: trio.abc.ReceiveStream | None,
    forwarder: LogForwarder,
    name: str,
    tail: collections.deque[str] | None,
    buffer: LineBuffer | None = None,
    done: trio.Event | None = None,
) -> None:
    buffer = LineBuffer() if buffer is None else buffer

    def forward(lines: list[str]) -> None:
        for line in lines:
            forwarder.forward(line, stream=name)
            if tail is not None:
                tail.append(line)

    try:
        while stream is not None and (data := await stream.receive_some(65_536)):  # ends: EOF
            try:
                forward(buffer.feed(data))
            except HandshakeLineError:  # an endless line: log it in pieces
                forward([buffer.rest()])
                buffer = LineBuffer()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        forward([rest] if (rest := buffer.rest()) else [])
        if done is not None:
            done.set()


async def _close_quietly(stream: trio.abc.AsyncResource | None) -> None:
    if stream is None:
        return
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        await stream.aclose()


def _tail_text(tail: collections.deque[str]) -> str:
    if not tail:
        return ""
    return "; its last lines on stderr:\n" + "\n".join(f"    {line}" for line in tail)
