"""The committed generated modules are what the generator writes today, by either route."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.codegen.conftest import REPO, codegen, python_env

COMMITTED = ["tests/echo_trioplugin.py", "examples/kv/kv_trioplugin.py"]

# The plugin contract, generated into the package: every file protoc,
# mypy-protobuf and our generator write is committed, so all are compared.
PLUGIN_PROTOS = Path("trioplugin/plugin/protos")
PLUGIN_FILES = [
    "connectplugin/v1/handshake.proto",
    "connectplugin/v1/control.proto",
    "connectplugin/health/v1/health.proto",
    "grpc/health/v1/health.proto",
]
PLUGIN_COMMITTED = [
    str(PLUGIN_PROTOS / proto.replace(".proto", suffix))
    for proto in PLUGIN_FILES
    for suffix in ("_pb2.py", "_pb2.pyi", "_trioplugin.py")
]

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


@pytest.fixture(scope="module")
def plugin_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin contract generated as scripts/gen-protos does, into a tmp dir."""
    pytest.importorskip("grpc_tools")
    pytest.importorskip("mypy_protobuf")
    out = tmp_path_factory.mktemp("plugin")
    for proto in PLUGIN_FILES:
        result = codegen(
            f"-I{PLUGIN_PROTOS}",
            "--out",
            out / PLUGIN_PROTOS,
            "--relative-imports",
            PLUGIN_PROTOS / proto,
        )
        assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("path", PLUGIN_COMMITTED)
def test_committed_plugin_contract_matches_a_fresh_generation(
    plugin_generated: Path, path: str
) -> None:
    fresh = (plugin_generated / path).read_text(encoding="utf-8")
    committed = (REPO / path).read_text(encoding="utf-8")
    assert fresh == committed, f"{path} is stale: run scripts/gen-protos"


def test_every_generated_plugin_module_is_committed(plugin_generated: Path) -> None:
    written = {
        str(path.relative_to(plugin_generated))
        for path in plugin_generated.rglob("*")
        if path.is_file()
    }
    assert written == set(PLUGIN_COMMITTED)


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
