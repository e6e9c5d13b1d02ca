"""Python names for proto things: modules as protoc names them, imports, constants, sort keys."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import final

_WELL_KNOWN_PREFIX = "google/protobuf/"


class GenerationError(Exception):
    """The request cannot be turned into Python code (reported to protoc as an error)."""


def module_name(proto_file: str, suffix: str = "_pb2") -> str:
    """The dotted module protoc's Python generator writes for ``proto_file``.

    ``examples/kv/kv.proto`` → ``examples.kv.kv_pb2``; ``foo-bar.proto`` →
    ``foo_bar_pb2`` (protoc replaces ``-`` with ``_`` and ``/`` with ``.``).
    """
    stem = proto_file.removesuffix(".protodevel").removesuffix(".proto")
    return stem.replace("-", "_").replace("/", ".") + suffix


def module_path(module: str) -> str:
    """The file a dotted module lives in, relative to the output root."""
    return module.replace(".", "/") + ".py"


def constant_name(service: str) -> str:
    """``KVService`` → ``KV_SERVICE``; ``EchoService`` → ``ECHO_SERVICE``."""
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", service)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", words)
    return words.upper()


def is_usable_attribute(name: str) -> bool:
    """Whether ``name`` can be a method or attribute of a generated class.

    Python keywords cannot be spelled as attributes, and names with a
    leading underscore would collide with the generated module's private
    names.
    """
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")


def natural_key(name: str) -> tuple[str | int, ...]:
    """Sort key comparing runs of digits as numbers (``Get2`` before ``Get10``)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def isort_key(name: str) -> tuple[int, tuple[str | int, ...]]:
    """The order ruff wants in ``__all__``: CONSTANTS, then Classes, then the rest."""
    if len(name) > 1 and name.isupper():
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    return group, natural_key(name)


@final
@dataclass(frozen=True, slots=True)
class ModuleImport:
    """One ``_pb2`` module the generated code imports, under a private alias."""

    module: str
    """The dotted module, e.g. ``examples.kv.kv_pb2``."""
    alias: str
    """The name it is bound to, e.g. ``_kv_pb2``."""
    relative_to: str | None = None
    """Import relative to this package (dotted, ``""`` for the top level), or absolutely."""

    def statement(self) -> str:
        """The import statement."""
        package, _, name = self.module.rpartition(".")
        if self.relative_to is not None:
            here = self.relative_to.split(".") if self.relative_to else []
            there = package.split(".") if package else []
            common = 0
            while common < min(len(here), len(there)) and here[common] == there[common]:
                common += 1
            dots = "." * (len(here) - common + 1)
            return f"from {dots}{'.'.join(there[common:])} import {name} as {self.alias}"
        if not package:
            return f"import {name} as {self.alias}"
        return f"from {package} import {name} as {self.alias}"


def plan_imports(
    own_file: str, dependencies: Iterable[str], *, relative: bool
) -> dict[str, ModuleImport]:
    """The import of each proto file's ``_pb2`` module, by proto file name.

    The file's own module is bound to ``_<basename>``; another module gets
    the same short form unless that is taken, then a spelled-out alias
    (``_a_dot_b__pb2``). With ``relative``, modules other than the
    well-known types (``google/protobuf/*``, shipped inside protobuf) are
    imported relative to the generated module's package.

    Raises:
        GenerationError: a module path has a component Python cannot import
            with a plain import statement (a keyword, say).
    """
    own_package = module_name(own_file).rpartition(".")[0]
    imports: dict[str, ModuleImport] = {}
    taken: set[str] = set()
    for proto_file in [own_file, *sorted(set(dependencies) - {own_file})]:
        module = module_name(proto_file)
        parts = module.split(".")
        if not all(part.isidentifier() and not keyword.iskeyword(part) for part in parts):
            raise GenerationError(
                f"{proto_file}: its Python module {module!r} cannot be imported by name "
                "(a path component is a Python keyword or not an identifier)"
            )
        alias = "_" + parts[-1]
        if alias in taken:
            alias = "_" + module.replace("_", "__").replace(".", "_dot_")
        taken.add(alias)
        relative_to = (
            own_package if relative and not proto_file.startswith(_WELL_KNOWN_PREFIX) else None
        )
        imports[proto_file] = ModuleImport(module, alias, relative_to)
    return imports
