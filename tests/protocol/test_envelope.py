from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioplugin.protocol import (
    Code,
    ConnectError,
    EnvelopeDecoder,
    EnvelopeFlags,
    encode_envelope,
)

LIMIT = 1024


def test_encode_layout() -> None:
    assert encode_envelope(b"hi") == b"\x00\x00\x00\x00\x02hi"
    framed = encode_envelope(b"{}", EnvelopeFlags.END_STREAM | EnvelopeFlags.COMPRESSED)
    assert framed == b"\x03\x00\x00\x00\x02{}"


def test_decoder_reports_flags() -> None:
    decoder = EnvelopeDecoder(LIMIT)
    decoder.feed(encode_envelope(b"x", EnvelopeFlags.COMPRESSED))
    decoder.feed(encode_envelope(b"{}", EnvelopeFlags.END_STREAM))
    first, second = decoder.next_envelope(), decoder.next_envelope()
    assert first is not None and first.compressed and not first.end_stream
    assert second is not None and second.end_stream and not second.compressed
    assert decoder.next_envelope() is None
    assert decoder.at_boundary


def test_partial_prefix_and_body_wait_for_more() -> None:
    decoder = EnvelopeDecoder(LIMIT)
    framed = encode_envelope(b"hello")
    decoder.feed(framed[:3])
    assert decoder.next_envelope() is None
    decoder.feed(framed[3:7])
    assert decoder.next_envelope() is None
    assert not decoder.at_boundary
    decoder.feed(framed[7:])
    envelope = decoder.next_envelope()
    assert envelope is not None and envelope.data == b"hello"


def test_oversize_is_refused_from_the_prefix_alone() -> None:
    decoder = EnvelopeDecoder(LIMIT)
    # Only the prefix of a message that claims 4 GiB: refused before any body arrives.
    decoder.feed(b"\x00\xff\xff\xff\xff")
    with pytest.raises(ConnectError) as caught:
        decoder.next_envelope()
    assert caught.value.code is Code.RESOURCE_EXHAUSTED
    assert "4294967295" in caught.value.message


def test_message_at_the_limit_is_accepted() -> None:
    decoder = EnvelopeDecoder(LIMIT)
    decoder.feed(encode_envelope(b"a" * LIMIT))
    envelope = decoder.next_envelope()
    assert envelope is not None and len(envelope.data) == LIMIT


@given(st.lists(st.tuples(st.binary(max_size=300), st.integers(0, 3)), max_size=20), st.data())
def test_round_trip_in_arbitrary_chunks(
    messages: list[tuple[bytes, int]], data: st.DataObject
) -> None:
    wire = b"".join(encode_envelope(body, flags) for body, flags in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    decoder = EnvelopeDecoder(LIMIT)
    out = []
    start = 0
    for cut in [*cuts, len(wire)]:
        decoder.feed(wire[start:cut])
        start = cut
        while (envelope := decoder.next_envelope()) is not None:
            out.append((envelope.data, envelope.flags))
    assert out == messages
    assert decoder.at_boundary


@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_crash_and_buffer_stays_bounded(wire: bytes) -> None:
    decoder = EnvelopeDecoder(LIMIT)
    decoder.feed(wire)
    try:
        while decoder.next_envelope() is not None:
            pass
    except ConnectError as exc:
        assert exc.code is Code.RESOURCE_EXHAUSTED
        return
    # Whatever is left is less than one whole envelope of at most the limit.
    assert decoder.buffered < 5 + LIMIT
