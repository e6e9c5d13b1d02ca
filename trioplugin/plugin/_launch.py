"""Launching a plugin: its process started, the handshake made, serving reported, then watched.

A ``Supervisor`` runs as a task of the plugin nursery: it starts the
process, makes the Handshake call the line announced, waits until the
plugin reports serving, reports itself through ``task_status``, and then
watches the process, restarting it by its policy when it ends unasked.
"""

from __future__ import annotations

import collections
import logging
import random
import ssl
from collections.abc import Sequence

import trio

from .._util import open_transparent_nursery
from ..protocol import ConnectError
from ..rpc import ClientOptions, open_client
from ._certificates import client_context, make_identity
from ._config import CORE_PROTOCOL_VERSION
from ._launch_options import LaunchOptions
from ._process import PluginProcess, PluginStartError, start_plugin_process
from .protos.connectplugin.health.v1.health_pb2 import HealthCheckRequest, ServingStatus
from .protos.connectplugin.health.v1.health_trioplugin import HealthServiceClient
from .protos.connectplugin.v1.control_pb2 import ShutdownRequest
from .protos.connectplugin.v1.control_trioplugin import PluginControlClient
from .protos.connectplugin.v1.handshake_pb2 import HandshakeRequest
from .protos.connectplugin.v1.handshake_trioplugin import HandshakeServiceClient

logger = logging.getLogger("trioplugin.plugin")


class PluginCrashLoop(Exception):
    """A plugin exited more often than its restart intensity allows; raised out of the nursery."""


