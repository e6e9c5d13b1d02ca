from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.echo_pb2 import EchoRequest
from trioplugin.protocol import (
    JSON,
    PROTO,
    Code,
    ConnectError,
    Metadata,
    format_timeout_ms,
    parse_timeout_ms,
)
from trioplugin.protocol._headers import (
    ContentType,
    parse_content_type,
    prefix_unary_trailers,
    split_unary_trailers,
)

requests = st.builds(
    EchoRequest,
    text=st.text(max_size=50),
    payload=st.binary(max_size=50),
    repeat=st.integers(-(2**31), 2**31 - 1),
    delay_ms=st.integers(-(2**63), 2**63 - 1),
)


@given(requests)
def test_proto_round_trip(message: EchoRequest) -> None:
    assert PROTO.decode(PROTO.encode(message), EchoRequest) == message


@given(requests)
def test_json_round_trip(message: EchoRequest) -> None:
    assert JSON.decode(JSON.encode(message), EchoRequest) == message


def test_json_uses_camel_case_and_ignores_unknown_fields() -> None:
    assert JSON.encode(EchoRequest(fail_code="x")) == b'{"failCode":"x"}'
    assert JSON.decode(b'{"text": "a", "future_field": 1}', EchoRequest).text == "a"


@pytest.mark.parametrize("wire", [b"", b"{", b'{"repeat": "many"}', b"[]", b"\xff"])
def test_malformed_json_is_invalid_argument(wire: bytes) -> None:
    with pytest.raises(ConnectError) as caught:
        JSON.decode(wire, EchoRequest)
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert "trioplugin.test.v1.EchoRequest" in caught.value.message


def test_malformed_proto_is_invalid_argument() -> None:
    with pytest.raises(ConnectError) as caught:
        PROTO.decode(b"\x0a\xff\xff\xff", EchoRequest)
    assert caught.value.code is Code.INVALID_ARGUMENT


@given(st.binary(max_size=200))
def test_arbitrary_bytes_into_codecs(wire: bytes) -> None:
    for codec in (PROTO, JSON):
        try:
            codec.decode(wire, EchoRequest)
        except ConnectError as exc:
            assert exc.code is Code.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("value", "seconds"), [("1", 0.001), ("5000", 5.0), ("9999999999", 9999999.999)]
)
def test_parse_timeout(value: str, seconds: float) -> None:
    assert parse_timeout_ms(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "-1", "1.5", "abc", "12345678901", "١٢", " 1"])
def test_bad_timeout_is_invalid_argument(value: str) -> None:
    with pytest.raises(ConnectError) as caught:
        parse_timeout_ms(value)
    assert caught.value.code is Code.INVALID_ARGUMENT


def test_format_timeout_rounds_up_and_clamps() -> None:
    assert format_timeout_ms(1.0) == "1000"
    assert format_timeout_ms(0.0001) == "1"
    assert format_timeout_ms(1e12) == "9999999999"
    assert format_timeout_ms(float("inf")) is None


@given(st.floats(min_value=0.001, max_value=1e6))
def test_timeout_round_trip_never_shortens(seconds: float) -> None:
    value = format_timeout_ms(seconds)
    assert value is not None
    assert parse_timeout_ms(value) >= seconds - 1e-9


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/proto", ContentType("proto", False)),
        ("application/json; charset=utf-8", ContentType("json", False)),
        ("Application/JSON", ContentType("json", False)),
        ("application/connect+proto", ContentType("proto", True)),
        ("application/connect+json", ContentType("json", True)),
        ("application/json; charset=latin-1", None),
        ("application/grpc+proto", None),
        ("application/grpc", None),
        ("application/connect+", None),
        ("text/plain", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_content_type(value: str | None, expected: ContentType | None) -> None:
    assert parse_content_type(value) == expected


def test_unary_trailers_are_prefixed_and_split() -> None:
    trailers = Metadata([("x-cost", "3")])
    wire = Metadata([("content-type", "application/proto"), *prefix_unary_trailers(trailers)])
    headers, back = split_unary_trailers(wire)
    assert back == trailers
    assert headers.first("content-type") == "application/proto"
    assert "trailer-x-cost" not in headers
