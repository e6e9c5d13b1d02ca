"""Message compression: identity and gzip, with limits on the decompressed size."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Final, Protocol, final, runtime_checkable

from ._code import Code
from ._error import ConnectError

IDENTITY: Final = "identity"


@runtime_checkable
class Compression(Protocol):
    """A content coding for messages (``gzip`` in ``Content-Encoding: gzip``)."""

    @property
    def name(self) -> str:
        """The content-coding token."""
        ...

    def compress(self, data: bytes) -> bytes:
        """Compress a whole message."""
        ...

    def decompress(self, data: bytes, max_size: int) -> bytes:
        """Decompress a whole message, refusing to produce more than ``max_size`` bytes.

        Raises:
            ConnectError: ``resource_exhausted`` past the limit; ``invalid_argument``
                if the data is not validly compressed.
        """
        ...


@final
class GzipCompression:
    """gzip (RFC 1952) compression."""

    name: Final = "gzip"

    def __init__(self, level: int = 6) -> None:
        self._level = level

    def compress(self, data: bytes) -> bytes:
        """Compress into one gzip member."""
        compressor = zlib.compressobj(self._level, zlib.DEFLATED, 31)
        return compressor.compress(data) + compressor.flush()

    def decompress(self, data: bytes, max_size: int) -> bytes:
        """Decompress every gzip member, stopping at ``max_size + 1`` bytes of output."""
        out = bytearray()
        remaining = data
        try:
            while remaining:
                decompressor = zlib.decompressobj(31)
                out += decompressor.decompress(remaining, max_size + 1 - len(out))
                if len(out) > max_size:
                    raise _too_large(max_size)
                if not decompressor.eof:
                    if decompressor.unconsumed_tail:
                        raise _too_large(max_size)
                    raise ConnectError(Code.INVALID_ARGUMENT, "gzip data is truncated")
                remaining = decompressor.unused_data
        except zlib.error as exc:
            raise ConnectError(Code.INVALID_ARGUMENT, f"invalid gzip data: {exc}") from exc
        return bytes(out)


def _too_large(max_size: int) -> ConnectError:
    return ConnectError(
        Code.RESOURCE_EXHAUSTED,
        f"decompressed message is larger than the limit of {max_size} bytes",
    )


GZIP: Final = GzipCompression()
"""The shared gzip compression."""

DEFAULT_COMPRESSIONS: Final[tuple[Compression, ...]] = (GZIP,)
"""The compressions offered unless told otherwise (identity is always accepted)."""


def parse_accept_encoding(value: str | None) -> list[str]:
    """The codings of an ``Accept-Encoding`` value, most preferred first.

    Quality values are honoured only to drop codings marked ``q=0``.
    """
    if not value:
        return []
    names: list[str] = []
    for part in value.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        if params.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        names.append(name)
    return names


def choose_compression(
    accepted: Iterable[str], available: Sequence[Compression]
) -> Compression | None:
    """The first coding the peer accepts that we have, or None for identity."""
    by_name = {compression.name: compression for compression in available}
    for name in accepted:
        if name == IDENTITY:
            return None
        found = by_name.get(name)
        if found is not None:
            return found
    return None


def accept_encoding_value(available: Sequence[Compression]) -> str:
    """The ``Accept-Encoding`` value that advertises ``available`` (identity implied)."""
    return ", ".join(compression.name for compression in available)
