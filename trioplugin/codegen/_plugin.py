"""The protoc plugin: a CodeGeneratorRequest in, a CodeGeneratorResponse out."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import BinaryIO

from google.protobuf.compiler.plugin_pb2 import CodeGeneratorRequest, CodeGeneratorResponse
from google.protobuf.descriptor_pb2 import DescriptorProto, Edition, FileDescriptorProto

from ._naming import GenerationError, module_name, module_path
from ._render import MessageIndex, render_file

SUFFIX = "_trioplugin"
"""Generated modules are named like the ``_pb2`` ones, with this suffix instead."""

_OPTIONS = {"relative_imports"}


def generate(request: CodeGeneratorRequest) -> CodeGeneratorResponse:
    """Generate a ``<name>_trioplugin.py`` for each requested proto file that has services.

    Each lands next to the ``<name>_pb2.py`` that protoc's ``--python_out``
    writes for the same file, and imports it by the name protoc gives it.
    Files without services produce nothing.

    The parameter (``--trioplugin_opt=...``) is a comma-separated list of
    options; the one option is ``relative_imports``: import the ``_pb2``
    modules relative to the generated module's package (``from . import
    echo_pb2``) rather than by their full name, for output that becomes a
    package of its own. The well-known types are imported absolutely.

    A request that cannot be served (an unknown option, an unknown type, a
    name clash) is answered with the response's ``error`` set, which protoc
    prints.
    """
    response = CodeGeneratorResponse(
        supported_features=CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
        | CodeGeneratorResponse.FEATURE_SUPPORTS_EDITIONS,
        minimum_edition=Edition.EDITION_PROTO2,
        maximum_edition=Edition.EDITION_2024,
    )
    try:
        options = _parse_options(request.parameter)
        files = {file.name: file for file in request.proto_file}
        messages = _message_index(request.proto_file)
        for name in request.file_to_generate:
            file = files.get(name)
            if file is None:
                raise GenerationError(f"{name}: not among the request's proto files")
            if not file.service:
                continue
            content = render_file(file, messages, relative_imports="relative_imports" in options)
            response.file.add(name=module_path(module_name(name, SUFFIX)), content=content)
    except GenerationError as error:
        del response.file[:]
        response.error = str(error)
    return response


def run_plugin(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Read a CodeGeneratorRequest from ``stdin``, write the CodeGeneratorResponse to ``stdout``.

    What protoc runs as ``protoc-gen-trioplugin``; the standard streams by default.
    """
    source = stdin if stdin is not None else sys.stdin.buffer
    sink = stdout if stdout is not None else sys.stdout.buffer
    request = CodeGeneratorRequest.FromString(source.read())
    sink.write(generate(request).SerializeToString())
    sink.flush()


def _parse_options(parameter: str) -> set[str]:
    options = set()
    for option in filter(None, (part.strip() for part in parameter.split(","))):
        name, _, value = option.partition("=")
        if name not in _OPTIONS or value.lower() not in ("", "true", "1"):
            known = ", ".join(sorted(_OPTIONS))
            raise GenerationError(f"unknown trioplugin option {option!r}; known: {known}")
        options.add(name)
    return options


def _message_index(files: Iterable[FileDescriptorProto]) -> MessageIndex:
    index: dict[str, tuple[str, str]] = {}

    def walk(messages: Iterable[DescriptorProto], proto_prefix: str, python_prefix: str) -> None:
        for message in messages:
            index[proto_prefix + message.name] = (file.name, python_prefix + message.name)
            walk(
                message.nested_type,
                f"{proto_prefix}{message.name}.",
                f"{python_prefix}{message.name}.",
            )

    for file in files:
        walk(file.message_type, f"{file.package}." if file.package else "", "")
    return index
