"""The 5-byte envelope that frames each message of a streaming call."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final, final

from ._code import Code
from ._error import ConnectError

ENVELOPE_HEADER_SIZE: Final = 5
_HEADER: Final = struct.Struct(">BI")
_MAX_LENGTH: Final = 0xFFFF_FFFF


class EnvelopeFlags(enum.IntFlag):
    """The flag bits of an envelope; the six high bits are reserved."""

    NONE = 0
    COMPRESSED = 0x01
    END_STREAM = 0x02


KNOWN_FLAGS: Final = int(EnvelopeFlags.COMPRESSED | EnvelopeFlags.END_STREAM)


@final
@dataclass(frozen=True, slots=True)
class Envelope:
    """One framed message as read off the wire (still compressed if flagged so)."""

    flags: int
    data: bytes

    @property
    def compressed(self) -> bool:
        """Whether the data is compressed with the stream's content encoding."""
        return bool(self.flags & EnvelopeFlags.COMPRESSED)

    @property
    def end_stream(self) -> bool:
        """Whether this is the end-of-stream message rather than an RPC message."""
        return bool(self.flags & EnvelopeFlags.END_STREAM)


def encode_envelope(data: bytes, flags: int = EnvelopeFlags.NONE) -> bytes:
    """Frame ``data`` with a flags byte and its big-endian 32-bit length."""
    if len(data) > _MAX_LENGTH:
        raise ValueError(f"an envelope holds at most {_MAX_LENGTH} bytes, not {len(data)}")
    return _HEADER.pack(flags, len(data)) + data


@final
class EnvelopeDecoder:
    """An incremental envelope decoder: feed it bytes, take whole envelopes out.

    It refuses a message whose declared length exceeds ``max_message_size`` as
    soon as the 5-byte prefix arrives, so it never holds more than one message
    of at most that size plus the bytes fed after it.
    """

    __slots__ = ("_buffer", "_max_message_size")

    def __init__(self, max_message_size: int) -> None:
        if max_message_size < 0:
            raise ValueError("max_message_size must not be negative")
        self._max_message_size = max_message_size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        """Add bytes received from the wire."""
        self._buffer += data

    def next_envelope(self) -> Envelope | None:
        """The next whole envelope, or None until more bytes are fed.

        Raises:
            ConnectError: ``resource_exhausted`` if the next message declares a
                length above the limit.
        """
        buffer = self._buffer
        if len(buffer) < ENVELOPE_HEADER_SIZE:
            return None
        flags, length = _HEADER.unpack_from(buffer)
        if length > self._max_message_size:
            raise ConnectError(
                Code.RESOURCE_EXHAUSTED,
                f"message size {length} is larger than the limit of {self._max_message_size} bytes",
            )
        end = ENVELOPE_HEADER_SIZE + length
        if len(buffer) < end:
            return None
        data = bytes(buffer[ENVELOPE_HEADER_SIZE:end])
        del buffer[:end]
        return Envelope(flags, data)

    @property
    def buffered(self) -> int:
        """How many bytes are held that do not yet make a whole envelope."""
        return len(self._buffer)

    @property
    def at_boundary(self) -> bool:
        """True when no partial envelope is held: the stream may end here."""
        return not self._buffer
