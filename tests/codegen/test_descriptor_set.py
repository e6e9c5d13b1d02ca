"""descriptor_set: .proto files to descriptors at run time, by protoc in a child process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trioplugin.codegen import ProtocError, descriptor_set

PROTOS = Path(__file__).resolve().parents[1] / "protos"


def test_the_files_come_with_their_imports_first(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    (tmp_path / "stamped.proto").write_text(
        'syntax = "proto3";\npackage stamped.v1;\n'
        'import "google/protobuf/timestamp.proto";\n'
        "message Stamped { google.protobuf.Timestamp at = 1; }\n"
    )
    files = descriptor_set([tmp_path / "stamped.proto"], proto_path=[tmp_path]).file
    assert [file.name for file in files] == ["google/protobuf/timestamp.proto", "stamped.proto"]
    assert not files[1].HasField("source_code_info")
    with_comments = descriptor_set([PROTOS / "echo.proto"], [PROTOS], include_source_info=True)
    assert with_comments.file[0].HasField("source_code_info")


def test_protoc_runs_outside_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("grpc_tools")
    monkeypatch.delitem(sys.modules, "grpc_tools.protoc", raising=False)
    descriptor_set([PROTOS / "echo.proto"], [PROTOS])
    # grpc_tools.protoc installs .proto import hooks when imported: not here.
    assert "grpc_tools.protoc" not in sys.modules


def test_protocs_diagnostics_are_in_the_error(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    (tmp_path / "broken.proto").write_text('syntax = "proto3";\nmessage {\n')
    with pytest.raises(ProtocError) as raised:
        descriptor_set([tmp_path / "broken.proto"], [tmp_path])
    assert raised.value.status == 1
    assert str(raised.value).startswith(f"protoc failed on {tmp_path / 'broken.proto'}")
    assert "broken.proto:2:" in str(raised.value)


def test_without_grpcio_tools_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ProtocError, match=r"pip install grpcio-tools") as raised:
        descriptor_set(["any.proto"])
    assert raised.value.status == 2
