"""Where ``trioplugin call`` finds services and message types: .proto files, _pb2 modules.

``--proto FILE`` compiles the files with protoc (:func:`trioplugin.codegen.descriptor_set`)
into a descriptor pool of their own; ``--pb2 MODULE`` imports generated
modules, which add theirs to protobuf's default pool. With neither, the
services trioplugin itself ships (``grpc.health.v1.Health`` and
connect-plugin-go's contract) are known.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, final

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor

from ._cli_common import CommandError
from .codegen import ProtocError, descriptor_set
from .rpc import Service

_BUNDLED: Final = (
    "trioplugin.plugin.protos.grpc.health.v1.health_pb2",
    "trioplugin.plugin.protos.connectplugin.health.v1.health_pb2",
    "trioplugin.plugin.protos.connectplugin.v1.handshake_pb2",
    "trioplugin.plugin.protos.connectplugin.v1.control_pb2",
)
"""The generated modules of the services trioplugin ships, known without --proto or --pb2."""


@final
@dataclass(frozen=True, slots=True)
class Schema:
    """A descriptor pool, with the services its sources define (to name them in errors)."""

    pool: descriptor_pool.DescriptorPool
    """Where services and message types (also those of ``Any`` fields) are looked up."""
    origin: str
    """What the services came from, for messages: ``"the --proto files"``."""
    services: tuple[str, ...]
    """The full names of the services the sources define."""
    hint: str = ""
    """Said after the services an unknown service's error lists."""

    def service(self, name: str) -> Service:
        """The service called ``name``.

        Raises:
            CommandError: the pool has no such service (the message lists those there are).
        """
        try:
            return Service(self.pool.FindServiceByName(name))
        except KeyError:
            known = ", ".join(self.services) or "none"
            raise CommandError(
                f"unknown service {name!r}: the services of {self.origin} are: {known}{self.hint}"
            ) from None


def load_schema(
    proto_files: Sequence[str], proto_path: Sequence[str], pb2_modules: Sequence[str]
) -> Schema:
    """The schema of ``--proto`` files (with ``-I`` paths), or of ``--pb2`` modules.

    With neither, the services trioplugin ships.

    Raises:
        CommandError: protoc refused the files (or is missing), or a module
            cannot be imported or is not a generated ``_pb2`` module.
    """
    if proto_files:
        return _from_proto_files(proto_files, proto_path)
    if pb2_modules:
        files = [_import_pb2(name) for name in pb2_modules]
        return Schema(descriptor_pool.Default(), "the --pb2 modules", _services(files))
    files = [_import_pb2(name) for name in _BUNDLED]
    return Schema(
        descriptor_pool.Default(),
        "trioplugin without --proto or --pb2",
        _services(files),
        "; give the service's --proto FILE or --pb2 MODULE",
    )


def _from_proto_files(files: Sequence[str], proto_path: Sequence[str]) -> Schema:
    try:
        compiled = descriptor_set(files, proto_path)
    except ProtocError as error:
        raise CommandError(f"--proto: {error}") from None
    pool = descriptor_pool.DescriptorPool()
    for file in compiled.file:  # protoc puts each file's imports before it
        pool.Add(file)
    descriptors = [pool.FindFileByName(file.name) for file in compiled.file]
    return Schema(pool, "the --proto files", _services(descriptors))


def _import_pb2(name: str) -> FileDescriptor:
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        raise CommandError(f"--pb2: cannot import {name}: {error}") from None
    descriptor = getattr(module, "DESCRIPTOR", None)
    if not isinstance(descriptor, FileDescriptor):
        raise CommandError(f"--pb2: {name} is not a generated _pb2 module (it has no DESCRIPTOR)")
    return descriptor


def _services(files: Sequence[FileDescriptor]) -> tuple[str, ...]:
    return tuple(
        sorted({service.full_name for file in files for service in file.services_by_name.values()})
    )
