"""Generated code made once per session, by the real command, in a subprocess.

The command runs protoc from grpcio-tools, whose import installs import hooks
for .proto files; a subprocess keeps those out of the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SINK_PROTOS = Path(__file__).resolve().parent / "protos"
SINK_FILES = [
    "sink/v1/sink.proto",
    "sink/v1/shared-types.proto",
    "sink/v1/common.proto",
    "sink/v1/fields.proto",
    "sink/v2/common.proto",
]


def python_env(*paths: Path) -> dict[str, str]:
    """The environment for a child Python that imports from ``paths`` first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")])
    return env


def codegen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m trioplugin.codegen`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "trioplugin.codegen", *map(str, args)],
        cwd=REPO,
        env=python_env(REPO),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's two protos, generated as scripts/gen-protos does, into a tmp dir."""
    pytest.importorskip("grpc_tools")
    pytest.importorskip("mypy_protobuf")  # the .pyi stubs
    out = tmp_path_factory.mktemp("generated")
    runs: list[list[str | Path]] = [
        ["-Itests/protos", "--out", out / "tests", "--relative-imports", "tests/protos/echo.proto"],
        ["-I.", "--out", out, "examples/kv/kv.proto"],
    ]
    for args in runs:
        result = codegen(*args)
        assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kitchen-sink protos generated into a tmp dir (the output root)."""
    pytest.importorskip("grpc_tools")
    pytest.importorskip("mypy_protobuf")  # the .pyi stubs
    out = tmp_path_factory.mktemp("sink")
    result = codegen(f"-I{SINK_PROTOS}", "--out", out, *(SINK_PROTOS / f for f in SINK_FILES))
    assert result.returncode == 0, result.stderr
    return out
