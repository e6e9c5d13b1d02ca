"""protoc from grpcio-tools: descriptor sets of .proto files, for the generator and the CLI."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Protocol

from google.protobuf.descriptor_pb2 import FileDescriptorSet

NO_PROTOC = (
    "protoc comes from the grpcio-tools package, which is not installed: "
    "pip install grpcio-tools (or trioplugin[codegen])"
)


class ProtocError(Exception):
    """protoc is not installed (grpcio-tools is missing), or it refused the files.

    protoc prints its own diagnostics to standard error; ``status`` is its
    exit status (2 when it is not installed).
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ProtocMain(Protocol):
    """grpcio-tools' ``protoc.main``: protoc's command line, in this process."""

    def __call__(self, arguments: list[str], /) -> int: ...


def load_protoc() -> tuple[ProtocMain, str] | None:
    """grpcio-tools' protoc and its well-known types' include directory (None: not installed)."""
    try:
        protoc = importlib.import_module("grpc_tools.protoc")
    except ImportError:
        return None
    well_known = str(resources.files("grpc_tools") / "_proto")
    run: ProtocMain = protoc.main
    return run, well_known


def include_arguments(proto_path: Sequence[str | PathLike[str]], well_known: str) -> list[str]:
    """The ``-I`` arguments: ``proto_path`` (``.`` if empty), then the well-known types."""
    return [f"-I{path}" for path in (proto_path or ["."])] + [f"-I{well_known}"]


def compile_descriptors(
    protoc: ProtocMain,
    include: Sequence[str],
    files: Sequence[str | PathLike[str]],
    *options: str,
) -> FileDescriptorSet:
    """Run ``protoc --descriptor_set_out`` with ``options`` on ``files``; return the set.

    Raises:
        ProtocError: protoc failed (it has said why on standard error).
    """
    with tempfile.TemporaryDirectory(prefix="trioplugin-protoc-") as tmp:
        out = Path(tmp, "descriptors.pb")
        arguments = [*include, f"--descriptor_set_out={out}", *options, *map(str, files)]
        status = protoc(["protoc", *arguments])
        if status != 0:
            names = ", ".join(map(str, files))
            raise ProtocError(f"protoc failed on {names} (exit status {status})", status)
        return FileDescriptorSet.FromString(out.read_bytes())


def descriptor_set(
    files: Sequence[str | PathLike[str]],
    proto_path: Sequence[str | PathLike[str]] = (),
    *,
    include_source_info: bool = False,
) -> FileDescriptorSet:
    """The descriptors of ``files`` and of everything they import, as protoc compiles them.

    Example::

        files = descriptor_set(["protos/kv.proto"], proto_path=["protos"]).file
        pool = descriptor_pool.DescriptorPool()
        for file in files:   # imports come first
            pool.Add(file)

    ``proto_path`` are protoc's ``-I`` directories (``.`` if empty); the
    well-known types (``google/protobuf/*.proto``) are always found. Each
    file must lie in one of them. protoc (from ``grpcio-tools``) runs in a
    child process: importing it here would install its ``.proto`` import
    hooks in this one.

    Raises:
        ProtocError: grpcio-tools is not installed, or protoc refused the
            files (the message quotes protoc's diagnostics).
    """
    if importlib.util.find_spec("grpc_tools") is None:
        raise ProtocError(NO_PROTOC, 2)
    well_known = str(resources.files("grpc_tools") / "_proto")
    include = include_arguments(proto_path, well_known)
    options = ["--include_imports"] + (["--include_source_info"] if include_source_info else [])
    protoc = _ChildProtoc()
    try:
        return compile_descriptors(protoc, include, files, *options)
    except ProtocError as error:
        raise ProtocError(f"{error}: {protoc.diagnostics}", error.status) from None


class _ChildProtoc:
    """grpcio-tools' protoc in a child process; keeps what it printed on standard error."""

    def __init__(self) -> None:
        self.diagnostics = ""

    def __call__(self, arguments: list[str], /) -> int:
        done = subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", *arguments[1:]],
            capture_output=True,
            text=True,
            check=False,
        )
        self.diagnostics = done.stderr.strip()
        return done.returncode
