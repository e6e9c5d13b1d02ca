"""What a client HTTP/2 connection checks in a server's first bytes, before any frame is whole.

(Frame lengths over our limit are refused by the state machine, ``_http2``,
from the first 3 bytes of their header.)
"""

from __future__ import annotations

from typing import Final

FRAME_HEADER_SIZE: Final = 9
SETTINGS_FRAME_TYPE: Final = 0x4


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
