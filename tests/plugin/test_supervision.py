"""A plugin that dies is restarted by its policy, on its port, behind the same handle."""

from __future__ import annotations

import pytest
import trio

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.plugin.conftest import ECHO_PLUGIN, launch_options
from trioplugin import Code, ConnectError, open_plugin_nursery
from trioplugin.plugin import LaunchOptions, PluginCrashLoop


async def test_a_crashed_plugin_is_restarted_and_the_same_handle_reaches_it() -> None:
    options = launch_options("die-on-echo", restart_backoff=0)
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=options)
        [supervisor] = host._processes.values()
        first = supervisor.current
        assert first is not None
        echo = handle.stub(ECHO)
        with pytest.raises(ConnectError) as caught:
            await echo.Echo(EchoRequest(text="die"))
        assert caught.value.code is Code.UNAVAILABLE
        with trio.fail_after(10):
            await supervisor.wait_changed()
        assert supervisor.restarts == 1
        assert supervisor.current is not None
        assert supervisor.current is not first
        assert supervisor.current.url == first.url  # the same port, so the handle follows
        with trio.fail_after(10):
            assert (await echo.Echo(EchoRequest(text="back"))).text == "back"
        assert first.process.returncode == 1


async def test_a_temporary_plugin_is_not_restarted() -> None:
    options = launch_options("die-on-echo", restart="temporary")
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=options)
        [supervisor] = host._processes.values()
        with pytest.raises(ConnectError):
            await handle.stub(ECHO).Echo(EchoRequest(text="die"))
        assert supervisor.current is not None
        with trio.fail_after(10):
            await supervisor.current.wait_finished()
        assert supervisor.restarts == 0


async def test_a_crash_loop_beyond_the_intensity_propagates_out_of_the_nursery() -> None:
    options = launch_options("exit-soon", restart="permanent", max_restarts=1, restart_backoff=0)
    crash_loop = pytest.RaisesExc(
        PluginCrashLoop,
        match=(
            r"plugin 'echo' exited 2 times within 30 s \(at most 1 restarts\); "
            r"the last time it exited with status 1"
        ),
    )
    with trio.fail_after(30), pytest.RaisesGroup(crash_loop, flatten_subgroups=True):
        async with open_plugin_nursery([ECHO]) as host:
            await host.launch("echo", ECHO_PLUGIN, launch=options)
            await trio.sleep_forever()  # until the crash loop ends the nursery


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"restart": "always"}, "must be 'permanent', 'transient' or 'temporary'"),
        ({"max_restarts": -1}, "max_restarts"),
        ({"restart_period": 0}, "restart_period must be positive"),
        ({"start_timeout": "5"}, "start_timeout must be a number of seconds"),
        ({"env": {"A": 1}}, "env must map str to str"),
    ],
)
def test_launch_options_are_checked_when_made(fields: dict[str, object], says: str) -> None:
    with pytest.raises((TypeError, ValueError), match=says):
        LaunchOptions(**fields)  # type: ignore[arg-type]
