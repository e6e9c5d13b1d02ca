from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioplugin.protocol import Metadata, decode_binary_value, encode_binary_value


def test_case_insensitive_multi_valued() -> None:
    metadata = Metadata()
    metadata.add("X-Trace", "a")
    metadata.add("x-trace", "b")
    assert metadata["X-TRACE"] == "a, b"
    assert metadata.get_all("x-trace") == ["a", "b"]
    assert metadata.first("x-trace") == "a"
    metadata["x-trace"] = "c"
    assert metadata.get_all("x-trace") == ["c"]
    del metadata["X-Trace"]
    assert "x-trace" not in metadata
    assert len(metadata) == 0


@pytest.mark.parametrize(("key", "value"), [("bad key", "v"), ("", "v"), ("k", "a\r\nb")])
def test_invalid_keys_and_values_are_refused(key: str, value: str) -> None:
    with pytest.raises(ValueError, match="metadata"):
        Metadata().add(key, value)


@given(st.binary(max_size=100))
def test_binary_values_round_trip(value: bytes) -> None:
    metadata = Metadata()
    metadata.add_binary("x-blob-bin", value)
    assert "=" not in metadata["x-blob-bin"]
    assert metadata.get_binary("x-blob-bin") == value


def test_padded_binary_values_are_accepted() -> None:
    assert decode_binary_value("aGk=") == b"hi"
    assert decode_binary_value(encode_binary_value(b"hi")) == b"hi"
    with pytest.raises(ValueError, match="base64"):
        decode_binary_value("***")


def test_binary_key_needs_the_suffix() -> None:
    with pytest.raises(ValueError, match="-bin"):
        Metadata().add_binary("x-blob", b"1")
