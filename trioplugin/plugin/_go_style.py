"""Starting a plugin the connect-plugin-go way: a port in its environment, ready once it answers.

Such a plugin prints no handshake line; it listens on ``PORT`` (cleartext
HTTP/1.1, as Go's ``net/http`` serves) and is ready once that port answers
HTTP. Its app protocol version is learned in the Handshake call, which
connect-plugin-go answers only for the exact version it speaks.
"""

from __future__ import annotations

import dataclasses
import re
import socket
from typing import Final

import trio

from ..protocol import Code, ConnectError
from ..rpc import ClientOptions, wait_until_answering
from ..transport import ClientLimits
from ._config import CORE_PROTOCOL_VERSION, listed_versions
from ._handshake_line import HandshakeLine
from ._launch_options import LaunchOptions
from ._process_group import describe_exit
from ._start_error import PluginStartError

GO_CLIENT_OPTIONS: Final = ClientOptions(http_version="1.1")
"""How a connect-plugin-go plugin is called: cleartext HTTP/1.1."""

_SERVER_VERSION = re.compile(r"version mismatch: client=\d+, server=(\d+)")


def free_port() -> int:
    """A port free on 127.0.0.1 now, for the plugin to listen on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until_answering(
    name: str, process: trio.Process, port: int, options: LaunchOptions
) -> HandshakeLine:
    """Wait until the plugin's port answers HTTP; what it would have said in a handshake line.

    The app version in it is the host's highest, until the Handshake call
    tells the plugin's (see :func:`app_version_from_refusal`).

    Raises:
        PluginStartError: the process exited first (the caller's deadline
            bounds the wait).
    """
    url = f"http://127.0.0.1:{port}"
    exited = False
    failure = ""
    async with trio.open_nursery() as waiting:

        async def watch_exit() -> None:
            nonlocal exited
            await process.wait()
            exited = True
            waiting.cancel_scope.cancel()

        waiting.start_soon(watch_exit)
        # Its own bound is the launch's start_timeout, which the caller enforces too.
        probe = dataclasses.replace(
            GO_CLIENT_OPTIONS, limits=ClientLimits(connect_timeout=options.start_timeout)
        )
        try:
            await wait_until_answering(url, probe)
        except ConnectError as exc:  # something on the port that is not an HTTP server
            failure = exc.message
        waiting.cancel_scope.cancel()
    if exited:
        assert process.returncode is not None
        raise PluginStartError(
            f"plugin {name!r} {describe_exit(process.returncode)} before it answered on port {port}"
        )
    if failure:
        raise PluginStartError(f"plugin {name!r}: {failure}")
    version = max(options.config.app_protocol_versions)
    return HandshakeLine(CORE_PROTOCOL_VERSION, version, "tcp", f"127.0.0.1:{port}")


def app_version_from_refusal(name: str, error: ConnectError, ours: tuple[int, ...]) -> int | None:
    """The version a connect-plugin-go plugin named when it refused ours, if we speak it too.

    Raises:
        ConnectError: the plugin speaks a version the host does not (the
            message lists both sides); None means the refusal was not about
            the version.
    """
    if error.code is not Code.FAILED_PRECONDITION:
        return None
    found = _SERVER_VERSION.search(error.message)
    if found is None:
        return None
    theirs = int(found.group(1))
    if theirs in ours:
        return theirs
    raise ConnectError(
        Code.FAILED_PRECONDITION,
        f"plugin {name!r} speaks app protocol version {theirs}; "
        f"this host speaks {listed_versions(ours)}",
    )
