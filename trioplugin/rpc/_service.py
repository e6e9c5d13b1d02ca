"""Services taken from protobuf service descriptors (the ``_pb2`` modules protoc writes)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Any, final

from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from ._method import Idempotency, MethodInfo, StreamType


@final
class Service:
    """A protobuf service: its full name and its methods.

    Build one from the descriptor in a generated ``_pb2`` module::

        kv = Service.from_module(kv_pb2, "KVService")
        kv.methods["Get"].procedure   # "/demo.kv.v1.KVService/Get"
    """

    __slots__ = ("_descriptor", "_methods", "_name")

    def __init__(self, descriptor: ServiceDescriptor) -> None:
        self._descriptor = descriptor
        self._name: str = descriptor.full_name
        self._methods: Mapping[str, MethodInfo[Any, Any]] = MappingProxyType(
            {method.name: _method_info(method) for method in descriptor.methods}
        )

    @classmethod
    def from_module(cls, module: ModuleType, name: str | None = None) -> Service:
        """The service ``name`` of a generated ``_pb2`` module (the only one if omitted).

        Raises:
            LookupError: no such service, or several and no name given.
        """
        services = module.DESCRIPTOR.services_by_name
        if name is None:
            if len(services) != 1:
                names = ", ".join(sorted(services)) or "none"
                raise LookupError(
                    f"{module.__name__} defines {len(services)} services ({names}); name one"
                )
            (name,) = services
        try:
            return cls(services[name])
        except KeyError:
            names = ", ".join(sorted(services)) or "none"
            raise LookupError(
                f"{module.__name__} has no service {name!r}; it has: {names}"
            ) from None

    @property
    def name(self) -> str:
        """The fully-qualified name, e.g. ``demo.kv.v1.KVService``."""
        return self._name

    @property
    def descriptor(self) -> ServiceDescriptor:
        """The protobuf descriptor the service was built from."""
        return self._descriptor

    @property
    def methods(self) -> Mapping[str, MethodInfo[Any, Any]]:
        """Every method, by its short name (``Get``)."""
        return self._methods

    def method(self, name: str) -> MethodInfo[Any, Any]:
        """The method called ``name``.

        Raises:
            AttributeError: the service has no such method (the message lists them).
        """
        try:
            return self._methods[name]
        except KeyError:
            known = ", ".join(self._methods) or "none"
            raise AttributeError(
                f"service {self._name} has no method {name!r}; its methods are: {known}"
            ) from None

    def __repr__(self) -> str:
        return f"<Service {self._name}: {', '.join(self._methods)}>"


def _method_info(method: MethodDescriptor) -> MethodInfo[Any, Any]:
    client_streaming, server_streaming = method.client_streaming, method.server_streaming
    if client_streaming and server_streaming:
        stream_type = StreamType.BIDI_STREAM
    elif client_streaming:
        stream_type = StreamType.CLIENT_STREAM
    elif server_streaming:
        stream_type = StreamType.SERVER_STREAM
    else:
        stream_type = StreamType.UNARY
    return MethodInfo(
        service_name=method.containing_service.full_name,
        name=method.name,
        stream_type=stream_type,
        input_type=message_factory.GetMessageClass(method.input_type),
        output_type=message_factory.GetMessageClass(method.output_type),
        idempotency=Idempotency(method.GetOptions().idempotency_level),
    )
