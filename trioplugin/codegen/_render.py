"""The text of one generated ``_trioplugin.py`` module."""

from __future__ import annotations

import enum
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import final

from google.protobuf.descriptor_pb2 import (
    FileDescriptorProto,
    MethodDescriptorProto,
    MethodOptions,
    ServiceDescriptorProto,
)

from .._version import __version__
from ._naming import (
    GenerationError,
    ModuleImport,
    constant_name,
    is_usable_attribute,
    isort_key,
    natural_key,
    plan_imports,
)
from ._text import WIDTH, bracketed, comments, docstring, method_path, service_path

GENERATOR = f"protoc-gen-trioplugin {__version__}"
"""Who wrote the generated code, as its header says."""


class _Kind(enum.Enum):
    UNARY = "UnaryMethod"
    SERVER_STREAM = "ServerStreamMethod"
    CLIENT_STREAM = "ClientStreamMethod"
    BIDI_STREAM = "BidiStreamMethod"

    @classmethod
    def of(cls, method: MethodDescriptorProto) -> _Kind:
        if method.client_streaming:
            return cls.BIDI_STREAM if method.server_streaming else cls.CLIENT_STREAM
        return cls.SERVER_STREAM if method.server_streaming else cls.UNARY

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    _Kind.UNARY: "Unary",
    _Kind.SERVER_STREAM: "Server-streaming",
    _Kind.CLIENT_STREAM: "Client-streaming",
    _Kind.BIDI_STREAM: "Bidi-streaming",
}


_CLIENT_USAGE = {
    _Kind.UNARY: "Unary: ``await stub.{name}(request)``; ``.call(request)`` adds the metadata.",
    _Kind.SERVER_STREAM: "Server-streaming: ``async with stub.{name}(request) as responses``.",
    _Kind.CLIENT_STREAM: "Client-streaming: ``await stub.{name}(requests)``, any (async) iterable.",
    _Kind.BIDI_STREAM: "Bidi-streaming (HTTP/2): ``async with stub.{name}() as stream``.",
}

_SERVER_USAGE = {
    _Kind.UNARY: "Serve ``{name}`` (unary): return the response.",
    _Kind.SERVER_STREAM: "Serve ``{name}`` (server-streaming): yield the responses.",
    _Kind.CLIENT_STREAM: "Serve ``{name}`` (client-streaming): read requests, return the response.",
    _Kind.BIDI_STREAM: "Serve ``{name}`` (bidi-streaming): read requests, yield responses.",
}

_CALLER = "_rpc.Caller"
"""What a generated client is built on: what ``UnaryMethod`` and its kin take."""

_RESERVED = frozenset({"SERVICE"})
"""Names a generated client defines itself, so RPCs cannot use them as attributes."""

_GENERATOR_NOTE = "Write it as an async generator: ``async def`` with ``yield``."

_IDEMPOTENCY = {
    MethodOptions.IDEMPOTENCY_UNKNOWN: "Idempotency: not declared, so it may have side effects.",
    MethodOptions.NO_SIDE_EFFECTS: "Idempotency: no side effects (``NO_SIDE_EFFECTS``).",
    MethodOptions.IDEMPOTENT: "Idempotency: idempotent (``IDEMPOTENT``).",
}


@final
@dataclass(frozen=True, slots=True)
class _Method:
    name: str
    kind: _Kind
    request: str
    response: str
    notes: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class _Service:
    name: str
    full_name: str
    constant: str
    methods: tuple[_Method, ...]
    skipped: tuple[str, ...]
    comment: str


MessageIndex = Mapping[str, tuple[str, str]]
"""Each message's full name (no leading dot) → (its proto file, its path in the module)."""


