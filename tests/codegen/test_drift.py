"""The committed generated modules are what the generator writes today, by either route."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.codegen.conftest import REPO, python_env

COMMITTED = ["tests/echo_trioplugin.py", "examples/kv/kv_trioplugin.py"]

posix_only = pytest.mark.skipif(os.name != "posix", reason="the launcher is a POSIX shell script")


def protoc_with_plugin(tmp_path: Path, out: Path, option: str) -> subprocess.CompletedProcess[str]:
    """Run protoc on echo.proto as a user would: --plugin=<executable>, --X_out, --X_opt."""
    pytest.importorskip("grpc_tools")
    launcher = tmp_path / "protoc-gen-trioplugin"
    launcher.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -m trioplugin.codegen --protoc-plugin\n'
    )
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-Itests/protos",
            f"--plugin=protoc-gen-trioplugin={launcher}",
            f"--trioplugin_out={out}",
            f"--trioplugin_opt={option}",
            "tests/protos/echo.proto",
        ],
        cwd=REPO,
        env=python_env(REPO),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("path", COMMITTED)
def test_committed_module_matches_a_fresh_generation(generated: Path, path: str) -> None:
    fresh = (generated / path).read_text(encoding="utf-8")
    committed = (REPO / path).read_text(encoding="utf-8")
    assert fresh == committed, f"{path} is stale: run scripts/gen-protos"


@posix_only
def test_protoc_runs_the_plugin_to_the_same_output(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = protoc_with_plugin(tmp_path, out, "relative_imports")
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["echo_trioplugin.py"]
    expected = (generated / "tests" / "echo_trioplugin.py").read_text(encoding="utf-8")
    assert (out / "echo_trioplugin.py").read_text(encoding="utf-8") == expected


@posix_only
def test_protoc_reports_a_bad_option(tmp_path: Path) -> None:
    result = protoc_with_plugin(tmp_path, tmp_path, "relative_imprts")
    assert result.returncode != 0
    assert "unknown trioplugin option 'relative_imprts'" in result.stderr
    assert not (tmp_path / "echo_trioplugin.py").exists()
