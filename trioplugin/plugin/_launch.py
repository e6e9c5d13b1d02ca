"""Launching a plugin: its process started, the handshake made, serving reported, then watched.

:func:`run_plugin` is a task of the plugin nursery: it starts the process
(see :mod:`._process`), makes the Handshake call the line announced, waits
until the plugin reports serving, hands the process to the nursery
through ``task_status``, and then waits for the process to end, telling
in the log when it ends without being asked to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio

from .._util import open_transparent_nursery
from ..protocol import ConnectError
from ..rpc import ClientOptions, open_client
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


async def run_plugin(
    name: str,
    argv: Sequence[str],
    options: LaunchOptions,
    *,
    task_status: trio.TaskStatus[PluginProcess] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Start the plugin, report it through ``task_status`` once serving, run until it exits.

    Raises:
        PluginStartError: it did not start or did not report serving in
            time; the process is stopped and reaped.
    """
    async with open_transparent_nursery() as pumps:
        deadline = trio.current_time() + options.start_timeout
        plugin = await start_plugin_process(name, argv, options, pumps)
        try:
            with trio.fail_at(deadline):
                await _until_serving(plugin, options)
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                await plugin.stop(options, shutdown_call=None)
            if isinstance(exc, trio.TooSlowError):
                raise PluginStartError(
                    f"plugin {name!r} did not report serving within {options.start_timeout:g} s"
                ) from None
            raise
        task_status.started(plugin)
        await plugin.process.wait()
        if not plugin.stopping:
            logger.warning("plugin %r (pid %d) %s", name, plugin.pid, plugin.describe_exit())
    plugin.finished.set()  # the pumps have read the pipes to their end


async def _until_serving(plugin: PluginProcess, options: LaunchOptions) -> None:
    config = options.config
    async with open_client(plugin.url, _control_options(plugin)) as client:
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


async def shut_down(plugin: PluginProcess, options: LaunchOptions) -> None:
    """Stop ``plugin`` by its ladder, asking it first with its Shutdown call."""

    async def shutdown_call() -> None:
        async with open_client(plugin.url, _control_options(plugin)) as client:
            await PluginControlClient(client).Shutdown(
                ShutdownRequest(
                    grace_period_seconds=int(options.shutdown_grace), reason="the host is stopping"
                )
            )

    await plugin.stop(options, shutdown_call)


def _control_options(plugin: PluginProcess) -> ClientOptions:
    return ClientOptions(ssl_context=plugin.ssl_context)
