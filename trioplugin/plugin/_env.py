"""The environment a host starts a plugin with, and the plugin's reading of it.

The magic cookie (``config.magic_cookie_key`` set to its value) tells a
plugin that a host started it; as go-plugin says, this is not a security
measure, just a way to tell someone who ran the plugin by hand what it is.
The other variables carry what the handshake line needs: the app protocol
versions the host speaks, the host's client certificate for automatic
mTLS, and the host's process id for the plugin to watch. A plugin written
for connect-plugin-go is started its way instead: ``PORT`` and ``HOST_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ._config import HandshakeConfig

PROTOCOL_VERSIONS: Final = "PLUGIN_PROTOCOL_VERSIONS"
"""The app protocol versions the host speaks, comma-separated (go-plugin's name)."""

CLIENT_CERT: Final = "PLUGIN_CLIENT_CERT"
"""The host's one-time client certificate, PEM, for automatic mTLS (go-plugin's name)."""

HOST_PID: Final = "TRIOPLUGIN_HOST_PID"
"""The host's process id: the plugin exits when that process is gone."""

WATCH_STDIN: Final = "TRIOPLUGIN_WATCH_STDIN"
"""Set to 1 when the host holds the plugin's stdin open: its end means the host is gone."""

PORT: Final = "PORT"
"""The port to listen on (connect-plugin-go's name); 0 or unset: any free port."""

UNIX_SOCKET: Final = "TRIOPLUGIN_UNIX_SOCKET"
"""Where the plugin is to listen on a unix socket, if its host asks for one."""

HOST_URL: Final = "HOST_URL"
"""Where a connect-plugin-go plugin reaches its host (set for such plugins only)."""


def refusal(config: HandshakeConfig, program: str) -> str:
    """What a plugin prints when it was not started by a host."""
    return (
        f"{program} is a plugin: it is not meant to be run directly.\n"
        "Run the program that uses it, which starts it when it needs it.\n"
        f"(A host sets {config.magic_cookie_key} in the plugin's environment; "
        "here it is missing or has the wrong value.)"
    )


class NotStartedByHost(Exception):
    """The magic cookie is missing or wrong: a person, not a host, ran the plugin."""


@dataclass(frozen=True, slots=True)
class PluginEnvironment:
    """What the plugin side reads from its environment."""

    host_versions: tuple[int, ...] | None
    """The app protocol versions the host speaks; None when it did not say."""
    client_certificate: str | None
    """The host's client certificate (PEM) for automatic mTLS; None for plain h2c."""
    host_pid: int | None
    watch_stdin: bool
    port: int
    unix_socket: str | None
    """The unix socket's path to listen on, instead of a tcp port."""
    started_by_connect_plugin_go: bool
    """A connect-plugin-go host started it (``PORT`` and ``HOST_URL``, no cookie).

    Such a host checks the cookie in the handshake call instead, and reads
    no handshake line.
    """

    @classmethod
    def read(cls, config: HandshakeConfig, environ: Mapping[str, str]) -> PluginEnvironment:
        """Read the environment a host started this plugin with.

        Raises:
            NotStartedByHost: the magic cookie is missing or wrong.
            ValueError: a variable is malformed (the message names it).
        """
        cookie = environ.get(config.magic_cookie_key)
        by_go_host = cookie is None and bool(environ.get(PORT)) and HOST_URL in environ
        if cookie != config.magic_cookie_value and not by_go_host:
            raise NotStartedByHost(config.magic_cookie_key)
        return cls(
            host_versions=_versions(environ.get(PROTOCOL_VERSIONS)),
            client_certificate=environ.get(CLIENT_CERT) or None,
            host_pid=_integer(environ, HOST_PID),
            watch_stdin=environ.get(WATCH_STDIN) == "1",
            port=_integer(environ, PORT) or 0,
            unix_socket=environ.get(UNIX_SOCKET) or None,
            started_by_connect_plugin_go=by_go_host,
        )


def host_environment(
    config: HandshakeConfig,
    *,
    host_pid: int,
    client_certificate: str | None,
    port: int | None,
    unix_socket: str | None = None,
) -> dict[str, str]:
    """The variables a host adds to a plugin's environment."""
    variables = {
        config.magic_cookie_key: config.magic_cookie_value,
        PROTOCOL_VERSIONS: ",".join(str(version) for version in config.app_protocol_versions),
        HOST_PID: str(host_pid),
        WATCH_STDIN: "1",
    }
    if client_certificate is not None:
        variables[CLIENT_CERT] = client_certificate
    if port:
        variables[PORT] = str(port)
    if unix_socket is not None:
        variables[UNIX_SOCKET] = unix_socket
    return variables


def connect_plugin_go_environment(*, host_pid: int, port: int, host_url: str) -> dict[str, str]:
    """The variables a connect-plugin-go host sets, plus ours for noticing the host's end.

    No magic cookie: such a host checks it in the Handshake call instead
    (and a trioplugin plugin started so serves in connect-plugin-go's way).
    """
    return {PORT: str(port), HOST_URL: host_url, HOST_PID: str(host_pid), WATCH_STDIN: "1"}


def _versions(value: str | None) -> tuple[int, ...] | None:
    if not value:
        return None
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError:
        raise ValueError(
            f"{PROTOCOL_VERSIONS}={value!r}: expected comma-separated integers"
        ) from None


def _integer(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"{name}={value!r}: expected a non-negative integer")
    return int(value)