def render_file(
    file: FileDescriptorProto, messages: MessageIndex, *, relative_imports: bool
) -> str:
    """The generated module for ``file``, which has at least one service.

    Raises:
        GenerationError: a message type is unknown, or generated names clash.
    """
    notes = comments(file)
    used_files: set[str] = set()

    def python_type(type_name: str, imports: Mapping[str, ModuleImport]) -> str:
        proto_file, path = messages[type_name.lstrip(".")]
        return f"{imports[proto_file].alias}.{path}"

    for service in file.service:
        for method in service.method:
            for type_name in (method.input_type, method.output_type):
                if type_name.lstrip(".") not in messages:
                    raise GenerationError(f"{file.name}: unknown message type {type_name}")
                used_files.add(messages[type_name.lstrip(".")][0])
    imports = plan_imports(file.name, used_files, relative=relative_imports)

    services = []
    for index, service_proto in enumerate(file.service):
        methods, skipped = [], []
        for m_index, method in enumerate(service_proto.method):
            if not is_usable_attribute(method.name):
                skipped.append(method.name)
                continue
            methods.append(
                _Method(
                    name=method.name,
                    kind=_Kind.of(method),
                    request=python_type(method.input_type, imports),
                    response=python_type(method.output_type, imports),
                    notes=_method_notes(method, notes.get(method_path(index, m_index), "")),
                )
            )
        services.append(_service(file, service_proto, index, methods, skipped, notes))
    _check_names(services, imports)
    return "\n".join(_module(file, services, imports)) + "\n"


def _service(
    file: FileDescriptorProto,
    service: ServiceDescriptorProto,
    index: int,
    methods: list[_Method],
    skipped: list[str],
    notes: Mapping[tuple[int, ...], str],
) -> _Service:
    full_name = f"{file.package}.{service.name}" if file.package else service.name
    comment = notes.get(service_path(index), "")
    if service.options.deprecated:
        comment = "\n\n".join(filter(None, [comment, "Deprecated."]))
    return _Service(
        name=service.name,
        full_name=full_name,
        constant=constant_name(service.name),
        methods=tuple(methods),
        skipped=tuple(skipped),
        comment=comment,
    )


def _method_notes(method: MethodDescriptorProto, comment: str) -> tuple[str, ...]:
    notes = [comment, _IDEMPOTENCY[method.options.idempotency_level]]
    if method.options.deprecated:
        notes.append("Deprecated.")
    return tuple(notes)


def _check_names(services: list[_Service], imports: Mapping[str, ModuleImport]) -> None:
    seen = {module.alias: f"the import of {module.module}" for module in imports.values()}
    for service in services:
        for name in (service.constant, f"{service.name}Client", f"{service.name}Impl"):
            if name in seen:
                raise GenerationError(
                    f"service {service.full_name} would define {name}, "
                    f"which {seen[name]} already defines; rename one of them"
                )
            seen[name] = f"service {service.full_name}"


def _module(
    file: FileDescriptorProto, services: list[_Service], imports: Mapping[str, ModuleImport]
) -> list[str]:
    own = imports[file.name]
    streams_out = any(
        method.kind in (_Kind.SERVER_STREAM, _Kind.BIDI_STREAM)
        for service in services
        for method in service.methods
    )
    exported = sorted(
        (name for s in services for name in (s.constant, f"{s.name}Client", f"{s.name}Impl")),
        key=isort_key,
    )
    package = f" (package ``{file.package}``)" if file.package else ""
    lines = [
        f"# Generated by {GENERATOR} from {file.name}. DO NOT EDIT.",
        "# isort: skip_file",
        *docstring(
            "Typed trioplugin clients and server protocols for the services of a proto file.",
            [f"Generated from ``{file.name}``{package}."],
            "",
        ),
        "",
        "from __future__ import annotations",
        "",
        *(["import collections.abc as _abc"] if streams_out else []),
        "import typing as _typing",
        "",
        "from trioplugin import rpc as _rpc",
        "",
        *sorted(module.statement() for module in imports.values() if module.relative_to is None),
        *sorted(
            module.statement() for module in imports.values() if module.relative_to is not None
        ),
        "",
        *bracketed("__all__ = [", [f'"{name}"' for name in exported], "]", ""),
    ]
    for service in services:
        lines += ["", ""]
        lines += _constant(service, own)
        lines += ["", ""]
        lines += _client(service)
        lines += ["", ""]
        lines += _impl(service)
    return lines


def _constant(service: _Service, own: ModuleImport) -> list[str]:
    return [
        *bracketed(
            f"{service.constant} = _rpc.Service.from_module(",
            [own.alias, f'"{service.name}"'],
            ")",
            "",
        ),
        *docstring(
            f"``{service.full_name}``: serve it as ``{{{service.constant}: implementation}}``.",
            [],
            "",
        ),
    ]


