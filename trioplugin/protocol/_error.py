"""ConnectError and its JSON wire form."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from typing import Any as _AnyValue
from typing import TypeVar

from google.protobuf import any_pb2, json_format, symbol_database
from google.protobuf.message import DecodeError, Message

from ._code import Code
from ._metadata import Metadata

_M = TypeVar("_M", bound=Message)
_TYPE_PREFIX = "type.googleapis.com/"


class ConnectError(Exception):
    """An RPC failed: a Connect code, a message, optional details and metadata.

    Raise it from a handler to send that code to the client; clients raise it
    for every failed call. ``details`` are protobuf ``Any`` messages (add one
    with :meth:`add_detail`, read them with :meth:`unpack_details`);
    ``metadata`` holds the headers and trailers that came with the error
    (both, merged); a client also keeps them apart in :attr:`headers` and
    :attr:`trailers`, and the response's :attr:`http_status`. ``wire`` is
    true when the error was received from a peer rather than raised in this
    process.
    """

    code: Code
    message: str
    metadata: Metadata
    wire: bool
    http_status: int | None
    """The HTTP status of the response the error came in (None if it did not come in one)."""

    def __init__(
        self,
        code: Code,
        message: str = "",
        *,
        details: Iterable[Message] = (),
        metadata: Metadata | None = None,
        wire: bool = False,
    ) -> None:
        if code.__class__ is not Code:
            raise TypeError(f"code must be a trioplugin Code, not {type(code).__name__}")
        Exception.__init__(self, code, message)  # errors are made on hot paths: no super()
        self.code = code
        self.message = message
        self.metadata = metadata if metadata is not None else Metadata.from_parsed([])
        self.wire = wire
        self.http_status = None
        self._headers: Metadata | None = None
        self._trailers: Metadata | None = None
        self._details: list[any_pb2.Any] = []
        if details:
            for detail in details:
                self.add_detail(detail)

    @property
    def headers(self) -> Metadata:
        """The response headers that came with a received error (empty otherwise)."""
        if self._headers is None:
            self._headers = Metadata.from_parsed([])
        return self._headers

    @headers.setter
    def headers(self, value: Metadata) -> None:
        self._headers = value

    @property
    def trailers(self) -> Metadata:
        """The response trailers that came with a received error (empty otherwise)."""
        if self._trailers is None:
            self._trailers = Metadata.from_parsed([])
        return self._trailers

    @trailers.setter
    def trailers(self, value: Metadata) -> None:
        self._trailers = value

    @property
    def details(self) -> Sequence[any_pb2.Any]:
        """The error details, each a packed ``google.protobuf.Any``."""
        return tuple(self._details)

    def add_detail(self, detail: Message) -> None:
        """Attach a protobuf message (packed into an ``Any`` unless it is one)."""
        if isinstance(detail, any_pb2.Any):
            self._details.append(detail)
            return
        packed = any_pb2.Any()
        packed.Pack(detail)
        self._details.append(packed)

    def unpack_details(self, message_type: type[_M]) -> list[_M]:
        """Every detail of the given message type, unpacked."""
        found: list[_M] = []
        for detail in self._details:
            candidate = message_type()
            if detail.Unpack(candidate):
                found.append(candidate)
        return found

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}" if self.message else self.code.value

    def __repr__(self) -> str:
        return f"ConnectError({self.code!s}, {self.message!r})"


def error_to_json_object(error: ConnectError) -> dict[str, _AnyValue]:
    """The error as the JSON object Connect sends (``{"code": ..., "message": ...}``)."""
    wire: dict[str, _AnyValue] = {"code": error.code.value}
    if error.message:
        wire["message"] = error.message
    if error.details:
        wire["details"] = [_detail_to_json(detail) for detail in error.details]
    return wire


def error_to_json(error: ConnectError) -> bytes:
    """The error JSON of a unary error response body."""
    return json.dumps(error_to_json_object(error), separators=(",", ":")).encode()


def error_from_json_object(
    wire: object, *, fallback_code: Code, metadata: Metadata | None = None
) -> ConnectError:
    """Read an error JSON object from a peer.

    A missing, null or unrecognised ``code`` falls back to ``fallback_code``:
    the code inferred from the HTTP status for a unary response, ``unknown``
    in an end-of-stream message (connect-go does the same).
    """
    if not isinstance(wire, dict):
        return ConnectError(fallback_code, "", metadata=metadata, wire=True)
    raw_code = wire.get("code")
    code = Code.from_wire(raw_code) if isinstance(raw_code, str) else None
    if code is None:
        code = fallback_code
    raw_message = wire.get("message")
    message = raw_message if isinstance(raw_message, str) else ""
    error = ConnectError(code, message, metadata=metadata, wire=True)
    raw_details = wire.get("details")
    if isinstance(raw_details, list):
        for raw in raw_details:
            detail = _detail_from_json(raw)
            if detail is not None:
                error.add_detail(detail)
    return error


def error_from_json(
    body: bytes, *, fallback_code: Code, metadata: Metadata | None = None
) -> ConnectError:
    """Read a unary error response body; unreadable JSON falls back to ``fallback_code``."""
    try:
        wire = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        wire = None
    return error_from_json_object(wire, fallback_code=fallback_code, metadata=metadata)


def _detail_to_json(detail: any_pb2.Any) -> dict[str, _AnyValue]:
    type_name = detail.type_url.rsplit("/", 1)[-1]
    wire: dict[str, _AnyValue] = {
        "type": type_name,
        "value": base64.b64encode(detail.value).decode("ascii").rstrip("="),
    }
    debug = _debug_json(type_name, detail.value)
    if debug is not None:
        wire["debug"] = debug
    return wire


def _debug_json(type_name: str, value: bytes) -> dict[str, _AnyValue] | None:
    """The detail as JSON for people reading the wire, when its type is known here."""
    try:
        message_class = symbol_database.Default().GetSymbol(type_name)
    except KeyError:
        return None
    try:
        message = message_class.FromString(value)
        return json_format.MessageToDict(message)
    except (DecodeError, TypeError, ValueError):
        return None


def _detail_from_json(raw: object) -> any_pb2.Any | None:
    if not isinstance(raw, dict):
        return None
    type_name, value = raw.get("type"), raw.get("value")
    if not isinstance(type_name, str) or not isinstance(value, str) or not type_name:
        return None
    padded = value + "=" * (-len(value) % 4)
    altchars = b"-_" if "-" in value or "_" in value else None
    try:
        data = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    url = type_name if "/" in type_name else _TYPE_PREFIX + type_name
    return any_pb2.Any(type_url=url, value=data)
