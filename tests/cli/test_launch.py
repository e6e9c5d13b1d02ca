"""``trioplugin launch``: a real plugin process, started as a host would start it."""

from __future__ import annotations

import os

import pytest

from tests.cli.conftest import CLI
from tests.plugin.conftest import ECHO_PLUGIN, ROOT


@pytest.fixture(autouse=True)
def plugin_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("TEST_PLUGIN_MODE", "")
    monkeypatch.chdir(ROOT)


async def test_launch_prints_where_the_plugin_serves_and_its_health(cli: CLI) -> None:
    done = await cli("launch", "--app-version", "2", "--", *ECHO_PLUGIN)
    assert done.status == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].startswith("serving at https://127.0.0.1:")
    assert lines[0].endswith("(mTLS, pinned)")
    assert lines[1] == "health: SERVING"


async def test_launch_says_why_a_plugin_did_not_start(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_PLUGIN_MODE", "garbage")
    done = await cli("launch", "--", *ECHO_PLUGIN)
    assert done.status == 1
    assert "wrote 'Loading configuration...' on stdout before its handshake line" in done.err


async def test_a_wrong_cookie_is_refused_by_the_plugin(cli: CLI) -> None:
    done = await cli("launch", "--cookie-value", "nope", "--", *ECHO_PLUGIN)
    assert done.status == 1
    assert "is a plugin: it is not meant to be run directly" in done.err


async def test_launch_without_a_program_is_a_usage_error(cli: CLI) -> None:
    done = await cli("launch", "--")
    assert done.status == 2
    assert "no plugin program" in done.err
    assert os.environ["TEST_PLUGIN_MODE"] == ""


async def test_launch_starts_a_connect_plugin_go_plugin_its_way(cli: CLI) -> None:
    go_plugin = [ECHO_PLUGIN[0], "-m", "tests.plugin.go_style_plugin"]
    done = await cli("launch", "--connect-plugin-go", "--", *go_plugin)
    assert done.status == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].startswith("serving at http://127.0.0.1:")
    assert not lines[0].endswith("(mTLS, pinned)")
    assert lines[1] == "health: not served (it answers no grpc.health.v1.Health)"
