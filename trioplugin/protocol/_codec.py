"""Message codecs: binary protobuf and the canonical protobuf JSON mapping."""

from __future__ import annotations

import json
from typing import Final, Protocol, TypeVar, final, runtime_checkable

from google.protobuf import json_format
from google.protobuf.message import DecodeError, EncodeError, Message

from ._code import Code
from ._error import ConnectError

_M = TypeVar("_M", bound=Message)


@runtime_checkable
class Codec(Protocol):
    """Turns messages into bytes and back; ``name`` goes into the content type."""

    @property
    def name(self) -> str:
        """The codec's name: ``proto`` in ``application/proto``."""
        ...

    def encode(self, message: Message) -> bytes:
        """Serialize a message."""
        ...

    def decode(self, data: bytes, message_type: type[_M]) -> _M:
        """Parse bytes into a message of ``message_type``.

        Raises:
            ConnectError: ``invalid_argument`` if the bytes are not such a message.
        """
        ...


@final
class ProtoCodec:
    """The binary protobuf codec (``application/proto``)."""

    name: Final = "proto"

    def encode(self, message: Message) -> bytes:
        """Serialize to the protobuf wire format."""
        try:
            return message.SerializeToString()
        except EncodeError as exc:
            raise _encode_error(message, exc) from exc

    def decode(self, data: bytes, message_type: type[_M]) -> _M:
        """Parse the protobuf wire format."""
        try:
            return message_type.FromString(data)
        except (DecodeError, RuntimeWarning, ValueError) as exc:
            raise ConnectError(
                Code.INVALID_ARGUMENT,
                f"malformed protobuf for {message_type.DESCRIPTOR.full_name}: {exc}",
            ) from exc


@final
class JSONCodec:
    """The protobuf JSON codec (``application/json``); unknown fields are ignored."""

    name: Final = "json"

    def encode(self, message: Message) -> bytes:
        """Serialize to compact canonical protobuf JSON."""
        try:
            value = json_format.MessageToDict(message, preserving_proto_field_name=False)
        except (json_format.SerializeToJsonError, ValueError, TypeError) as exc:
            raise _encode_error(message, exc) from exc
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, data: bytes, message_type: type[_M]) -> _M:
        """Parse protobuf JSON; an empty payload is not a JSON object and is refused."""
        full_name = message_type.DESCRIPTOR.full_name
        if not data:
            raise ConnectError(
                Code.INVALID_ARGUMENT, f"malformed JSON for {full_name}: the payload is empty"
            )
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ConnectError(
                Code.INVALID_ARGUMENT, f"malformed JSON for {full_name}: {exc}"
            ) from exc
        # Only well-known types (wrappers, Struct, Value...) map to non-objects.
        if not isinstance(value, dict) and not full_name.startswith("google.protobuf."):
            raise ConnectError(
                Code.INVALID_ARGUMENT,
                f"malformed JSON for {full_name}: want an object, got {type(value).__name__}",
            )
        message = message_type()
        try:
            json_format.ParseDict(value, message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
            raise ConnectError(
                Code.INVALID_ARGUMENT, f"malformed JSON for {full_name}: {exc}"
            ) from exc
        return message


def _encode_error(message: Message, exc: Exception) -> ConnectError:
    return ConnectError(Code.INTERNAL, f"cannot encode {message.DESCRIPTOR.full_name}: {exc}")


PROTO: Final = ProtoCodec()
"""The shared binary protobuf codec."""

JSON: Final = JSONCodec()
"""The shared protobuf JSON codec."""

DEFAULT_CODECS: Final[tuple[Codec, ...]] = (PROTO, JSON)
"""The codecs a server accepts unless told otherwise."""
