"""``python -m trioplugin`` and the ``trioplugin`` command: the version, and a help that is true."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import trioplugin
from trioplugin._cli import main

ROOT = Path(__file__).parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trioplugin", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _scripts() -> dict[str, str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        scripts: dict[str, str] = tomllib.load(file)["project"]["scripts"]
    return scripts


def test_version_prints_the_version() -> None:
    done = _run("--version")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"trioplugin {trioplugin.__version__}\n",
        "",
    )


def test_no_arguments_prints_the_help_of_what_exists() -> None:
    done = _run()
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: python -m trioplugin [-h] [--version] COMMAND ...\n")
    for mention in ("--version", "python -m trioplugin.codegen", "protoc-gen-trioplugin"):
        assert mention in done.stdout
    assert _run("--help").stdout == done.stdout


def test_an_unknown_argument_is_a_usage_error() -> None:
    done = _run("--no-such-option")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "unrecognized arguments: --no-such-option" in done.stderr


def test_the_commands_the_help_names_exist() -> None:
    scripts = _scripts()
    assert scripts["protoc-gen-trioplugin"] == "trioplugin.codegen:run_plugin"
    assert importlib.util.find_spec("trioplugin.codegen.__main__") is not None


def test_the_console_script_is_this_main_named_trioplugin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _, name = _scripts()["trioplugin"].partition(":")
    assert getattr(importlib.import_module(module), name) is main
    # A console script calls main() with no arguments: it reads the process's, here none.
    monkeypatch.setattr(sys, "argv", ["trioplugin"])
    assert main() == 0
    assert capsys.readouterr().out.startswith("usage: trioplugin [-h] [--version] COMMAND ...\n")
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"trioplugin {trioplugin.__version__}\n"
