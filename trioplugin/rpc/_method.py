"""What the RPC layer knows of one method: its path, kind and message types."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Generic, TypeVar, final

from google.protobuf.message import Message

from ..protocol import StreamType
from ._wire_common import check_message_type

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)

__all__ = ["Idempotency", "MethodInfo", "Req", "Res", "StreamType"]

_NO_REQUEST: Final = object()


class Idempotency(enum.Enum):
    """The protobuf ``idempotency_level`` of a method."""

    UNKNOWN = 0
    NO_SIDE_EFFECTS = 1
    IDEMPOTENT = 2


@final
@dataclass(frozen=True, slots=True, eq=False)
class MethodInfo(Generic[Req, Res]):
    """One RPC method: ``/package.Service/Method``, its kind and its message classes."""

    service_name: str
    """The fully-qualified service name, e.g. ``demo.kv.v1.KVService``."""
    name: str
    """The method's name, e.g. ``Get``."""
    stream_type: StreamType
    """Unary, client-, server- or bidi-streaming."""
    input_type: type[Req]
    """The request message class."""
    output_type: type[Res]
    """The response message class."""
    idempotency: Idempotency = Idempotency.UNKNOWN
    """Whether the method is declared free of side effects or idempotent."""

    @property
    def procedure(self) -> str:
        """The HTTP path of the method: ``/demo.kv.v1.KVService/Get``."""
        return f"/{self.service_name}/{self.name}"

    @property
    def is_streaming(self) -> bool:
        """Whether either side streams (the call uses enveloped messages)."""
        return self.stream_type is not StreamType.UNARY

    def check_call(self, stream_type: StreamType, request: object = _NO_REQUEST) -> None:
        """Refuse a call of another kind than this method, or a request of another class.

        For callers (a client, a plugin handle) before they start a call:
        ``request`` is the one request of a unary or server-streaming call
        (left out for the streaming-request kinds, which check each message).

        Raises:
            TypeError: the method is of another kind, or ``request`` is not
                an ``input_type`` message (the message names both).
        """
        if self.stream_type is not stream_type:
            raise TypeError(
                f"{self.procedure} is {self.stream_type.value}, not {stream_type.value}"
            )
        if request is not _NO_REQUEST:
            check_message_type(request, self.input_type, f"the request of {self.name}")

    def __repr__(self) -> str:
        return f"<MethodInfo {self.procedure} ({self.stream_type.value})>"
