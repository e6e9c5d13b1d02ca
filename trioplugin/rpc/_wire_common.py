"""Pieces both ends of the Connect wire share: reserved headers, bounded reads, envelopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from google.protobuf.message import Message

from ..protocol import (
    KNOWN_FLAGS,
    Code,
    Compression,
    ConnectError,
    Envelope,
    EnvelopeDecoder,
    EnvelopeFlags,
    Metadata,
    encode_envelope,
    user_metadata,
)

DEFAULT_MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024
"""The largest message (after decompression) either end accepts unless told otherwise."""

DEFAULT_COMPRESS_MIN_BYTES: Final = 1024
"""Messages smaller than this are sent uncompressed even when compression is on."""

# Headers the protocol layer writes itself; user metadata may not set them.
RESERVED_HEADERS: Final = frozenset(
    {
        "content-type",
        "content-encoding",
        "accept-encoding",
        "content-length",
        "user-agent",
        "date",
        "server",
        "grpc-status",
        "grpc-message",
    }
)


def custom_metadata(metadata: Metadata) -> list[tuple[str, str]]:
    """The pairs of user metadata that may go on the wire as headers."""
    return [
        (key, value)
        for key, value in user_metadata(metadata)
        if key not in RESERVED_HEADERS and not key.startswith("connect-")
    ]


async def read_body(receive: Callable[[], Awaitable[bytes]], limit: int, what: str) -> bytes:
    """Read a whole body with ``receive`` (until ``b""``), refusing more than ``limit`` bytes.

    Raises:
        ConnectError: ``resource_exhausted`` past the limit.
    """
    chunks: list[bytes] = []
    size = 0
    while chunk := await receive():
        size += len(chunk)
        if size > limit:
            raise ConnectError(
                Code.RESOURCE_EXHAUSTED, f"{what} is larger than the limit of {limit} bytes"
            )
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def check_message_type(message: object, expected: type[Message], what: str) -> None:
    """Refuse a message of the wrong class with a TypeError that names both."""
    if type(message) is expected:
        return
    if not isinstance(message, Message) or (
        message.DESCRIPTOR.full_name != expected.DESCRIPTOR.full_name
    ):
        raise TypeError(
            f"{what} must be a {expected.DESCRIPTOR.full_name}, not {type(message).__qualname__}"
        )


def frame_message(data: bytes, compression: Compression | None, compress_min_bytes: int) -> bytes:
    """Envelope one encoded message, compressing it if worthwhile."""
    if compression is not None and len(data) >= compress_min_bytes:
        return encode_envelope(compression.compress(data), EnvelopeFlags.COMPRESSED)
    return encode_envelope(data)


class EnvelopeReader:
    """Reads envelopes off a body, checking flags and undoing compression.

    ``receive`` returns body chunks and ``b""`` at the end. ``peer_fault`` is
    the code for bytes the peer got wrong: ``invalid_argument`` for a server
    reading requests, ``internal`` for a client reading responses.
    """

    __slots__ = ("_compression", "_decoder", "_limit", "_peer_fault", "_receive", "_what")

    def __init__(
        self,
        receive: Callable[[], Awaitable[bytes]],
        *,
        limit: int,
        compression: Compression | None,
        peer_fault: Code,
        what: str,
    ) -> None:
        self._receive = receive
        self._decoder = EnvelopeDecoder(limit)
        self._limit = limit
        self._compression = compression
        self._peer_fault = peer_fault
        self._what = what

    async def next(self) -> Envelope | None:
        """The next envelope, or None where the body ends cleanly between envelopes."""
        decoder = self._decoder
        while (envelope := decoder.next_envelope()) is None:
            chunk = await self._receive()
            if not chunk:
                if decoder.at_boundary:
                    return None
                raise ConnectError(
                    self._peer_fault,
                    f"{self._what} ended in the middle of a message "
                    f"({decoder.buffered} bytes of a partial envelope)",
                )
            decoder.feed(chunk)
        if envelope.flags & ~KNOWN_FLAGS:
            raise ConnectError(
                self._peer_fault,
                f"{self._what} has an envelope with unknown flags 0x{envelope.flags:02x}",
            )
        return envelope

    def payload(self, envelope: Envelope) -> bytes:
        """The envelope's data, decompressed if it is flagged compressed."""
        if not envelope.compressed:
            return envelope.data
        if self._compression is None:
            raise ConnectError(
                Code.INTERNAL,
                f"protocol error: {self._what} has a compressed message but no "
                "compression was negotiated",
            )
        return self._compression.decompress(envelope.data, self._limit)
