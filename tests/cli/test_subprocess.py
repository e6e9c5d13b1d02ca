"""The real command: ``python -m trioplugin`` in a child process, against a server in this loop.

The child compiles ``--proto`` files with protoc (grpcio-tools), which this
process never imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.cli.conftest import ECHO_PATH, Done
from trioplugin.transport import Server

ROOT = Path(__file__).resolve().parents[2]
PROTO = ("--proto", "tests/protos/echo.proto", "-I", "tests/protos")


async def trioplugin(*argv: str, stdin: str = "") -> Done:
    done = await trio.run_process(
        [sys.executable, "-m", "trioplugin", *argv],
        cwd=ROOT,
        stdin=stdin.encode(),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert isinstance(done, subprocess.CompletedProcess)
    return Done(done.returncode, done.stdout.decode(), done.stderr.decode())


async def test_call_with_a_proto_file(server: Server) -> None:
    pytest.importorskip("grpc_tools")
    url = f"{server.url}{ECHO_PATH}/ServerStream"
    data = '{"text": "from a child", "repeat": 2}'
    done = await trioplugin("call", url, *PROTO, "--data", "-", "-H", "x-from: child", stdin=data)
    assert (done.status, done.err) == (0, "")
    replies = [json.loads(line) for line in done.out.splitlines()]
    assert [reply["text"] for reply in replies] == ["from a child"] * 2
    assert replies[0]["seen"]["x-from"] == "child"


async def test_an_rpc_error_exits_1(server: Server) -> None:
    url = f"{server.url}{ECHO_PATH}/Put"
    done = await trioplugin("call", url, "--pb2", "tests.echo_pb2", "-d", '{"text": "raise"}')
    assert (done.status, done.out) == (1, "")
    assert done.err.startswith("error: internal ")


async def test_proto_errors_quote_protoc(server: Server, tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    (tmp_path / "broken.proto").write_text('syntax = "proto3";\nservice {\n')
    url = f"{server.url}{ECHO_PATH}/Echo"
    broken = ("--proto", str(tmp_path / "broken.proto"), "-I", str(tmp_path))
    done = await trioplugin("call", url, *broken)
    assert (done.status, done.out) == (2, "")
    assert done.err.startswith(f"error: --proto: protoc failed on {tmp_path / 'broken.proto'}")
    assert "broken.proto:2:" in done.err
    done = await trioplugin("call", f"{server.url}/nope.v1.Nope/Get", *PROTO)
    assert done.err == (
        "error: unknown service 'nope.v1.Nope': "
        "the services of the --proto files are: trioplugin.test.v1.EchoService\n"
    )


async def test_health_exit_status(server: Server) -> None:
    assert await trioplugin("health", server.url) == Done(0, "SERVING\n", "")
    done = await trioplugin("health", server.url, "--service", "sick.v1.Sick")
    assert done == Done(1, "NOT_SERVING\n", "")
