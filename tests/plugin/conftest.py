"""Launching the test plugin program as a host would."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.plugin.echo_plugin import CONFIG
from trioplugin.plugin import LaunchOptions

ROOT = Path(__file__).resolve().parents[2]
ECHO_PLUGIN = [sys.executable, "-m", "tests.plugin.echo_plugin"]


def launch_options(mode: str = "", **fields: object) -> LaunchOptions:
    """Options that start the echo plugin in ``mode``, from the repository's root."""
    env = {"TEST_PLUGIN_MODE": mode, "PYTHONPATH": str(ROOT)}
    fields.setdefault("config", CONFIG)
    return LaunchOptions(env=env, cwd=ROOT, **fields)  # type: ignore[arg-type]
