"""HTTP/2 frames as bytes (RFC 9113 §4 and §6): the 9-byte header, and builders for each type.

Parsing is done by the connection itself (one loop over a buffer, no
objects per frame); this module holds the constants and the writers, each
a ``struct`` pack of a fixed layout, and the client's check that a server's
first bytes can start a SETTINGS frame.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Final

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""What a client sends before its first frame (RFC 9113 §3.4)."""

HEADER_SIZE: Final = 9
HEADER: Final = struct.Struct(">BHBBL")
"""Length (as one byte and two), type, flags, stream id (with the reserved bit)."""

DEFAULT_MAX_FRAME_SIZE: Final = 16_384
LARGEST_MAX_FRAME_SIZE: Final = 2**24 - 1
DEFAULT_WINDOW: Final = 65_535
MAX_WINDOW: Final = 2**31 - 1
STREAM_ID_MASK: Final = 0x7FFF_FFFF

DATA: Final = 0x0
HEADERS: Final = 0x1
PRIORITY: Final = 0x2
RST_STREAM: Final = 0x3
SETTINGS: Final = 0x4
PUSH_PROMISE: Final = 0x5
PING: Final = 0x6
GOAWAY: Final = 0x7
WINDOW_UPDATE: Final = 0x8
CONTINUATION: Final = 0x9

FLAG_END_STREAM: Final = 0x1
FLAG_ACK: Final = 0x1
FLAG_END_HEADERS: Final = 0x4
FLAG_PADDED: Final = 0x8
FLAG_PRIORITY: Final = 0x20


class ErrorCode(IntEnum):
    """The error codes of RST_STREAM and GOAWAY (RFC 9113 §7)."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


class Setting(IntEnum):
    """The SETTINGS parameters this implementation knows (RFC 9113 §6.5.2)."""

    HEADER_TABLE_SIZE = 0x1
    ENABLE_PUSH = 0x2
    MAX_CONCURRENT_STREAMS = 0x3
    INITIAL_WINDOW_SIZE = 0x4
    MAX_FRAME_SIZE = 0x5
    MAX_HEADER_LIST_SIZE = 0x6
    ENABLE_CONNECT_PROTOCOL = 0x8


_U32: Final = struct.Struct(">L")
_U32_PAIR: Final = struct.Struct(">LL")
_SETTING: Final = struct.Struct(">HL")


def frame_header(length: int, kind: int, flags: int, stream_id: int) -> bytes:
    """The 9 bytes that start a frame."""
    return HEADER.pack(length >> 16, length & 0xFFFF, kind, flags, stream_id)


def data_frame(stream_id: int, data: bytes | memoryview, end_stream: bool) -> bytes:
    """One DATA frame (no padding)."""
    head = HEADER.pack(len(data) >> 16, len(data) & 0xFFFF, DATA, end_stream, stream_id)
    return head + data


def header_block_frames(
    stream_id: int, block: bytes, end_stream: bool, max_frame_size: int
) -> list[bytes]:
    """A HEADERS frame with ``block``, and CONTINUATION frames if it does not fit in one."""
    flags = FLAG_END_STREAM if end_stream else 0
    if len(block) <= max_frame_size:
        return [frame_header(len(block), HEADERS, flags | FLAG_END_HEADERS, stream_id) + block]
    frames: list[bytes] = []
    kind = HEADERS
    for start in range(0, len(block), max_frame_size):
        piece = block[start : start + max_frame_size]
        last = start + max_frame_size >= len(block)
        frames.append(
            frame_header(len(piece), kind, flags | (FLAG_END_HEADERS if last else 0), stream_id)
            + piece
        )
        kind, flags = CONTINUATION, 0
    return frames


def rst_stream_frame(stream_id: int, code: int) -> bytes:
    """A RST_STREAM frame."""
    return frame_header(4, RST_STREAM, 0, stream_id) + _U32.pack(code)


def settings_frame(settings: dict[int, int]) -> bytes:
    """A SETTINGS frame announcing ``settings``."""
    payload = b"".join(_SETTING.pack(key, value) for key, value in settings.items())
    return frame_header(len(payload), SETTINGS, 0, 0) + payload


SETTINGS_ACK: Final = frame_header(0, SETTINGS, FLAG_ACK, 0)


def ping_frame(payload: bytes, ack: bool = False) -> bytes:
    """A PING frame (``payload`` is 8 bytes)."""
    return frame_header(8, PING, FLAG_ACK if ack else 0, 0) + payload


def goaway_frame(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    """A GOAWAY frame."""
    payload = _U32_PAIR.pack(last_stream_id, code) + debug
    return frame_header(len(payload), GOAWAY, 0, 0) + payload


def window_update_frame(stream_id: int, increment: int) -> bytes:
    """A WINDOW_UPDATE frame."""
    return frame_header(4, WINDOW_UPDATE, 0, stream_id) + _U32.pack(increment)


def unpack_u32(payload: bytes, offset: int = 0) -> int:
    """A 32-bit big-endian integer from ``payload`` at ``offset``."""
    value: int = _U32.unpack_from(payload, offset)[0]
    return value


def unpack_setting(payload: bytes, offset: int) -> tuple[int, int]:
    """One (identifier, value) pair of a SETTINGS payload."""
    key, value = _SETTING.unpack_from(payload, offset)
    return key, value


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
    if size > 3 and head[3] != SETTINGS:
        return True
    # The stream id (bytes 5 to 8, the top bit reserved) must be 0.
    stream_id = head[5:9]
    return bool(stream_id) and (stream_id[0] & 0x7F != 0 or any(stream_id[1:]))
