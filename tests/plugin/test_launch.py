"""Launching real plugin processes: the happy path and every way a start goes wrong."""

from __future__ import annotations

import logging
import os
import signal
import sys

import pytest
import trio

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.plugin.conftest import ECHO_PLUGIN, launch_options
from trioplugin import open_plugin_nursery
from trioplugin.plugin import HandshakeConfig, PluginStartError


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_launched_plugin_is_called_over_mtls_and_stopped_on_exit() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=launch_options())
        assert handle.url.startswith("https://127.0.0.1:")
        with trio.fail_after(10):
            reply = await handle.stub(ECHO).Echo(EchoRequest(text="hi"))
        assert reply.text == "hi"
        [supervisor] = host._processes.values()
        plugin = supervisor.current
        assert plugin is not None
    assert plugin.process.returncode == 0  # it stopped by itself when asked
    assert not alive(plugin.pid)


async def test_the_handler_sees_a_tls_peer_certificate_from_the_host() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=launch_options())
        reply = await handle.stub(ECHO).Echo(EchoRequest())
    assert reply.seen["peer-cn"] == "trioplugin host of echo"
    assert reply.seen["http-version"] == "2"


async def test_without_auto_mtls_the_plugin_serves_h2c() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=launch_options(auto_mtls=False))
        assert handle.url.startswith("http://127.0.0.1:")
        assert (await handle.stub(ECHO).Echo(EchoRequest(text="x"))).text == "x"


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("garbage", "wrote 'Loading configuration...' on stdout before its handshake line"),
        ("crash", "exited with status 3 before its handshake line"),
        ("bad-version", "speaks core protocol version 9; this host speaks 1"),
    ],
)
async def test_a_start_that_goes_wrong_says_how(mode: str, says: str) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(PluginStartError, match=says) as caught:
            await host.launch("echo", ECHO_PLUGIN, launch=launch_options(mode))
        assert host.handles == {}
    if mode == "crash":
        assert "fatal: cannot open the store" in str(caught.value)  # its last words


async def test_a_plugin_that_prints_no_line_in_time_is_killed() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(PluginStartError, match=r"no handshake line within 0\.5 s"):
            await host.launch(
                "echo", ECHO_PLUGIN, launch=launch_options("silent", start_timeout=0.5)
            )


async def test_a_missing_program_is_a_start_error() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(PluginStartError, match=r"could not be started.*No such file"):
            await host.launch("echo", ["/nonexistent/plugin"], launch=launch_options())


async def test_a_host_with_no_version_in_common_is_refused_by_the_plugin() -> None:
    options = launch_options(config=HandshakeConfig(app_protocol_versions=(7,)))
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(PluginStartError) as caught:
            await host.launch("echo", ECHO_PLUGIN, launch=options)
    message = str(caught.value)
    assert "exited with status 1" in message
    assert "the plugin speaks 1, 2, the host 7" in message


async def test_a_wrong_cookie_is_refused_by_the_plugin_in_words_for_a_person() -> None:
    options = launch_options(config=HandshakeConfig(magic_cookie_value="other"))
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(
            PluginStartError, match="is a plugin: it is not meant to be run directly"
        ):
            await host.launch("echo", ECHO_PLUGIN, launch=options)


async def test_run_by_hand_the_plugin_says_what_it_is() -> None:
    result = await trio.run_process(
        ECHO_PLUGIN,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env={"PATH": ""} | {"PYTHONPATH": os.getcwd()},
    )
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"is a plugin: it is not meant to be run directly" in result.stderr


async def test_the_plugins_logs_keep_their_levels(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="trioplugin.plugin.echo")
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=launch_options("logs"))
        await handle.stub(ECHO).Echo(EchoRequest())
    seen = {
        (r.levelname, r.getMessage()) for r in caplog.records if r.name == "trioplugin.plugin.echo"
    }
    assert {
        ("INFO", "info line"),
        ("WARNING", "warning line"),
        ("ERROR", "error line"),
        ("INFO", "printed by a handler"),
    } <= seen
    assert ("DEBUG", "debug line") not in seen  # the plugin logs from INFO unless told


async def test_a_plugin_that_ignores_shutdown_and_sigterm_is_killed() -> None:
    options = launch_options("stubborn", shutdown_grace=0.3, terminate_grace=0.3)
    async with open_plugin_nursery([ECHO]) as host:
        await host.launch("echo", ECHO_PLUGIN, launch=options)
        [supervisor] = host._processes.values()
        plugin = supervisor.current
        assert plugin is not None
    assert plugin.process.returncode == -signal.SIGKILL
    assert not alive(plugin.pid)


async def test_a_name_is_launched_once() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        await host.launch("echo", ECHO_PLUGIN, launch=launch_options())
        with pytest.raises(ValueError, match="already in this nursery"):
            await host.launch("echo", ECHO_PLUGIN, launch=launch_options())
        with pytest.raises(TypeError, match="argv must be a non-empty sequence"):
            await host.launch("other", sys.executable)
