"""``python -m trioplugin.codegen``: protoc (from grpcio-tools) and the plugin in one step."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from google.protobuf.compiler.plugin_pb2 import CodeGeneratorRequest, CodeGeneratorResponse

from .._version import __version__
from ._plugin import generate, run_plugin
from ._protoc import NO_PROTOC, ProtocError, compile_descriptors, include_arguments
from ._protoc import load_protoc as _load_protoc

_NO_PROTOC = (
    f"trioplugin.codegen runs protoc: {NO_PROTOC}. Or run your own protoc with "
    "--plugin=protoc-gen-trioplugin=$(command -v protoc-gen-trioplugin) --trioplugin_out=DIR."
)

_NO_MYPY_PROTOBUF = (
    "trioplugin.codegen writes the _pb2.pyi stubs with mypy-protobuf, which is not installed: "
    "pip install mypy-protobuf (or trioplugin[codegen]). Or pass --no-pyi to write no stubs."
)

_MYPY_PROTOBUF = "mypy_protobuf.main"
"""What mypy-protobuf's ``protoc-gen-mypy`` script runs; ``python -m`` runs it as that plugin."""


def main(argv: Sequence[str] | None = None) -> int:
    """Compile proto files to ``_pb2.py``, ``_pb2.pyi`` and ``_trioplugin.py`` modules.

    ``python -m trioplugin.codegen -Iprotos --out src protos/kv.proto`` runs
    protoc (from ``grpcio-tools``) with ``--python_out``, mypy-protobuf for
    the ``.pyi`` stubs (protoc's own ``--pyi_out`` stubs fail ``mypy
    --strict`` on messages with message-typed fields), then the trioplugin
    generator on the same files, all into ``--out``. Nothing is written
    unless every generator succeeds. With ``--protoc-plugin`` it is the
    protoc plugin instead (reads a request on stdin), for a launcher script
    to ``exec``. Returns the exit status.
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
    if not args.no_pyi and not _has_mypy_protobuf():
        print(_NO_MYPY_PROTOBUF, file=sys.stderr)
        return 2
    protoc_main, well_known = protoc
    out = Path(args.out)
    include = include_arguments(args.proto_path or [], well_known)
    # protoc resolves the command line's files to proto names (the first run
    # keeps just those), then gives every descriptor with its comments.
    try:
        direct = compile_descriptors(protoc_main, include, args.files)
        everything = compile_descriptors(
            protoc_main, include, args.files, "--include_imports", "--include_source_info"
        )
    except ProtocError as error:
        return error.status
    request = CodeGeneratorRequest(
        file_to_generate=[file.name for file in direct.file],
        parameter="relative_imports" if args.relative_imports else "",
        proto_file=everything.file,
    )
    responses = [generate(request)]
    if not args.no_pyi and not responses[0].error:
        responses.append(_mypy_stubs(request))
    for response in responses:
        if response.error:
            print(f"trioplugin.codegen: {response.error}", file=sys.stderr)
            return 1
    # Nothing is written unless everything could be generated.
    out.mkdir(parents=True, exist_ok=True)
    status = protoc_main(["protoc", *include, f"--python_out={out}", *args.files])
    if status != 0:
        return status
    for file in (file for response in responses for file in response.file):
        target = out / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content, encoding="utf-8", newline="\n")
    return 0


def _mypy_stubs(request: CodeGeneratorRequest) -> CodeGeneratorResponse:
    """mypy-protobuf's answer to the request: a ``_pb2.pyi`` for each file to generate.

    It runs as the protoc plugin it is, in a child process of this
    interpreter: the plugin protocol is its stable interface, and a child
    needs nothing on ``PATH`` (unlike protoc's ``--plugin``).
    """
    stubs_request = CodeGeneratorRequest()
    stubs_request.CopyFrom(request)
    stubs_request.parameter = "quiet"
    result = subprocess.run(
        [sys.executable, "-m", _MYPY_PROTOBUF],
        input=stubs_request.SerializeToString(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip()
        return CodeGeneratorResponse(error=f"mypy-protobuf failed ({result.returncode}): {reason}")
    return CodeGeneratorResponse.FromString(result.stdout)


def _has_mypy_protobuf() -> bool:
    return importlib.util.find_spec(_MYPY_PROTOBUF.partition(".")[0]) is not None


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
        "--no-pyi",
        action="store_true",
        help="do not write _pb2.pyi stubs (mypy needs them; mypy-protobuf writes them)",
    )
    parser.add_argument(
        "--protoc-plugin",
        action="store_true",
        help="be the protoc plugin: read a CodeGeneratorRequest on stdin",
    )
    parser.add_argument("--version", action="version", version=f"trioplugin {__version__}")
    return parser
