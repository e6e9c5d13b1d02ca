"""The environment a host starts a plugin with, read back by the plugin."""

from __future__ import annotations

import pytest

from trioplugin.plugin import HandshakeConfig
from trioplugin.plugin._env import (
    NotStartedByHost,
    PluginEnvironment,
    host_environment,
    refusal,
)

CONFIG = HandshakeConfig(
    magic_cookie_key="KV_PLUGIN", magic_cookie_value="s3cret", app_protocol_versions=(1, 3)
)


def test_what_the_host_sets_the_plugin_reads() -> None:
    environ = host_environment(CONFIG, host_pid=4242, client_certificate="PEM", port=5000)
    env = PluginEnvironment.read(CONFIG, environ)
    assert env.host_versions == (1, 3)
    assert env.client_certificate == "PEM"
    assert env.host_pid == 4242
    assert env.watch_stdin
    assert env.port == 5000
    assert not env.started_by_connect_plugin_go


def test_without_certificate_or_port_the_plugin_serves_h2c_on_any_port() -> None:
    environ = host_environment(CONFIG, host_pid=1, client_certificate=None, port=None)
    env = PluginEnvironment.read(CONFIG, environ)
    assert env.client_certificate is None
    assert env.port == 0


@pytest.mark.parametrize("environ", [{}, {"KV_PLUGIN": "wrong"}, {"KV_PLUGIN": ""}])
def test_a_missing_or_wrong_cookie_means_no_host_started_it(environ: dict[str, str]) -> None:
    with pytest.raises(NotStartedByHost):
        PluginEnvironment.read(CONFIG, environ)


def test_the_refusal_speaks_to_a_person() -> None:
    text = refusal(CONFIG, "kv-plugin")
    assert text.startswith("kv-plugin is a plugin: it is not meant to be run directly.")
    assert "KV_PLUGIN" in text
    assert "s3cret" not in text


def test_a_connect_plugin_go_host_sets_port_and_host_url_and_no_cookie() -> None:
    env = PluginEnvironment.read(CONFIG, {"PORT": "8081", "HOST_URL": "http://localhost:8080"})
    assert env.started_by_connect_plugin_go
    assert env.port == 8081
    assert not env.watch_stdin


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PLUGIN_PROTOCOL_VERSIONS", "1,two", "PLUGIN_PROTOCOL_VERSIONS='1,two'"),
        ("TRIOPLUGIN_HOST_PID", "-1", "TRIOPLUGIN_HOST_PID='-1'"),
        ("PORT", "http", "PORT='http'"),
    ],
)
def test_a_malformed_variable_is_named(name: str, value: str, says: str) -> None:
    environ = {"KV_PLUGIN": "s3cret", name: value}
    with pytest.raises(ValueError, match=says):
        PluginEnvironment.read(CONFIG, environ)
