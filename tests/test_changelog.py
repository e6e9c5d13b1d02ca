"""The changelog: each news fragment is well named; ``towncrier build --draft`` renders them."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import trioplugin

ROOT = Path(__file__).parents[1]
FRAGMENTS = ROOT / "newsfragments"


def _config() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        config: dict[str, Any] = tomllib.load(file)["tool"]["towncrier"]
    return config


def _fragments() -> list[Path]:
    return sorted(path for path in FRAGMENTS.iterdir() if path.name != "README.md")


def test_every_fragment_is_named_issue_type_md() -> None:
    types = [kind["directory"] for kind in _config()["type"]]
    assert types == ["feature", "bugfix", "removal", "doc", "misc"]
    name = re.compile(rf"^(\d+|\+[a-z0-9-]+)\.({'|'.join(types)})(\.\d+)?\.md$")
    assert [path.name for path in _fragments() if not name.match(path.name)] == []


def test_towncrier_draft_renders_every_fragment_and_changes_nothing() -> None:
    pytest.importorskip("towncrier", reason="the docs extra is not installed")
    history = ROOT / "docs/history.md"
    before = {path: path.read_bytes() for path in [history, *_fragments()]}
    done = subprocess.run(
        [sys.executable, "-m", "towncrier", "build", "--draft", "--dir", str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"## trioplugin {trioplugin.__version__} (")
    notes = " ".join(done.stdout.split())
    shown = {kind["directory"] for kind in _config()["type"] if kind["showcontent"]}
    for path in _fragments():
        issue, kind = path.name.split(".")[:2]
        if kind in shown:
            assert "- " + " ".join(path.read_text(encoding="utf-8").split()) in notes, path.name
        if not issue.startswith("+"):
            assert f"#{issue}" in notes, path.name
    assert {path: path.read_bytes() for path in [history, *_fragments()]} == before


def _changelog_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_ext_changelog", ROOT / "docs/_ext/changelog.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_history_page_puts_the_draft_under_unreleased() -> None:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    hook = _changelog_hook()
    notes = "## trioplugin 1.0 (2027-01-01)\n\n### Features\n\n- A thing. (#1)\n\n"
    assert hook.unreleased(notes) == "## Unreleased\n\n### Features\n\n- A thing. (#1)\n"
    nothing = "\nNo significant changes.\n\n\n"  # what towncrier gives for no fragments
    assert hook.unreleased(nothing) == "## Unreleased\n\nNo significant changes.\n"
    history = (ROOT / "docs/history.md").read_text(encoding="utf-8")
    assert history.count(hook.MARKER) == 1
    default = "<!-- towncrier release notes start -->"
    assert _config().get("start_string", default) == hook.MARKER
