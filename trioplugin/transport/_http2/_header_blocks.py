"""Header blocks as a connection receives them: assembled, decoded and checked.

A block comes in a HEADERS frame and any CONTINUATION frames; it is decoded
(HPACK) and checked as a request, a response or trailers. What the block is
for (which stream, what it opens or ends) is the connection's business; what
is wrong with the block itself is answered here, as :class:`BlockRefused` (a
connection error) or :class:`~._fields.Malformed` (a stream error).
"""

from __future__ import annotations

from typing import Final, final

from .._upstream._hpack import HpackError
from ._fields import content_length, request_fields, response_fields, trailer_fields
from ._frames import DEFAULT_MAX_FRAME_SIZE, ErrorCode
from ._hpack import HpackDecoder

REQUEST, RESPONSE, TRAILERS = 0, 1, 2
"""What a header block is, for checking it."""
_MAX_CONTINUATIONS: Final = 64
"""CONTINUATION frames allowed in one header block (a real one needs a handful)."""
_KNOWN_FIELDS_LIMIT: Final = 256
"""Checked header blocks kept (only blocks the decoder remembers, so bounded by its bytes)."""

Checked = tuple[dict[bytes, bytes], list[tuple[str, str]], int | None]
"""Pseudo-header fields by name, the other fields, and the declared content-length."""


@final
class BlockRefused(Exception):
    """A header block that ends the connection (``code``; ``abuse``: a limit overrun)."""

    def __init__(self, code: ErrorCode, message: str, *, abuse: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.abuse = abuse


@final
class HeaderBlocks:
    """One connection's incoming header blocks: the one being assembled, and the decoder."""

    __slots__ = ("_decoder", "_known", "_max_size", "pending")

    def __init__(self, max_header_list_size: int) -> None:
        self._decoder = HpackDecoder(max_header_list_size)
        self._known: dict[tuple[int, bytes], Checked] = {}
        self._max_size = max_header_list_size + DEFAULT_MAX_FRAME_SIZE
        self.pending: tuple[int, int, list[bytes], int] | None = None
        """A block awaiting CONTINUATION frames: stream id, HEADERS flags, fragments, size."""

    def begin(self, stream_id: int, flags: int, fragment: bytes) -> None:
        """A HEADERS frame without END_HEADERS: CONTINUATION frames follow."""
        self.pending = (stream_id, flags, [fragment], len(fragment))

    def add(self, stream_id: int, fragment: bytes, last: bool) -> tuple[int, bytes] | None:
        """A CONTINUATION frame's fragment; the HEADERS flags and the block once ``last``."""
        pending = self.pending
        if pending is None or pending[0] != stream_id:
            raise BlockRefused(
                ErrorCode.PROTOCOL_ERROR, "CONTINUATION without a header block to continue"
            )
        _, flags, fragments, size = pending
        fragments.append(fragment)
        size += len(fragment)
        if size > self._max_size or len(fragments) > _MAX_CONTINUATIONS + 1:
            message = "a header block too large (CONTINUATION flood)"
            raise BlockRefused(ErrorCode.ENHANCE_YOUR_CALM, message, abuse=True)
        if not last:
            self.pending = (stream_id, flags, fragments, size)
            return None
        self.pending = None
        return flags, b"".join(fragments)

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """The block's fields (every block is decoded: it keeps HPACK's table in step)."""
        try:
            return self._decoder.decode(block)
        except HpackError as exc:
            if exc.oversized:
                raise BlockRefused(ErrorCode.ENHANCE_YOUR_CALM, str(exc), abuse=True) from exc
            raise BlockRefused(ErrorCode.COMPRESSION_ERROR, str(exc)) from exc

    def checked(self, block: bytes, decoded: list[tuple[bytes, bytes]], kind: int) -> Checked:
        """A block's fields checked as ``kind``; remembered for blocks the decoder remembers.

        The pseudo-header dict may be shared between events (do not change it);
        the field list is each event's own. Raises ``Malformed``.
        """
        key = (kind, block)
        known = self._known.get(key)
        if known is not None:
            return known[0], list(known[1]), known[2]
        if kind == REQUEST:
            pseudo, fields = request_fields(decoded)
        elif kind == RESPONSE:
            pseudo, fields = response_fields(decoded)
        else:
            pseudo, fields = {}, trailer_fields(decoded)
        length = None if kind == TRAILERS else content_length(fields)
        if self._decoder.remembers(block) and len(self._known) < _KNOWN_FIELDS_LIMIT:
            self._known[key] = (pseudo, list(fields), length)
        return pseudo, fields, length
