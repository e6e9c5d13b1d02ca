"""Frame boundaries in what a client HTTP/2 connection receives, checked before h2 sees it.

h2 compares a frame's length with SETTINGS_MAX_FRAME_SIZE only once the whole
frame has arrived, so one frame header that claims 16 MiB has it wait, and
buffer, for bytes a hostile or broken server never sends: the connection is
wedged with no error. :class:`FrameGuard` follows the frame headers in the
byte stream as it arrives (RFC 9113 §4.1: 9 bytes each, the length in the
first 3) and reports the first one that claims more than we advertised, so
the connection is refused from those 9 bytes. It costs a few operations per
frame: most reads end inside a frame's payload, or hold a handful of frames.
Knowing where frames end, it also stamps the time the last one arrived whole,
the idle clock of the connection's keepalive PINGs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final, final

FRAME_HEADER_SIZE: Final = 9
SETTINGS_FRAME_TYPE: Final = 0x4
_FIRST_WORD: Final = struct.Struct(">I").unpack_from
"""The length (3 bytes) and type (1 byte) of a frame header, as one big-endian word."""


@final
class FrameGuard:
    """Follows frame headers through the received bytes; finds one over ``limit``.

    It also keeps the time the last frame was received whole
    (:attr:`last_frame`): the keepalive's idle clock. A server that trickles
    one byte at a time into a frame it never finishes does not move it.
    """

    __slots__ = ("_clock", "_head", "_skip", "last_frame", "limit")

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        """The largest frame payload we accept: the SETTINGS_MAX_FRAME_SIZE we advertised."""
        self._clock = clock
        self.last_frame = clock()
        """When a frame was last received whole (at first: when the guard was made)."""
        self._skip = 0
        """Bytes of the current frame's payload still to come before the next header."""
        self._head = b""
        """The start of a frame header that a read cut short."""

    def check(self, data: bytes | bytearray) -> int:
        """Follow the frames in ``data``, the next bytes received.

        Returns the payload length a frame header claims beyond the limit, or
        0 if every header so far is within it.
        """
        size = len(data)
        pos = self._skip
        if pos >= size:  # the whole read is payload of the current frame
            self._skip = pos - size
            if pos == size:
                self.last_frame = self._clock()
            return 0
        limit = self.limit
        if self._head:
            head = self._head + data[: FRAME_HEADER_SIZE - len(self._head)]
            if len(head) < FRAME_HEADER_SIZE:
                self._head = head
                return _partial_length(head, limit)
            pos = FRAME_HEADER_SIZE - len(self._head)
            self._head = b""
            length: int = _FIRST_WORD(head)[0] >> 8
            if length > limit:
                return length
            pos += length
        # Here ``pos`` is where the frame under way ends (0: none is).
        start = -1  # where the last whole header in ``data`` starts
        last = size - FRAME_HEADER_SIZE  # the last offset a whole header can start at
        while pos <= last:
            start = pos
            length = _FIRST_WORD(data, pos)[0] >> 8
            if length > limit:
                return length
            pos += FRAME_HEADER_SIZE + length
        # A frame ended in ``data`` if one ended where a header starts, or at ``pos``.
        if start > 0 or 0 < pos <= size:
            self.last_frame = self._clock()
        if pos < size:
            self._head = bytes(data[pos:])
            self._skip = 0
            return _partial_length(self._head, limit)
        self._skip = pos - size
        return 0


def _partial_length(head: bytes, limit: int) -> int:
    """The length a cut-short header claims if its first 3 bytes are in and over ``limit``."""
    if len(head) < 3:
        return 0
    length = int.from_bytes(head[:3], "big")
    return length if length > limit else 0


def cannot_start_settings(head: bytes, limit: int) -> bool:
    """Whether ``head``, the first bytes (up to 9) from a server, cannot begin its SETTINGS.

    RFC 9113 §3.4: the server's connection preface is a SETTINGS frame: type
    0x4, on stream 0, with a length that is a multiple of 6 (and within our
    limit). Whatever else a server sends first (an HTTP/1.1 response, a TLS
    alert, an SSH banner) shows in its first few bytes, so it is refused then
    instead of after the connect timeout.
    """
    size = len(head)
    if size < 3:
        # The length so far, as if the bytes to come were all zero: it only grows.
        return int.from_bytes(head + bytes(3 - size), "big") > limit
    length = int.from_bytes(head[:3], "big")
    if length > limit or length % 6:
        return True
    if size > 3 and head[3] != SETTINGS_FRAME_TYPE:
        return True
    # The stream id (bytes 5 to 8, the top bit reserved) must be 0.
    stream_id = head[5:9]
    return bool(stream_id) and (stream_id[0] & 0x7F != 0 or any(stream_id[1:]))
