"""A launched plugin's handle: events of its process, calls that wait out a restart, aclose()."""

from __future__ import annotations

import os
import signal
import stat

import pytest
import trio

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.plugin.conftest import ECHO_PLUGIN, launch_options
from trioplugin import (
    ActorEvent,
    Code,
    ConnectError,
    HealthStatus,
    PluginExited,
    PluginHandle,
    PluginHealthChanged,
    PluginRestarted,
    open_plugin_nursery,
)


async def next_plugin_event(events: trio.MemoryReceiveChannel[ActorEvent]) -> ActorEvent:
    """The next event that is about the process, not the actor."""
    with trio.fail_after(10):
        async for event in events:
            if isinstance(event, (PluginExited, PluginRestarted, PluginHealthChanged)):
                return event
    raise AssertionError("the handle's events ended")


def pid_of(handle: PluginHandle, host: object) -> int:
    supervisor = host._processes[handle.name]  # type: ignore[attr-defined]
    return int(supervisor.current.pid)


async def kill(handle: PluginHandle, host: object) -> PluginExited:
    """SIGKILL the plugin behind ``handle``; return once its handle reports the exit."""
    async with handle.events() as events:
        os.kill(pid_of(handle, host), signal.SIGKILL)
        exited = await next_plugin_event(events)
    assert isinstance(exited, PluginExited)
    return exited


async def test_a_killed_plugin_reports_its_exit_then_its_restart() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=launch_options(restart_backoff=0))
        first = pid_of(handle, host)
        async with handle.events() as events:
            os.kill(first, signal.SIGKILL)
            exited = await next_plugin_event(events)
            restarted = await next_plugin_event(events)
        assert isinstance(exited, PluginExited)
        assert (exited.plugin, exited.pid, exited.returncode) == ("echo", first, -9)
        assert exited.description.startswith("killed by SIGKILL")
        assert exited.restarting
        assert isinstance(restarted, PluginRestarted)
        assert restarted.restarts == 1
        assert restarted.pid == pid_of(handle, host) != first
        assert restarted.downtime >= 0
        with trio.fail_after(10):
            assert (await handle.stub(ECHO).Echo(EchoRequest(text="back"))).text == "back"


async def test_health_the_plugin_reports_reaches_its_handle() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=launch_options("health-on-echo"))
        echo = handle.stub(ECHO)
        async with handle.events() as events:
            await echo.Echo(EchoRequest(text="degraded"))
            degraded = await next_plugin_event(events)
            await echo.Echo(EchoRequest(text="serving"))
            serving = await next_plugin_event(events)
        assert degraded == PluginHealthChanged("echo", HealthStatus.SERVING, HealthStatus.DEGRADED)
        assert serving == PluginHealthChanged("echo", HealthStatus.DEGRADED, HealthStatus.SERVING)


async def test_closing_a_launched_plugins_handle_stops_its_process() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=launch_options())
        supervisor = host._processes["echo"]
        plugin = supervisor.current
        assert plugin is not None
        with trio.fail_after(10):
            await handle.aclose()
        assert plugin.process.returncode == 0  # reaped, after its Shutdown call
        assert "echo" not in host._processes
        again = await host.launch("echo", ECHO_PLUGIN, launch=launch_options())  # name is free
        assert (await again.stub(ECHO).Echo(EchoRequest(text="hi"))).text == "hi"


async def test_calls_wait_out_a_restart_when_told_to() -> None:
    options = launch_options(restart_backoff=0.2, while_restarting="wait")
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=options)
        await kill(handle, host)
        with trio.fail_after(10):  # the call's deadline bounds its wait
            reply = await handle.stub(ECHO).Echo(EchoRequest(text="after"))
        assert reply.text == "after"
        assert host._processes["echo"].restarts == 1


async def test_waiting_calls_fail_once_the_plugin_will_not_come_back() -> None:
    options = launch_options(restart="temporary", while_restarting="wait")
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=options)
        assert not (await kill(handle, host)).restarting
        with trio.fail_after(10), pytest.raises(ConnectError) as caught:
            await handle.stub(ECHO).Echo(EchoRequest(text="x"))
        assert caught.value.code is Code.UNAVAILABLE
        assert caught.value.message == "plugin 'echo' is not running and will not restart"


async def test_a_waiting_call_ends_at_its_deadline() -> None:
    options = launch_options(restart_backoff=5, while_restarting="wait")
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=options)
        await kill(handle, host)
        with trio.move_on_after(0.2) as waited:
            await handle.stub(ECHO).Echo(EchoRequest(text="x"))
        assert waited.cancelled_caught


async def test_the_plugins_own_interceptors_leave_its_built_in_services_alone() -> None:
    # Handshake, health and Shutdown reach a plugin whose interceptors refuse every call.
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch(
            "echo", ECHO_PLUGIN, launch=launch_options("refuse-all", shutdown_grace=30)
        )
        with pytest.raises(ConnectError) as caught:
            await handle.stub(ECHO).Echo(EchoRequest(text="x"))
        assert caught.value.code is Code.UNAUTHENTICATED
        plugin = host._processes["echo"].current
        assert plugin is not None
        with trio.fail_after(10):
            await handle.aclose()
        assert plugin.process.returncode == 0  # its Shutdown call, not SIGTERM 30 s on


async def test_a_plugin_on_a_unix_socket_is_reached_there_across_a_restart() -> None:
    options = launch_options(network="unix", restart_backoff=0)
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=options)
        plugin = host._processes["echo"].current
        assert plugin is not None
        path = plugin.line.unix_socket
        assert path is not None
        socket_dir = trio.Path(path).parent
        assert stat.S_ISSOCK((await trio.Path(path).stat()).st_mode)
        assert stat.S_IMODE((await socket_dir.stat()).st_mode) == 0o700
        assert handle.url == "https://localhost"  # mTLS over the socket, for its certificate
        echo = handle.stub(ECHO)
        assert (await echo.Echo(EchoRequest(text="unix"))).text == "unix"
        async with handle.events() as events:
            os.kill(pid_of(handle, host), signal.SIGKILL)
            assert isinstance(await next_plugin_event(events), PluginExited)
            assert isinstance(await next_plugin_event(events), PluginRestarted)
        restarted = host._processes["echo"].current
        assert restarted is not None and restarted.line.unix_socket == path
        with trio.fail_after(10):
            assert (await echo.Echo(EchoRequest(text="again"))).text == "again"
    assert not await socket_dir.exists()  # removed with the plugin


async def test_closing_the_handle_of_a_plugin_waiting_to_restart_ends_the_wait() -> None:
    options = launch_options(restart_backoff=60, max_restart_backoff=60)
    with trio.fail_after(10):  # not the minute of backoff
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.launch("echo", ECHO_PLUGIN, launch=options)
            supervisor = host._processes["echo"]
            await kill(handle, host)
            await handle.aclose()
            while not supervisor.finished:  # supervision ends, without the minute's wait
                await supervisor.wait_changed()
            assert supervisor.restarts == 0
