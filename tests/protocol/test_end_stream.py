from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioplugin.protocol import (
    Code,
    ConnectError,
    EndStream,
    Metadata,
    decode_end_stream,
    encode_end_stream,
)


def test_success_is_an_empty_object() -> None:
    assert encode_end_stream(EndStream()) == b"{}"
    end = decode_end_stream(b"{}")
    assert end.error is None and len(end.trailers) == 0


def test_error_and_trailers_round_trip() -> None:
    trailers = Metadata([("acme-cost", "237"), ("acme-cost", "12")])
    wire = encode_end_stream(EndStream(ConnectError(Code.UNAVAILABLE, "down"), trailers))
    assert json.loads(wire) == {
        "error": {"code": "unavailable", "message": "down"},
        "metadata": {"acme-cost": ["237", "12"]},
    }
    end = decode_end_stream(wire)
    assert end.error is not None and end.error.code is Code.UNAVAILABLE
    assert end.trailers.get_all("acme-cost") == ["237", "12"]
    assert end.error.metadata.get_all("Acme-Cost") == ["237", "12"]


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"nope",
        b"[]",
        b'{"error": 3}',
        b'{"metadata": {"a": "b"}}',
        b'{"metadata": {"a": [1]}}',
        b'{"metadata": {"bad key": ["v"]}}',
        b'{"metadata": []}',
    ],
)
def test_invalid_end_stream_is_an_internal_error(wire: bytes) -> None:
    with pytest.raises(ConnectError) as caught:
        decode_end_stream(wire)
    assert caught.value.code is Code.INTERNAL


def test_a_null_error_is_success() -> None:
    end = decode_end_stream(b'{"error": null, "metadata": {"k": ["v"]}}')
    assert end.error is None
    assert end.trailers.get_all("k") == ["v"]


@pytest.mark.parametrize(
    "wire",
    [
        b'{"error": {}}',
        b'{"error": {"message": "kept"}}',
        b'{"error": {"code": null, "message": "kept"}}',
        b'{"error": {"code": "no_such_code", "message": "kept"}}',
        b'{"error": {"code": 14, "message": "kept"}}',
    ],
)
def test_an_error_without_a_known_code_is_unknown_with_its_message(wire: bytes) -> None:
    end = decode_end_stream(wire)
    assert end.error is not None
    assert end.error.code is Code.UNKNOWN
    assert end.error.message == ("kept" if b"kept" in wire else "")


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_end_stream_or_connect_error(wire: bytes) -> None:
    try:
        decode_end_stream(wire)
    except ConnectError as exc:
        assert exc.code is Code.INTERNAL