def _skipped_note(skipped: Sequence[str], how: str) -> list[str]:
    if not skipped:
        return []
    names = ", ".join(f"``{name}``" for name in skipped)
    return [_fill(f"Left out, as their names cannot be Python attributes here: {names}; {how}.")]


def _fill(text: str, indent: str = "    ") -> str:
    """Wrap a paragraph of our own (never a proto comment, which may be preformatted)."""
    return textwrap.fill(text, WIDTH - len(indent), break_long_words=False, break_on_hyphens=False)


def _usage_docstring(kind: str, usage: str, notes: Sequence[str], indent: str) -> list[str]:
    """``usage`` as the summary line if it fits, else ``kind`` with ``usage`` below it."""
    if len(indent) + len(usage) + 7 <= WIDTH:
        return docstring(usage, notes, indent)
    return docstring(f"{kind}.", [_fill(usage, indent), *notes], indent)


def _client(service: _Service) -> list[str]:
    indent = "    "
    methods = [method for method in service.methods if method.name not in _RESERVED]
    lines = [
        "@_typing.final",
        f"class {service.name}Client:",
        *docstring(
            f"A typed client of ``{service.name}``: one attribute per RPC.",
            [
                service.comment,
                _fill(
                    "Each attribute calls the RPC as the same attribute of "
                    f"``client.stub({service.constant})`` does, typed for mypy."
                ),
                *_skipped_note(
                    [*service.skipped, *(m.name for m in service.methods if m.name in _RESERVED)],
                    f"call them through ``client.stub({service.constant})``",
                ),
            ],
            indent,
        ),
        "",
        *bracketed(
            "__slots__ = (",
            [f'"{m.name}"' for m in sorted(methods, key=lambda m: natural_key(m.name))],
            ")",
            indent,
            one_tuple=len(methods) == 1,
        ),
        "",
        f"{indent}SERVICE: _typing.ClassVar[_rpc.Service] = {service.constant}",
        f'{indent}"""The service this client calls."""',
    ]
    for method in methods:
        lines.append("")
        lines += bracketed(
            f"{method.name}: _rpc.{method.kind.value}[",
            [method.request, method.response],
            "]",
            indent,
        )
        usage = _CLIENT_USAGE[method.kind].format(name=method.name)
        lines += _usage_docstring(f"{method.kind.title} RPC", usage, method.notes, indent)
    lines += [
        "",
        f"{indent}def __init__(self, client: {_CALLER}) -> None:",
        *docstring(f"Bind every RPC of ``{service.full_name}`` to ``client``.", [], indent * 2),
    ]
    for method in methods:
        lines += bracketed(
            f"self.{method.name} = _rpc.{method.kind.value}(",
            ["client", f'{service.constant}.method("{method.name}")'],
            ")",
            indent * 2,
        )
    return lines


def _impl(service: _Service) -> list[str]:
    indent = "    "
    lines = [
        f"class {service.name}Impl(_typing.Protocol):",
        *docstring(
            f"What serves ``{service.name}``: one method per RPC, called by the server.",
            [
                service.comment,
                _fill(
                    f"Serve one with ``open_connect_server({{{service.constant}: impl}})``. "
                    "A class need not inherit from this protocol: annotate a variable with "
                    "it, or subclass it, to have mypy check every method's signature."
                ),
                *_skipped_note(service.skipped, "the server still finds them by name"),
            ],
            indent,
        ),
    ]
    for method in service.methods:
        streams_in = method.kind in (_Kind.CLIENT_STREAM, _Kind.BIDI_STREAM)
        streams_out = method.kind in (_Kind.SERVER_STREAM, _Kind.BIDI_STREAM)
        argument = (
            f"requests: _rpc.MessageReceiver[{method.request}]"
            if streams_in
            else f"request: {method.request}"
        )
        returns = f"_abc.AsyncIterator[{method.response}]" if streams_out else method.response
        lines.append("")
        lines += bracketed(
            f"{'def' if streams_out else 'async def'} {method.name}(",
            ["self", argument, "ctx: _rpc.HandlerContext", "/"],
            f") -> {returns}:",
            indent,
        )
        usage = _SERVER_USAGE[method.kind].format(name=method.name)
        notes = (_GENERATOR_NOTE, *method.notes) if streams_out else method.notes
        lines += _usage_docstring(
            f"Serve this {method.kind.title.lower()} RPC", usage, notes, indent * 2
        )
    return lines
