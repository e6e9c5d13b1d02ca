"""The HPACK decoder's fast path: plain blocks decode as the hpack library decodes them."""

from __future__ import annotations

import hpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioplugin.transport._http2._hpack import HpackDecoder, StatelessHpackEncoder, decode_plain
from trioplugin.transport._upstream._hpack import HpackError

_NAMES = st.sampled_from(
    [b":method", b":path", b"content-type", b"traceparent", b"x-custom", b"authorization", b"te"]
)
_HEADERS = st.lists(st.tuples(_NAMES, st.binary(max_size=300)), max_size=12)


@given(_HEADERS)
def test_what_our_encoder_sends_decodes_on_the_fast_path(
    headers: list[tuple[bytes, bytes]],
) -> None:
    block = StatelessHpackEncoder().encode(headers)
    assert decode_plain(block, 1 << 20) == headers


@given(st.binary(max_size=200))
def test_any_block_the_fast_path_takes_decodes_the_same_in_hpack(block: bytes) -> None:
    try:
        fields = decode_plain(block, 1 << 20)
    except HpackError:
        return
    if fields is not None:
        assert hpack.Decoder().decode(block, raw=True) == fields


@given(_HEADERS, st.booleans())
def test_what_hpack_sends_decodes_the_same_either_way(
    headers: list[tuple[bytes, bytes]], huffman: bool
) -> None:
    block = hpack.Encoder().encode(headers, huffman=huffman)
    fields = decode_plain(block, 1 << 20)
    assert fields is None or fields == headers
    assert HpackDecoder(1 << 20).decode(block) == headers


def test_the_fast_path_refuses_a_header_list_over_the_limit() -> None:
    block = StatelessHpackEncoder().encode([(b"x-big", b"v" * 100)])
    with pytest.raises(HpackError, match="larger than we allow") as refused:
        decode_plain(block, 100)
    assert refused.value.oversized
    assert decode_plain(block, 137) == [(b"x-big", b"v" * 100)]  # 5 + 100 + 32


def test_a_plain_block_that_may_come_again_is_remembered() -> None:
    # A client's request headers are byte-identical call after call: the second
    # block must cost a dict lookup, not another decode (the fast path once skipped
    # the memory, and the server paid ~35 µs per call for it).
    encoder = StatelessHpackEncoder()
    steady = encoder.encode([(b":method", b"POST"), (b":path", b"/echo.v1.Echo/Echo")])
    traced = encoder.encode([(b":path", b"/echo.v1.Echo/Echo"), (b"traceparent", b"00-ab-cd-01")])
    decoder = HpackDecoder(1 << 16)
    assert decoder.decode(steady) == [(b":method", b"POST"), (b":path", b"/echo.v1.Echo/Echo")]
    assert decoder.remembers(steady)
    assert decoder.decode(steady) is decoder.decode(steady)
    decoder.decode(traced)
    assert not decoder.remembers(traced)  # new on every call: it would only crowd the memory
