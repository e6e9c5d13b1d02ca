from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioplugin.protocol import GZIP, Code, ConnectError
from trioplugin.protocol._compression import choose_compression, parse_accept_encoding


@given(st.binary(max_size=10_000))
def test_gzip_round_trip(data: bytes) -> None:
    assert GZIP.decompress(GZIP.compress(data), max_size=len(data)) == data


def test_gzip_reads_what_the_stdlib_writes_including_several_members() -> None:
    wire = gzip.compress(b"hello ") + gzip.compress(b"world")
    assert GZIP.decompress(wire, max_size=100) == b"hello world"


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 100_000
    with pytest.raises(ConnectError) as caught:
        GZIP.decompress(bomb, max_size=4 * 1024 * 1024)
    assert caught.value.code is Code.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("wire", [b"not gzip", gzip.compress(b"abcdef" * 100)[:-9]])
def test_corrupt_or_truncated_gzip_is_invalid_argument(wire: bytes) -> None:
    with pytest.raises(ConnectError) as caught:
        GZIP.decompress(wire, max_size=10_000)
    assert caught.value.code is Code.INVALID_ARGUMENT


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_into_gzip_give_a_connect_error_or_data(wire: bytes) -> None:
    try:
        out = GZIP.decompress(wire, max_size=1000)
    except ConnectError as exc:
        assert exc.code in (Code.INVALID_ARGUMENT, Code.RESOURCE_EXHAUSTED)
    else:
        assert len(out) <= 1000


def test_accept_encoding_parsing_and_choice() -> None:
    assert parse_accept_encoding("gzip, br;q=0.5, zstd;q=0, identity") == [
        "gzip",
        "br",
        "identity",
    ]
    assert parse_accept_encoding(None) == []
    assert choose_compression(["br", "gzip"], [GZIP]) is GZIP
    assert choose_compression(["identity", "gzip"], [GZIP]) is None
    assert choose_compression(["br"], [GZIP]) is None
