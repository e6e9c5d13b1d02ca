"""``python -m trioplugin.codegen``: protoc (from grpcio-tools) and the plugin in one step."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Protocol

from google.protobuf.compiler.plugin_pb2 import CodeGeneratorRequest
from google.protobuf.descriptor_pb2 import FileDescriptorSet

from .._version import __version__
from ._plugin import generate, run_plugin

_NO_PROTOC = (
    "trioplugin.codegen runs protoc from the grpcio-tools package, which is not installed: "
    "pip install grpcio-tools (or trioplugin[dev]). Or run your own protoc with "
    "--plugin=protoc-gen-trioplugin=$(command -v protoc-gen-trioplugin) --trioplugin_out=DIR."
)


class _Protoc(Protocol):
    def __call__(self, arguments: list[str], /) -> int: ...


def main(argv: Sequence[str] | None = None) -> int:
    """Compile proto files to ``_pb2.py``, ``_pb2.pyi`` and ``_trioplugin.py`` modules.

    ``python -m trioplugin.codegen -Iprotos --out src protos/kv.proto`` runs
    protoc (from ``grpcio-tools``) with ``--python_out`` and ``--pyi_out``,
    then the trioplugin generator on the same files, all into ``--out``.
    With ``--protoc-plugin`` it is the protoc plugin instead (reads a
    request on stdin), for a launcher script to ``exec``. Returns the exit
    status.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.protoc_plugin:
        run_plugin()
        return 0
    if not args.files:
        parser.error("name at least one .proto file")
    protoc = _load_protoc()
    if protoc is None:
        print(_NO_PROTOC, file=sys.stderr)
        return 2
    protoc_main, well_known = protoc
    out = Path(args.out)
    include = [f"-I{path}" for path in (args.proto_path or ["."])] + [f"-I{well_known}"]
    with tempfile.TemporaryDirectory(prefix="trioplugin-codegen-") as tmp:
        direct, everything = Path(tmp, "direct.pb"), Path(tmp, "all.pb")
        # protoc resolves the command line's files to proto names (the first run
        # keeps just those), then gives every descriptor with its comments.
        for arguments in (
            [f"--descriptor_set_out={direct}"],
            [f"--descriptor_set_out={everything}", "--include_imports", "--include_source_info"],
        ):
            status = protoc_main(["protoc", *include, *arguments, *args.files])
            if status != 0:
                return status
        request = CodeGeneratorRequest(
            file_to_generate=[
                file.name for file in FileDescriptorSet.FromString(direct.read_bytes()).file
            ],
            parameter="relative_imports" if args.relative_imports else "",
            proto_file=FileDescriptorSet.FromString(everything.read_bytes()).file,
        )
    response = generate(request)
    if response.error:
        print(f"trioplugin.codegen: {response.error}", file=sys.stderr)
        return 1
    # Nothing is written unless everything could be generated.
    out.mkdir(parents=True, exist_ok=True)
    pyi = [] if args.no_pyi else [f"--pyi_out={out}"]
    status = protoc_main(["protoc", *include, f"--python_out={out}", *pyi, *args.files])
    if status != 0:
        return status
    for file in response.file:
        target = out / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content, encoding="utf-8", newline="\n")
    return 0


def _load_protoc() -> tuple[_Protoc, str] | None:
    try:
        protoc = importlib.import_module("grpc_tools.protoc")
    except ImportError:
        return None
    well_known = str(resources.files("grpc_tools") / "_proto")
    run: _Protoc = protoc.main
    return run, well_known


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trioplugin.codegen",
        description="Generate _pb2 modules and typed trioplugin stubs from .proto files.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE.proto", help="the proto files")
    parser.add_argument(
        "-I",
        "--proto-path",
        "--proto_path",
        action="append",
        metavar="DIR",
        help="where imports are looked up (repeatable; the default is .)",
    )
    parser.add_argument("--out", default=".", metavar="DIR", help="the output root (default .)")
    parser.add_argument(
        "--relative-imports",
        action="store_true",
        help="import the _pb2 modules relatively (from . import x_pb2)",
    )
    parser.add_argument(
        "--no-pyi", action="store_true", help="do not write _pb2.pyi stubs (mypy needs them)"
    )
    parser.add_argument(
        "--protoc-plugin",
        action="store_true",
        help="be the protoc plugin: read a CodeGeneratorRequest on stdin",
    )
    parser.add_argument("--version", action="version", version=f"trioplugin {__version__}")
    return parser
