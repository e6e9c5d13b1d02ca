"""What the call-machine properties share: envelope bodies to generate, and driving a machine."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Protocol

from hypothesis import strategies as st

from trioplugin.protocol import (
    GZIP,
    NEED_DATA,
    EnvelopeFlags,
    RemoteProtocolError,
    encode_envelope,
)

Outcome = tuple[object, ...]
"""One thing a machine gave: ``("message", data)``, an end, or ``("error", code, message)``."""


def envelope_pieces(limit: int, end_streams: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Pieces of a streaming body: messages, odd flags, gzip, ``end_streams``, oversize, junk."""
    return st.one_of(
        st.binary(max_size=30).map(encode_envelope),
        st.tuples(st.binary(max_size=30), st.integers(0, 255)).map(
            lambda pair: encode_envelope(pair[0], pair[1])
        ),
        st.binary(max_size=30).map(
            lambda data: encode_envelope(GZIP.compress(data), EnvelopeFlags.COMPRESSED)
        ),
        end_streams,
        st.integers(limit + 1, 2**32 - 1).map(lambda size: struct.pack(">BI", 0, size)),
        st.binary(max_size=12),
    )


def bodies(pieces: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Bodies of up to six pieces."""
    return st.lists(pieces, max_size=6).map(b"".join)


def chunked(body: bytes, data: st.DataObject) -> list[bytes]:
    """``body`` cut at up to eight places drawn from ``data``."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=8)))
    return [body[start:end] for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True)]


class Machine(Protocol):
    """The receiving side of a call machine (ServerCall or ClientCall)."""

    def receive_data(self, data: bytes) -> None: ...
    def receive_end(self) -> None: ...
    def next_event(self) -> object: ...


def drive(
    call: Machine, chunks: Sequence[bytes], end: Callable[[object], Outcome | None]
) -> list[Outcome]:
    """Feed the chunks, taking events after each; what came out, ending in the end or an error.

    ``end`` describes an end event (None for any other event, a message).
    """
    out: list[Outcome] = []

    def drain() -> bool:
        while (event := call.next_event()) is not NEED_DATA:
            described = end(event)
            if described is not None:
                out.append(described)
                return True
            out.append(("message", event.data))  # type: ignore[attr-defined]
        return False

    try:
        for chunk in chunks:
            call.receive_data(chunk)
            if drain():
                return out
        call.receive_end()
        assert drain(), "the body ended but the machine wants more"
    except RemoteProtocolError as exc:
        out.append(("error", exc.code, exc.message))
    return out
