"""Typed stubs from .proto files: a protoc plugin and a one-step command.

For each proto file with services, the generator writes ``<name>_trioplugin.py``
next to the ``<name>_pb2.py`` that protoc's ``--python_out`` writes. For a
service ``KVService`` it holds:

- ``KV_SERVICE``: the :class:`~trioplugin.rpc.Service`, to serve and to call;
- ``KVServiceClient(client)``: one typed attribute per RPC, the same method
  objects as ``client.stub(KV_SERVICE)`` has, so ``await kv.Get(request)`` is
  checked by mypy;
- ``KVServiceImpl``: a :class:`typing.Protocol` with the exact handler
  signatures, for implementations to be checked against.

Run it as ``python -m trioplugin.codegen -Iprotos --out src protos/kv.proto``
(protoc comes from ``grpcio-tools``, the ``_pb2.pyi`` stubs from
``mypy-protobuf``: the ``codegen`` extra has both), or as the protoc plugin
``protoc-gen-trioplugin`` (``--trioplugin_out=DIR``). See ``docs/codegen.md``.
:func:`descriptor_set` compiles ``.proto`` files to their descriptors with
the same protoc, for programs that load them at run time (``trioplugin call
--proto``).
"""

from .._util import publish_module_names as _publish_module_names
from ._cli import main
from ._naming import GenerationError, module_name
from ._plugin import SUFFIX, generate, run_plugin
from ._protoc import ProtocError, descriptor_set
from ._render import GENERATOR

__all__ = [
    "GENERATOR",
    "SUFFIX",
    "GenerationError",
    "ProtocError",
    "descriptor_set",
    "generate",
    "main",
    "module_name",
    "run_plugin",
]

_publish_module_names(__name__, globals())
