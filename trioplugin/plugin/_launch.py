"""Launching a plugin: its process started, the handshake made, serving reported, then watched.

A ``Supervisor`` runs as a task of the plugin nursery: it starts the
process, makes the Handshake call the line announced, waits until the
plugin reports serving, reports itself through ``task_status``, and then
watches the process, restarting it by its policy when it ends unasked.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import random
import shutil
import ssl
import tempfile
from collections.abc import Sequence
from typing import Final

import trio

from .._util import open_transparent_nursery
from ..actor import EventHub, HealthStatus
from ..protocol import Code, ConnectError
from ..rpc import Client, ClientOptions, open_client
from ._builtin import status_of
from ._certificates import client_context, make_identity
from ._config import CORE_PROTOCOL_VERSION
from ._events import PluginExited, PluginHealthChanged, PluginRestarted
from ._go_style import app_version_from_refusal
from ._launch_options import LaunchOptions
from ._process import PluginProcess, start_plugin_process
from ._start_error import PluginStartError
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

    def __init__(
        self, name: str, argv: Sequence[str], options: LaunchOptions, events: EventHub
    ) -> None:
        self.name = name
        self.events = events
        """Where the plugin's exits, restarts and health changes are published."""
        self._argv = list(argv)
        self._options = options
        self._identity = make_identity(f"trioplugin host of {name}") if options.auto_mtls else None
        self._socket_dir: str | None = None
        if options.network == "unix" and options.handshake == "trioplugin":
            self._socket_dir = tempfile.mkdtemp(prefix="trioplugin-")  # mode 0700: ours alone
        self.ssl_context: ssl.SSLContext | None = None
        """The host's client context for the plugin: pins each of its certificates in turn."""
        self.current: PluginProcess | None = None
        self.restarts = 0
        """How many times the plugin has been restarted."""
        self._stopping = False
        self._stopped: trio.Event | None = None
        self._changed = trio.Event()
        self._exits: collections.deque[float] = collections.deque()
        self._exited_at = 0.0
        self._health_scope = trio.CancelScope()
        self._backoff_scope = trio.CancelScope()
        self.serving = False
        """Whether the current process is up (it reported serving and has not exited)."""
        self.finished = False
        """Whether supervision is over: stopped, not restarted by policy, or a crash loop."""

    def reach(self, plugin: PluginProcess, base: ClientOptions | None = None) -> ClientOptions:
        """How the host reaches ``plugin``, from ``base`` (the defaults if None).

        Over its pinned mTLS and at its socket; a connect-plugin-go plugin
        over cleartext HTTP/1.1.
        """
        base = ClientOptions() if base is None else base
        if self._options.handshake == "connect-plugin-go":
            return dataclasses.replace(base, http_version="1.1", ssl_context=None)
        return dataclasses.replace(
            base, ssl_context=self.ssl_context, unix_socket=plugin.line.unix_socket
        )

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
        try:
            await self._supervise(task_status)
        finally:
            self.serving = False
            self.finished = True
            self._signal()
            if self._socket_dir is not None:
                shutil.rmtree(self._socket_dir, ignore_errors=True)

    async def _supervise(self, task_status: trio.TaskStatus[Supervisor]) -> None:
        port: int | None = None
        address: str | None = None  # where the first process listened: every restart must too
        while True:  # ends: a stop, a policy that does not restart, or a crash loop
            async with open_transparent_nursery() as pumps:
                try:
                    plugin = await self._start(pumps, port, address)
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
                        self.events.publish(
                            PluginRestarted(
                                self.name,
                                plugin.pid,
                                self.restarts,
                                trio.current_time() - self._exited_at,
                            )
                        )
                    self.current = plugin
                    self.serving = True
                    self._signal()
                    port, address = plugin.line.port, plugin.line.address
                    async with trio.open_nursery() as watching:
                        self._health_scope = watching.cancel_scope
                        if self._stopping:
                            watching.cancel_scope.cancel()
                        watching.start_soon(self._watch_health, plugin)
                        await plugin.process.wait()
                        watching.cancel_scope.cancel()
                    self.serving = False
                    self._exited_at = trio.current_time()
            # Out of the block, the pumps have read the plugin's pipes to their end.
            exited = self.current
            assert exited is not None
            if self._stopping or not self._restarts_after(exited, plugin is None):
                return
            with self._backoff_scope:  # stop() ends the wait
                await trio.sleep(self._backoff())
            if self._stopping:
                return

    async def stop(self) -> None:
        """Stop the plugin by its ladder; no restart after it. Later calls wait for the first."""
        if self._stopped is not None:
            await self._stopped.wait()
            return
        self._stopping = True
        self._stopped = trio.Event()
        self._health_scope.cancel()  # a watch stream would hold the plugin's shutdown up
        self._backoff_scope.cancel()
        try:
            if self.current is not None:
                await self.current.stop(self._options, self._shutdown_call)
        finally:
            self._stopped.set()

    async def wait_changed(self) -> None:
        """Return at the next change: the plugin serving again, or supervision over."""
        await self._changed.wait()

    def _signal(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    def _restarts_after(self, plugin: PluginProcess, failed_restart: bool) -> bool:
        returncode = plugin.process.returncode
        assert returncode is not None  # it exited
        restart = self._options.restart
        restarts = not (restart == "temporary" or (restart == "transient" and returncode == 0))
        if not failed_restart:
            description = plugin.describe_exit()
            logger.warning("plugin %r (pid %d) %s", self.name, plugin.pid, description)
            self.events.publish(
                PluginExited(self.name, plugin.pid, returncode, description, restarts)
            )
        if not restarts:
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

    async def _start(
        self, pumps: trio.Nursery, port: int | None, address: str | None
    ) -> PluginProcess:
        name, options = self.name, self._options
        deadline = trio.current_time() + options.start_timeout
        socket_path = None
        if self._socket_dir is not None:
            socket_path = os.path.join(self._socket_dir, "plugin.sock")
        plugin = await start_plugin_process(
            name,
            self._argv,
            options,
            pumps,
            identity=self._identity,
            port=port,
            unix_socket=socket_path,
        )
        try:
            if address is not None and plugin.line.address != address:
                raise PluginStartError(
                    f"plugin {name!r} came back at {plugin.line.address}, not {address}: "
                    "its handle cannot follow it"
                )
            self._pin(plugin)
            with trio.fail_at(deadline):
                await _until_serving(plugin, options, self.reach(plugin))
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                await plugin.stop(options, shutdown_call=None)
            if isinstance(exc, trio.TooSlowError):
                raise PluginStartError(
                    f"plugin {name!r} did not report serving within {options.start_timeout:g} s"
                ) from None
            raise
        return plugin

    async def _watch_health(self, plugin: PluginProcess) -> None:
        last = HealthStatus.SERVING  # what the launch waited for
        try:
            async with (
                open_client(plugin.url, self.reach(plugin)) as client,
                HealthServiceClient(client).Watch(HealthCheckRequest(service="")) as statuses,
            ):
                async for response in statuses:  # ends: the plugin stops or exits
                    status = status_of(response)
                    if status is not last:
                        self.events.publish(PluginHealthChanged(self.name, last, status))
                        last = status
        except ConnectError as exc:  # it exited (or serves no health): its exit is what counts
            logger.debug("health watch of plugin %r ended: %s", self.name, exc)

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
        async with open_client(self.current.url, self.reach(self.current)) as client:
            await PluginControlClient(client).Shutdown(
                ShutdownRequest(
                    grace_period_seconds=int(self._options.shutdown_grace),
                    reason="the host is stopping",
                )
            )


async def _until_serving(
    plugin: PluginProcess, options: LaunchOptions, reach: ClientOptions
) -> None:
    async with open_client(plugin.url, reach) as client:
        await _handshake(plugin, options, client)
        health = HealthServiceClient(client)
        try:
            async with health.Watch(HealthCheckRequest(service="")) as statuses:
                async for status in statuses:  # ends: serving, or the stream ends
                    if status.status == ServingStatus.SERVING_STATUS_SERVING:
                        return
        except ConnectError as exc:
            if options.handshake != "connect-plugin-go" or exc.code not in _NOT_SERVED:
                raise
            return  # a connect-plugin-go plugin need not serve health: it answered, it is up
        raise PluginStartError(f"plugin {plugin.name!r} stopped before it reported serving")


async def _handshake(plugin: PluginProcess, options: LaunchOptions, client: Client) -> None:
    config = options.config
    while True:  # ends: accepted, or refused for good (a Go plugin names its version once)
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
            return
        except ConnectError as exc:
            if options.handshake == "connect-plugin-go":
                if exc.code in _NOT_SERVED:
                    logger.warning(
                        "plugin %r serves no handshake service; calling it without one", plugin.name
                    )
                    return
                try:
                    theirs = app_version_from_refusal(
                        plugin.name, exc, config.app_protocol_versions
                    )
                except ConnectError as mismatch:
                    raise PluginStartError(str(mismatch.message)) from exc
                if theirs is not None and theirs != plugin.line.app_version:
                    plugin.line = dataclasses.replace(plugin.line, app_version=theirs)
                    continue
            raise PluginStartError(f"plugin {plugin.name!r} refused the handshake: {exc}") from exc


_NOT_SERVED: Final = (Code.UNIMPLEMENTED, Code.NOT_FOUND)
"""What a server answers for a service it does not serve."""