class Supervisor:
    """Runs one launched plugin: starts it, restarts it by its policy, stops it by its ladder."""

    def __init__(self, name: str, argv: Sequence[str], options: LaunchOptions) -> None:
        self.name = name
        self._argv = list(argv)
        self._options = options
        self._identity = make_identity(f"trioplugin host of {name}") if options.auto_mtls else None
        self.ssl_context: ssl.SSLContext | None = None
        """The host's client context for the plugin: pins each of its certificates in turn."""
        self.current: PluginProcess | None = None
        self.restarts = 0
        """How many times the plugin has been restarted."""
        self._stopping = False
        self._changed = trio.Event()
        self._exits: collections.deque[float] = collections.deque()

    @property
    def url(self) -> str:
        """Where the plugin serves (the same across restarts)."""
        assert self.current is not None  # started before anyone asks
        return self.current.url

    async def run(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the plugin, report through ``task_status`` once serving, then supervise it.

        Raises:
            PluginStartError: the first start failed; the process is reaped.
            PluginCrashLoop: it exited more often than ``max_restarts``
                within ``restart_period``.
        """
        port: int | None = None
        while True:  # ends: a stop, a policy that does not restart, or a crash loop
            async with open_transparent_nursery() as pumps:
                try:
                    plugin = await self._start(pumps, port)
                except PluginStartError as exc:
                    if self.current is None:
                        raise  # the first start: the caller of launch() hears it
                    logger.error("%s", exc)
                    plugin = None
                if plugin is not None:
                    if self.current is None:
                        task_status.started(self)
                    else:
                        self.restarts += 1
                        logger.warning("plugin %r restarted (pid %d)", self.name, plugin.pid)
                    self.current = plugin
                    self._signal()
                    port = plugin.line.port
                    await plugin.process.wait()
            # Out of the block, the pumps have read the plugin's pipes to their end.
            exited = self.current
            assert exited is not None
            if self._stopping or not self._restarts_after(exited, plugin is None):
                return
            await trio.sleep(self._backoff())
            if self._stopping:
                return

    async def stop(self) -> None:
        """Stop the plugin by its ladder; no restart after it."""
        self._stopping = True
        if self.current is not None:
            await self.current.stop(self._options, self._shutdown_call)

    async def wait_changed(self) -> None:
        """Return at the next restart (for tests and events)."""
        await self._changed.wait()

    def _signal(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    def _restarts_after(self, plugin: PluginProcess, failed_restart: bool) -> bool:
        returncode = plugin.process.returncode
        if not failed_restart:
            logger.warning("plugin %r (pid %d) %s", self.name, plugin.pid, plugin.describe_exit())
        restart = self._options.restart
        if restart == "temporary" or (restart == "transient" and returncode == 0):
            return False
        now = trio.current_time()
        self._exits.append(now)
        while self._exits and self._exits[0] < now - self._options.restart_period:
            self._exits.popleft()
        if len(self._exits) > self._options.max_restarts:
            raise PluginCrashLoop(
                f"plugin {self.name!r} exited {len(self._exits)} times within "
                f"{self._options.restart_period:g} s (at most {self._options.max_restarts} "
                f"restarts); the last time it {plugin.describe_exit()}"
            )
        return True

    def _backoff(self) -> float:
        options = self._options
        doublings = max(0, len(self._exits) - 1)
        ceiling = min(options.max_restart_backoff, options.restart_backoff * 2.0**doublings)
        return ceiling * random.uniform(0.5, 1.0)  # jitter: restarts of many plugins spread out

    async def _start(self, pumps: trio.Nursery, port: int | None) -> PluginProcess:
        name, options = self.name, self._options
        deadline = trio.current_time() + options.start_timeout
        plugin = await start_plugin_process(
            name, self._argv, options, pumps, identity=self._identity, port=port
        )
        try:
            if port and plugin.line.port != port:
                raise PluginStartError(
                    f"plugin {name!r} came back on port {plugin.line.port}, not {port}: "
                    "its handle cannot follow it"
                )
            self._pin(plugin)
            with trio.fail_at(deadline):
                await _until_serving(plugin, options, self.ssl_context)
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                await plugin.stop(options, shutdown_call=None)
            if isinstance(exc, trio.TooSlowError):
                raise PluginStartError(
                    f"plugin {name!r} did not report serving within {options.start_timeout:g} s"
                ) from None
            raise
        return plugin

    def _pin(self, plugin: PluginProcess) -> None:
        certificate = plugin.line.server_certificate
        if self._identity is None or certificate is None:
            return
        if self.ssl_context is None:
            self.ssl_context = client_context(self._identity, certificate)
        else:  # a restart: the new certificate joins; the old one's key died with its process
            self.ssl_context.load_verify_locations(cadata=certificate)

    async def _shutdown_call(self) -> None:
        assert self.current is not None
        async with open_client(
            self.current.url, ClientOptions(ssl_context=self.ssl_context)
        ) as client:
            await PluginControlClient(client).Shutdown(
                ShutdownRequest(
                    grace_period_seconds=int(self._options.shutdown_grace),
                    reason="the host is stopping",
                )
            )


async def _until_serving(
    plugin: PluginProcess, options: LaunchOptions, ssl_context: ssl.SSLContext | None
) -> None:
    config = options.config
    async with open_client(plugin.url, ClientOptions(ssl_context=ssl_context)) as client:
        try:
            await HandshakeServiceClient(client).Handshake(
                HandshakeRequest(
                    core_protocol_version=CORE_PROTOCOL_VERSION,
                    app_protocol_version=plugin.line.app_version,
                    app_protocol_versions=config.app_protocol_versions,
                    magic_cookie_key=config.magic_cookie_key,
                    magic_cookie_value=config.magic_cookie_value,
                    self_id="trioplugin-host",
                )
            )
        except ConnectError as exc:
            raise PluginStartError(f"plugin {plugin.name!r} refused the handshake: {exc}") from exc
        health = HealthServiceClient(client)
        async with health.Watch(HealthCheckRequest(service="")) as statuses:
            async for status in statuses:  # ends: serving, or the stream ends
                if status.status == ServingStatus.SERVING_STATUS_SERVING:
                    return
        raise PluginStartError(f"plugin {plugin.name!r} stopped before it reported serving")
