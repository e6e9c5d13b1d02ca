"""The end-of-stream message that closes every streaming response."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, final

from ._code import Code
from ._error import ConnectError, error_from_json_object, error_to_json_object
from ._metadata import Metadata


@final
@dataclass(slots=True)
class EndStream:
    """How a stream ended: an error (None on success) and the trailers."""

    error: ConnectError | None = None
    trailers: Metadata = field(default_factory=Metadata)


def encode_end_stream(end: EndStream) -> bytes:
    """The JSON body of the end-of-stream envelope."""
    wire: dict[str, Any] = {}
    if end.error is not None:
        wire["error"] = error_to_json_object(end.error)
    trailers: dict[str, list[str]] = {}
    metadata = end.error.metadata if end.error is not None else Metadata()
    for key, value in [*metadata.multi_items(), *end.trailers.multi_items()]:
        trailers.setdefault(key, []).append(value)
    if trailers:
        wire["metadata"] = trailers
    return json.dumps(wire, separators=(",", ":")).encode()


def decode_end_stream(data: bytes) -> EndStream:
    """Parse an end-of-stream message from a peer.

    ``{"error": null}`` is a success; an error whose ``code`` is missing,
    null or not a Connect code is ``unknown``, its message kept.

    Raises:
        ConnectError: ``internal`` if the message is not what the protocol allows.
    """
    try:
        wire = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _invalid(f"not JSON ({exc})") from exc
    if not isinstance(wire, dict):
        raise _invalid("not a JSON object")
    trailers = _decode_trailers(wire.get("metadata"))
    if "error" not in wire:
        return EndStream(None, trailers)
    raw_error = wire["error"]
    if raw_error is None:
        return EndStream(None, trailers)
    if not isinstance(raw_error, dict):
        raise _invalid("its error is not an object")
    error = error_from_json_object(raw_error, fallback_code=Code.UNKNOWN, metadata=trailers)
    return EndStream(error, trailers)


def _decode_trailers(raw: object) -> Metadata:
    if raw is None:
        return Metadata()
    if not isinstance(raw, dict):
        raise _invalid("its metadata is not an object")
    trailers = Metadata()
    for key, values in raw.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _invalid(f"metadata {key!r} is not a list of strings")
        try:
            for value in values:
                trailers.add(key, value)
        except ValueError as exc:
            raise _invalid(str(exc)) from exc
    return trailers


def _invalid(why: str) -> ConnectError:
    return ConnectError(Code.INTERNAL, f"protocol error: invalid end-of-stream message: {why}")
