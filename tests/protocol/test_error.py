from __future__ import annotations

import json

import pytest
from google.protobuf import any_pb2
from hypothesis import given
from hypothesis import strategies as st

from tests.echo_pb2 import FailureInfo
from trioplugin.protocol import (
    Code,
    ConnectError,
    Metadata,
    error_from_json,
    error_to_json,
)


def test_error_json_shape_matches_the_spec() -> None:
    error = ConnectError(Code.UNAVAILABLE, "overloaded: back off and retry")
    error.add_detail(FailureInfo(reason="busy", attempt=2))
    wire = json.loads(error_to_json(error))
    assert wire["code"] == "unavailable"
    assert wire["message"] == "overloaded: back off and retry"
    (detail,) = wire["details"]
    assert detail["type"] == "trioplugin.test.v1.FailureInfo"
    assert "=" not in detail["value"]  # unpadded base64
    assert detail["debug"] == {"reason": "busy", "attempt": 2}


def test_details_round_trip_and_unpack() -> None:
    error = ConnectError(Code.ABORTED, "x", details=[FailureInfo(reason="r", attempt=7)])
    back = error_from_json(error_to_json(error), fallback_code=Code.UNKNOWN)
    assert back.code is Code.ABORTED and back.message == "x" and back.wire
    assert back.unpack_details(FailureInfo) == [FailureInfo(reason="r", attempt=7)]
    assert back.unpack_details(any_pb2.Any) == []


def test_empty_message_is_omitted() -> None:
    assert json.loads(error_to_json(ConnectError(Code.INTERNAL))) == {"code": "internal"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", Code.UNAVAILABLE),
        (b"not json", Code.UNAVAILABLE),
        (b"{}", Code.UNAVAILABLE),
        (b'{"code": null}', Code.UNAVAILABLE),
        (b'{"code": "not_a_code"}', Code.UNAVAILABLE),
        (b'{"code": "not_found", "message": "gone"}', Code.NOT_FOUND),
        (b"[1, 2]", Code.UNAVAILABLE),
    ],
)
def test_decoding_falls_back_to_the_http_code(body: bytes, expected: Code) -> None:
    assert error_from_json(body, fallback_code=Code.UNAVAILABLE).code is expected


def test_malformed_details_are_skipped_not_fatal() -> None:
    body = json.dumps(
        {
            "code": "internal",
            "details": [{"type": "a.B"}, {"type": "a.B", "value": "!!"}, 3, {"value": "AA"}],
        }
    ).encode()
    error = error_from_json(body, fallback_code=Code.UNKNOWN)
    assert error.code is Code.INTERNAL
    assert error.details == ()


def test_metadata_travels_with_the_error() -> None:
    metadata = Metadata({"x-a": "1"})
    error = error_from_json(b'{"code":"aborted"}', fallback_code=Code.UNKNOWN, metadata=metadata)
    assert error.metadata["x-a"] == "1"


def test_code_must_be_a_code() -> None:
    with pytest.raises(TypeError):
        ConnectError("unavailable")  # type: ignore[arg-type]


@given(st.binary(max_size=500))
def test_arbitrary_error_bodies_never_crash(body: bytes) -> None:
    assert isinstance(error_from_json(body, fallback_code=Code.UNKNOWN), ConnectError)


@given(st.sampled_from(list(Code)), st.text(max_size=200))
def test_round_trip_any_code_and_message(code: Code, message: str) -> None:
    back = error_from_json(error_to_json(ConnectError(code, message)), fallback_code=Code.UNKNOWN)
    assert (back.code, back.message) == (code, message)
