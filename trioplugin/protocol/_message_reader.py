"""Reading the messages of one direction of a call out of body bytes, sans I/O."""

from __future__ import annotations

from typing import Final

from ._call_errors import RemoteProtocolError
from ._code import Code
from ._compression import Compression
from ._envelope import KNOWN_FLAGS, EnvelopeDecoder
from ._error import ConnectError


class EndStreamPayload(bytes):
    """The (decompressed) payload of an envelope flagged end-of-stream."""

    __slots__ = ()


class _BodyEnd:
    __slots__ = ()


BODY_END: Final = _BodyEnd()
"""The body ended cleanly (at an envelope boundary, or after a whole unary body)."""


class MessageReader:
    """Turns body bytes into messages: envelopes for streams, the whole body for unary.

    :meth:`next` returns a message's payload (decompressed), an
    :class:`EndStreamPayload`, :data:`BODY_END`, or None until more bytes come.
    Sizes are checked as the bytes arrive (an envelope that claims more than
    ``limit`` is refused from its 5-byte prefix) and again after decompression.
    ``peer_fault`` is the code for bytes the peer got wrong.
    """

    __slots__ = (
        "_body",
        "_body_size",
        "_compression",
        "_decoder",
        "_delivered",
        "_ended",
        "_limit",
        "_peer_fault",
        "_what",
    )

    def __init__(
        self,
        *,
        enveloped: bool,
        limit: int,
        compression: Compression | None,
        peer_fault: Code,
        what: str,
    ) -> None:
        self._decoder = EnvelopeDecoder(limit) if enveloped else None
        self._body: list[bytes] = []
        self._body_size = 0
        self._limit = limit
        self._compression = compression
        self._peer_fault = peer_fault
        self._what = what
        self._ended = False
        self._delivered = False

    def feed(self, data: bytes) -> None:
        """Add body bytes.

        Raises:
            RemoteProtocolError: ``resource_exhausted`` if a unary body passes the limit.
        """
        if self._decoder is not None:
            self._decoder.feed(data)
            return
        self._body_size += len(data)
        if self._body_size > self._limit:
            raise RemoteProtocolError(
                Code.RESOURCE_EXHAUSTED,
                f"{self._what} is larger than the limit of {self._limit} bytes",
            )
        self._body.append(data)

    def feed_end(self) -> None:
        """The body has ended."""
        self._ended = True

    def next(self) -> bytes | EndStreamPayload | _BodyEnd | None:
        """The next thing the body holds (see the class docstring)."""
        decoder = self._decoder
        if decoder is None:
            return self._unary_body()
        try:
            envelope = decoder.next_envelope()
        except ConnectError as exc:  # a declared size over the limit
            raise RemoteProtocolError(exc.code, f"{self._what}: {exc.message}") from None
        if envelope is None:
            if not self._ended:
                return None
            if decoder.at_boundary:
                return BODY_END
            raise RemoteProtocolError(
                self._peer_fault,
                f"{self._what} ended in the middle of a message "
                f"({decoder.buffered} bytes of a partial envelope)",
            )
        flags = envelope.flags
        if flags & ~KNOWN_FLAGS:
            raise RemoteProtocolError(
                self._peer_fault, f"{self._what} has an envelope with unknown flags 0x{flags:02x}"
            )
        data = envelope.data
        if envelope.compressed:
            data = self._decompress(data)
        return EndStreamPayload(data) if envelope.end_stream else data

    def _unary_body(self) -> bytes | _BodyEnd | None:
        if not self._ended:
            return None
        if self._delivered:
            return BODY_END
        self._delivered = True
        chunks = self._body
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if data and self._compression is not None:
            data = self._decompress(data)
        return data

    def _decompress(self, data: bytes) -> bytes:
        compression = self._compression
        if compression is None:
            raise RemoteProtocolError(
                Code.INTERNAL,
                f"protocol error: {self._what} has a compressed message but no "
                "compression was negotiated",
            )
        try:
            return compression.decompress(data, self._limit)
        except ConnectError as exc:
            # Bad compressed bytes are the peer's fault; too many of them are a limit.
            code = exc.code if exc.code is Code.RESOURCE_EXHAUSTED else self._peer_fault
            raise RemoteProtocolError(code, f"{self._what}: {exc.message}") from None
