"""Launching plugins written for connect-plugin-go, its way: PORT in the environment, no line."""

from __future__ import annotations

import logging
import sys

import pytest
import trio

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.plugin.conftest import ECHO_PLUGIN, ROOT, launch_options
from trioplugin import open_plugin_nursery
from trioplugin.plugin import HandshakeConfig, LaunchOptions, PluginStartError

GO_PLUGIN = [sys.executable, "-m", "tests.plugin.go_style_plugin"]


def go_options(version: str = "1", mode: str = "", **fields: object) -> LaunchOptions:
    env = {"GO_PLUGIN_VERSION": version, "GO_PLUGIN_MODE": mode, "PYTHONPATH": str(ROOT)}
    fields.setdefault("config", HandshakeConfig(app_protocol_versions=(1, 2)))
    return LaunchOptions(handshake="connect-plugin-go", env=env, cwd=ROOT, **fields)  # type: ignore[arg-type]


async def test_a_connect_plugin_go_plugin_is_started_on_a_port_and_called_over_http1(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trioplugin.plugin.go")
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("go", GO_PLUGIN, launch=go_options())
        assert handle.url.startswith("http://127.0.0.1:")
        assert (await handle.stub(ECHO).Echo(EchoRequest(text="hi"))).text == "hi"
        port = handle.url.rsplit(":", 1)[1]
        assert f"serving on :{port}" in caplog.text  # its stderr, logged under its name


async def test_the_app_version_is_learned_from_a_go_plugins_refusal() -> None:
    # connect-plugin-go answers only its own version; the host offers its highest, 2, first.
    async with open_plugin_nursery([ECHO]) as host:
        await host.launch("go", GO_PLUGIN, launch=go_options(version="1"))
        assert host.app_version("go") == 1
        with pytest.raises(LookupError, match="no launched plugin is named 'kv'; launched: 'go'"):
            host.app_version("kv")


async def test_a_go_plugin_speaking_no_version_of_ours_fails_the_launch() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(
            PluginStartError,
            match=r"plugin 'go' speaks app protocol version 7; this host speaks 1, 2",
        ):
            await host.launch("go", GO_PLUGIN, launch=go_options(version="7"))


async def test_a_go_plugin_that_exits_before_it_answers_fails_the_launch() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(PluginStartError) as caught:
            await host.launch("go", GO_PLUGIN, launch=go_options(mode="crash"))
    message = str(caught.value)
    assert "plugin 'go' exited with status 3 before it answered on port" in message
    assert "cannot open the store" in message  # its last words on stderr


async def test_a_go_plugin_without_plugin_control_gets_sigterm_at_once() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("go", GO_PLUGIN, launch=go_options(shutdown_grace=30))
        plugin = host._processes["go"].current
        assert plugin is not None
        with trio.fail_after(10):  # not the 30 s grace a Shutdown call would have earned
            await handle.aclose()
        assert plugin.process.returncode == 0  # it stopped on SIGTERM, cleanly


async def test_a_trioplugin_plugin_launched_the_go_way_serves_on_the_port_it_is_given() -> None:
    # Our serve() started without the cookie but with PORT and HOST_URL: connect-plugin-go's way.
    options = launch_options(handshake="connect-plugin-go")
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.launch("echo", ECHO_PLUGIN, launch=options)
        assert handle.url.startswith("http://127.0.0.1:")
        assert (await handle.stub(ECHO).Echo(EchoRequest(text="both"))).text == "both"


def test_the_handshake_style_is_checked() -> None:
    with pytest.raises(ValueError, match="must be 'trioplugin' or 'connect-plugin-go'"):
        LaunchOptions(handshake="go")  # type: ignore[arg-type]
