"""How a host launches a plugin process and stops it: one options object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, final

from .._checks import check_int, check_seconds
from ._config import HandshakeConfig


@final
@dataclass(frozen=True, slots=True)
class LaunchOptions:
    """How :meth:`PluginNursery.launch` starts a plugin process and stops it.

    Example::

        options = LaunchOptions(config=KV_PLUGINS, start_timeout=5, env={"KV_FILE": path})
        kv = await host.launch("kv", [sys.executable, "-m", "kv_plugin"], launch=options)

    Stopping runs a ladder: the plugin's ``Shutdown`` call, then
    ``shutdown_grace`` seconds for it to finish its calls and exit, then
    SIGTERM to its process group, ``terminate_grace`` more seconds, and
    SIGKILL.

    A plugin that exits unasked is restarted by ``restart``: ``permanent``
    always, ``transient`` unless it exited with status 0, ``temporary``
    never. Between restarts it waits ``restart_backoff`` seconds, doubled
    each time up to ``max_restart_backoff``, with jitter; more than
    ``max_restarts`` restarts within ``restart_period`` seconds raise
    :class:`PluginCrashLoop` out of the nursery. The restarted plugin
    listens on the same port, so its handle serves it as before. While it
    restarts, calls fail with ``unavailable`` (``while_restarting="fail"``:
    the circuit breaker turns that into fast failures), or wait for it,
    within their deadline (``"wait"``).

    A plugin written with connect-plugin-go is started its way with
    ``handshake="connect-plugin-go"``: ``PORT`` (a free port the host
    picks) and ``HOST_URL`` in its environment, no handshake line (its
    stdout is logged like its stderr), readiness when the port answers
    HTTP and its Handshake call succeeds; it is then called over HTTP/1.1
    in cleartext, as such plugins serve (``auto_mtls`` does not apply).

    Checked when made: a wrong value fails there, naming the field.
    """

    config: HandshakeConfig = field(default_factory=HandshakeConfig)
    """The magic cookie and app protocol versions host and plugin share."""

    start_timeout: float = 10.0
    """Seconds from starting the process to its reporting serving; beyond, the launch fails."""

    shutdown_grace: float = 5.0
    """Seconds a plugin has, after its Shutdown call, to finish in-flight calls and exit."""

    terminate_grace: float = 5.0
    """Seconds between SIGTERM and SIGKILL."""

    auto_mtls: bool = True
    """Talk to the plugin over mTLS with one-time certificates, each side pinning the other's."""

    restart: Literal["permanent", "transient", "temporary"] = "transient"
    """When a plugin that exited unasked is started again."""

    max_restarts: int = 3
    """Restarts allowed within ``restart_period``; one more is a crash loop."""

    restart_period: float = 30.0
    """The window ``max_restarts`` counts in, in seconds."""

    restart_backoff: float = 0.5
    """Seconds before the first restart; doubled for each further one within the period."""

    max_restart_backoff: float = 10.0
    """The longest wait before a restart."""

    while_restarting: Literal["fail", "wait"] = "fail"
    """What calls do while the plugin is down: fail with ``unavailable``, or wait for it.

    Waiting is bounded by each call's deadline; once the plugin will not be
    restarted (its policy, or a crash loop), waiting calls fail with
    ``unavailable``.
    """

    env: Mapping[str, str] | None = None
    """Variables added to the plugin's environment (over the host's own, if ``inherit_env``)."""

    inherit_env: bool = True
    """Start from the host's environment (else from ``env`` alone, plus the handshake's)."""

    cwd: str | os.PathLike[str] | None = None
    """The plugin's working directory (the host's if None)."""

    network: Literal["tcp", "unix"] = "tcp"
    """Where a trioplugin plugin listens: a free tcp port on 127.0.0.1, or a unix socket.

    ``"unix"``: a socket in a directory of the host's own (mode 0700, so only
    its user can connect), the same path across restarts; removed when the
    plugin is stopped. A plugin that cannot (no unix sockets on its
    platform) says tcp in its handshake line, and is reached there.
    """

    handshake: Literal["trioplugin", "connect-plugin-go"] = "trioplugin"
    """How the plugin says where it serves: a handshake line, or connect-plugin-go's ``PORT``."""

    host_url: str = ""
    """``HOST_URL`` for a connect-plugin-go plugin: where it may reach its host."""

    @property
    def cleartext(self) -> bool:
        """Whether the plugin is reached without TLS (no automatic mTLS, or a Go-style plugin)."""
        return not self.auto_mtls or self.handshake == "connect-plugin-go"

    def __post_init__(self) -> None:
        if not isinstance(self.config, HandshakeConfig):
            raise TypeError(
                f"LaunchOptions.config must be a HandshakeConfig, not {type(self.config).__name__}"
            )
        check_seconds(self, "start_timeout")
        check_seconds(self, "shutdown_grace", zero=True)
        check_seconds(self, "terminate_grace", zero=True)
        if self.restart not in ("permanent", "transient", "temporary"):
            raise ValueError(
                "LaunchOptions.restart must be 'permanent', 'transient' or 'temporary', "
                f"not {self.restart!r}"
            )
        if self.network not in ("tcp", "unix"):
            raise ValueError(f"LaunchOptions.network must be 'tcp' or 'unix', not {self.network!r}")
        if self.handshake not in ("trioplugin", "connect-plugin-go"):
            raise ValueError(
                "LaunchOptions.handshake must be 'trioplugin' or 'connect-plugin-go', "
                f"not {self.handshake!r}"
            )
        if not isinstance(self.host_url, str):
            raise TypeError(f"LaunchOptions.host_url must be a str, not {self.host_url!r}")
        if self.while_restarting not in ("fail", "wait"):
            raise ValueError(
                "LaunchOptions.while_restarting must be 'fail' or 'wait', "
                f"not {self.while_restarting!r}"
            )
        check_int(self, "max_restarts", 0)
        check_seconds(self, "restart_period")
        check_seconds(self, "restart_backoff", zero=True)
        check_seconds(self, "max_restart_backoff", zero=True)
        if self.env is not None:
            for key, value in self.env.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise TypeError(
                        f"LaunchOptions.env must map str to str, not {key!r}: {value!r}"
                    )

    def environment(self) -> dict[str, str]:
        """The plugin's environment before the handshake's variables are added."""
        base = dict(os.environ) if self.inherit_env else {}
        return base | dict(self.env or {})
