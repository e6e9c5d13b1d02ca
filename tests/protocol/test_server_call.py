"""ServerCall, fed plain bytes: one test per rule of the server side of a Connect call."""

from __future__ import annotations

import base64
import json
import struct
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocol.bodies import Outcome, bodies, chunked, drive, envelope_pieces
from trioplugin.protocol import (
    GZIP,
    NEED_DATA,
    Code,
    ConnectError,
    EndOfRequest,
    EndStream,
    EnvelopeDecoder,
    EnvelopeFlags,
    LocalProtocolError,
    Message,
    Metadata,
    Output,
    Refused,
    RemoteProtocolError,
    RequestSpec,
    ResponseHead,
    ServerCall,
    ServerConfig,
    StreamType,
    decode_end_stream,
    encode_end_stream,
    encode_envelope,
)

LIMIT = 1024
MIN_BYTES = 64
CONFIG = ServerConfig(
    codecs=("proto", "json"),
    compressions=(GZIP,),
    max_message_size=LIMIT,
    compress_min_bytes=MIN_BYTES,
)

UNARY = StreamType.UNARY
CLIENT = StreamType.CLIENT_STREAM
SERVER = StreamType.SERVER_STREAM
BIDI = StreamType.BIDI_STREAM
STREAMING = [CLIENT, SERVER, BIDI]
ALL_KINDS = [UNARY, *STREAMING]
SINGLE_REQUEST = [UNARY, SERVER]
SINGLE_RESPONSE = [UNARY, CLIENT]


# -- helpers --------------------------------------------------------------------------


def content_type(kind: StreamType, codec: str = "proto") -> str:
    return ("application/connect+" if kind.enveloped else "application/") + codec


def request_headers(kind: StreamType, *extra: tuple[str, str], codec: str = "proto") -> Metadata:
    return Metadata([("content-type", content_type(kind, codec)), *extra])


def accepted(
    kind: StreamType, *extra: tuple[str, str], codec: str = "proto", allow_get: bool = False
) -> ServerCall:
    call = ServerCall(CONFIG, kind, allow_get=allow_get)
    spec = call.receive_request_head("POST", request_headers(kind, *extra, codec=codec), "")
    assert isinstance(spec, RequestSpec), spec
    return call


def refused(
    kind: StreamType,
    headers: Metadata,
    *,
    method: str = "POST",
    query: str = "",
    allow_get: bool = False,
) -> Refused:
    call = ServerCall(CONFIG, kind, allow_get=allow_get)
    result = call.receive_request_head(method, headers, query)
    assert isinstance(result, Refused), result
    assert result.output.end
    assert call.response_done
    return result


def header(head: ResponseHead, name: str) -> list[str]:
    return [value for key, value in head.headers if key == name]


def only_end_stream(data: bytes) -> EndStream:
    """The end-stream message of a body that must hold exactly that one envelope."""
    decoder = EnvelopeDecoder(1 << 20)
    decoder.feed(data)
    envelope = decoder.next_envelope()
    assert envelope is not None
    assert envelope.flags == EnvelopeFlags.END_STREAM
    assert decoder.at_boundary
    return decode_end_stream(envelope.data)


def envelopes(data: bytes) -> list[tuple[int, bytes]]:
    decoder = EnvelopeDecoder(1 << 20)
    decoder.feed(data)
    out = []
    while (envelope := decoder.next_envelope()) is not None:
        out.append((envelope.flags, envelope.data))
    assert decoder.at_boundary
    return out


def assert_not_json(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def remote_error(call: ServerCall) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as caught:
        while call.next_event() is not NEED_DATA:
            pass
        pytest.fail("the request was not refused")
    return caught.value


# -- (1) the HTTP method --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "allow_get", "method", "allowed"),
    [
        (UNARY, False, "PUT", "POST"),
        (UNARY, False, "GET", "POST"),
        (UNARY, True, "PUT", "GET, POST"),
        (UNARY, True, "DELETE", "GET, POST"),
        (SERVER, True, "GET", "POST"),
        (CLIENT, False, "PATCH", "POST"),
        (BIDI, True, "PUT", "POST"),
    ],
)
def test_wrong_method_is_a_bare_405(
    kind: StreamType, allow_get: bool, method: str, allowed: str
) -> None:
    result = refused(kind, request_headers(kind), method=method, allow_get=allow_get)
    head = result.output.head
    assert head is not None
    assert head.status == 405
    assert header(head, "allow") == [allowed]
    (ctype,) = header(head, "content-type")
    assert ctype.startswith("text/plain")
    assert "application/json" not in [value for _, value in head.headers]
    assert allowed in result.output.data.decode()
    assert_not_json(result.output.data)


def test_a_refused_call_takes_no_body_and_no_second_head() -> None:
    call = ServerCall(CONFIG, UNARY, allow_get=False)
    assert isinstance(call.receive_request_head("PUT", request_headers(UNARY), ""), Refused)
    with pytest.raises(LocalProtocolError):
        call.receive_data(b"x")
    with pytest.raises(LocalProtocolError):
        call.receive_request_head("POST", request_headers(UNARY), "")
    with pytest.raises(LocalProtocolError):
        call.send_end(ConnectError(Code.INTERNAL, "again"), Metadata(), Metadata())


# -- (2) the content type -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (UNARY, None),
        (UNARY, "text/plain"),
        (UNARY, "application/xml"),
        (UNARY, "application/connect+proto"),
        (UNARY, "application/json; charset=latin-1"),
        (CLIENT, "application/proto"),
        (SERVER, "application/connect+xml"),
        (BIDI, "text/html"),
        (SERVER, None),
    ],
)
def test_unsupported_content_type_or_codec_is_a_bare_415(
    kind: StreamType, value: str | None
) -> None:
    headers = Metadata() if value is None else Metadata([("content-type", value)])
    result = refused(kind, headers)
    head = result.output.head
    assert head is not None
    assert head.status == 415
    (accept_post,) = header(head, "accept-post")
    assert accept_post == f"{content_type(kind, 'proto')}, {content_type(kind, 'json')}"
    (ctype,) = header(head, "content-type")
    assert ctype.startswith("text/plain")
    assert_not_json(result.output.data)


# -- (3) refusals after routing ----------------------------------------------------------

AFTER_ROUTING = [
    pytest.param([("connect-timeout-ms", "abc")], Code.INVALID_ARGUMENT, id="timeout-abc"),
    pytest.param(
        [("connect-timeout-ms", "12345678901")], Code.INVALID_ARGUMENT, id="timeout-11-digits"
    ),
    pytest.param([("connect-timeout-ms", "-5")], Code.INVALID_ARGUMENT, id="timeout-negative"),
    pytest.param([("connect-protocol-version", "2")], Code.INVALID_ARGUMENT, id="version-2"),
    pytest.param(["encoding:br"], Code.UNIMPLEMENTED, id="encoding-br"),
]


def _after_routing_headers(
    kind: StreamType, pairs: list[tuple[str, str] | str], codec: str
) -> Metadata:
    encoding = "connect-content-encoding" if kind.enveloped else "content-encoding"
    resolved = [
        (encoding, pair.partition(":")[2]) if isinstance(pair, str) else pair for pair in pairs
    ]
    return request_headers(kind, *resolved, codec=codec)


@pytest.mark.parametrize(("pairs", "code"), AFTER_ROUTING)
def test_unary_refusal_after_routing_is_error_json_with_the_codes_status(
    pairs: list[tuple[str, str] | str], code: Code
) -> None:
    result = refused(UNARY, _after_routing_headers(UNARY, pairs, "proto"))
    assert result.error.code is code
    head = result.output.head
    assert head is not None
    assert head.status == code.http_status
    assert header(head, "content-type") == ["application/json"]
    wire = json.loads(result.output.data)
    assert wire["code"] == code.value
    assert wire["message"] == result.error.message
    if code is Code.UNIMPLEMENTED:
        assert header(head, "accept-encoding") == ["gzip"]


@pytest.mark.parametrize("codec", ["proto", "json"])
@pytest.mark.parametrize("kind", STREAMING)
@pytest.mark.parametrize(("pairs", "code"), AFTER_ROUTING)
def test_streaming_refusal_after_routing_is_200_with_an_end_stream_error(
    pairs: list[tuple[str, str] | str], code: Code, kind: StreamType, codec: str
) -> None:
    result = refused(kind, _after_routing_headers(kind, pairs, codec))
    assert result.error.code is code
    head = result.output.head
    assert head is not None
    assert head.status == 200
    assert header(head, "content-type") == [f"application/connect+{codec}"]
    end = only_end_stream(result.output.data)
    assert end.error is not None
    assert end.error.code is code
    assert end.error.message == result.error.message
    if code is Code.UNIMPLEMENTED:  # streams negotiate with the connect- headers
        assert header(head, "connect-accept-encoding") == ["gzip"]
        assert header(head, "accept-encoding") == []


# -- (4) Connect-Timeout-Ms ----------------------------------------------------------------


def test_zero_timeout_is_deadline_exceeded_at_once_for_unary() -> None:
    result = refused(UNARY, request_headers(UNARY, ("connect-timeout-ms", "0")))
    assert result.error.code is Code.DEADLINE_EXCEEDED
    head = result.output.head
    assert head is not None
    assert head.status == 504
    assert json.loads(result.output.data)["code"] == "deadline_exceeded"


@pytest.mark.parametrize("kind", STREAMING)
def test_zero_timeout_is_deadline_exceeded_at_once_for_streams(kind: StreamType) -> None:
    result = refused(kind, request_headers(kind, ("connect-timeout-ms", "0")))
    assert result.error.code is Code.DEADLINE_EXCEEDED
    head = result.output.head
    assert head is not None
    assert head.status == 200
    end = only_end_stream(result.output.data)
    assert end.error is not None and end.error.code is Code.DEADLINE_EXCEEDED


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_ten_digit_timeout_is_accepted(kind: StreamType) -> None:
    call = ServerCall(CONFIG, kind, allow_get=False)
    spec = call.receive_request_head(
        "POST", request_headers(kind, ("connect-timeout-ms", "9999999999")), ""
    )
    assert isinstance(spec, RequestSpec)
    assert spec.timeout == pytest.approx(9999999.999)
    assert not call.response_started


# -- (5) how many request messages ------------------------------------------------------


@pytest.mark.parametrize("count", [0, 2, 3])
def test_server_stream_request_needs_exactly_one_message(count: int) -> None:
    call = accepted(SERVER)
    call.receive_data(b"".join(encode_envelope(b"m%d" % i) for i in range(count)))
    call.receive_end()
    error = remote_error(call)
    assert error.code is Code.UNIMPLEMENTED  # a count violation, never internal


def test_a_second_server_stream_request_is_refused_before_the_body_ends() -> None:
    call = accepted(SERVER)
    call.receive_data(encode_envelope(b"one") + encode_envelope(b"two"))
    assert remote_error(call).code is Code.UNIMPLEMENTED


def test_the_one_server_stream_request_waits_for_the_body_end() -> None:
    call = accepted(SERVER)
    call.receive_data(encode_envelope(b"only"))
    assert call.next_event() is NEED_DATA
    assert call.next_event() is NEED_DATA
    call.receive_end()
    assert call.next_event() == Message(b"only")
    assert call.next_event() == EndOfRequest()


def test_an_empty_unary_body_is_one_empty_message() -> None:
    call = accepted(UNARY)
    assert call.next_event() is NEED_DATA
    call.receive_end()
    assert call.next_event() == Message(b"")
    assert call.next_event() == EndOfRequest()


def test_a_unary_body_is_the_whole_body_once_it_ends() -> None:
    call = accepted(UNARY)
    call.receive_data(b"ab")
    assert call.next_event() is NEED_DATA
    call.receive_data(b"cd")
    call.receive_end()
    assert call.next_event() == Message(b"abcd")
    assert call.next_event() == EndOfRequest()


@pytest.mark.parametrize("kind", [CLIENT, BIDI])
def test_streamed_requests_come_one_by_one_then_end_of_request(kind: StreamType) -> None:
    call = accepted(kind)
    second = encode_envelope(b"second")
    call.receive_data(encode_envelope(b"first") + second[:3])
    assert call.next_event() == Message(b"first")
    assert call.next_event() is NEED_DATA
    call.receive_data(second[3:] + encode_envelope(b""))
    assert call.next_event() == Message(b"second")
    assert call.next_event() == Message(b"")
    assert call.next_event() is NEED_DATA
    call.receive_end()
    assert call.next_event() == EndOfRequest()
    assert call.next_event() == EndOfRequest()


@pytest.mark.parametrize("kind", [CLIENT, BIDI])
def test_a_stream_of_no_requests_is_just_the_end(kind: StreamType) -> None:
    call = accepted(kind)
    call.receive_end()
    assert call.next_event() == EndOfRequest()


# -- (6) malformed request envelopes ----------------------------------------------------


@pytest.mark.parametrize("kind", STREAMING)
def test_an_end_stream_flag_in_a_request_is_invalid_argument(kind: StreamType) -> None:
    call = accepted(kind)
    call.receive_data(encode_envelope(b"{}", EnvelopeFlags.END_STREAM))
    call.receive_end()
    assert remote_error(call).code is Code.INVALID_ARGUMENT


@pytest.mark.parametrize("flags", [0x04, 0x80, 0xFF, 0x05])
@pytest.mark.parametrize("kind", STREAMING)
def test_unknown_envelope_flags_are_invalid_argument(kind: StreamType, flags: int) -> None:
    call = accepted(kind, ("connect-content-encoding", "gzip"))
    call.receive_data(encode_envelope(GZIP.compress(b"x"), flags))
    call.receive_end()
    assert remote_error(call).code is Code.INVALID_ARGUMENT


@pytest.mark.parametrize("keep", [1, 4, 5, 9])
@pytest.mark.parametrize("kind", STREAMING)
def test_a_truncated_envelope_at_the_body_end_is_invalid_argument(
    kind: StreamType, keep: int
) -> None:
    call = accepted(kind)
    framed = encode_envelope(b"whole message")
    assert keep < len(framed)
    call.receive_data(framed[:keep])
    assert call.next_event() is NEED_DATA
    call.receive_end()
    assert remote_error(call).code is Code.INVALID_ARGUMENT


@pytest.mark.parametrize("kind", STREAMING)
def test_an_oversize_envelope_is_refused_from_its_prefix_alone(kind: StreamType) -> None:
    call = accepted(kind)
    call.receive_data(struct.pack(">BI", 0, LIMIT + 1))  # the prefix only, no body
    assert remote_error(call).code is Code.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("kind", STREAMING)
def test_an_envelope_at_the_limit_is_accepted(kind: StreamType) -> None:
    call = accepted(kind)
    call.receive_data(encode_envelope(b"a" * LIMIT))
    call.receive_end()
    assert call.next_event() == Message(b"a" * LIMIT)


def test_a_unary_body_over_the_limit_is_resource_exhausted() -> None:
    call = accepted(UNARY)
    call.receive_data(b"a" * LIMIT)
    with pytest.raises(RemoteProtocolError) as caught:
        call.receive_data(b"a")
    assert caught.value.code is Code.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("kind", STREAMING)
def test_a_compressed_envelope_without_negotiated_compression_is_internal(
    kind: StreamType,
) -> None:
    call = accepted(kind)
    call.receive_data(encode_envelope(GZIP.compress(b"x"), EnvelopeFlags.COMPRESSED))
    call.receive_end()
    assert remote_error(call).code is Code.INTERNAL


@pytest.mark.parametrize("kind", [CLIENT, BIDI])
def test_gzip_request_envelopes_are_decompressed(kind: StreamType) -> None:
    call = accepted(kind, ("connect-content-encoding", "gzip"))
    call.receive_data(encode_envelope(GZIP.compress(b"zipped"), EnvelopeFlags.COMPRESSED))
    call.receive_data(encode_envelope(b"plain"))  # the flag says, message by message
    call.receive_end()
    assert call.next_event() == Message(b"zipped")
    assert call.next_event() == Message(b"plain")
    assert call.next_event() == EndOfRequest()


def test_a_gzip_server_stream_request_is_decompressed() -> None:
    call = accepted(SERVER, ("connect-content-encoding", "gzip"))
    call.receive_data(encode_envelope(GZIP.compress(b"zipped"), EnvelopeFlags.COMPRESSED))
    call.receive_end()
    assert call.next_event() == Message(b"zipped")


def test_a_gzip_unary_request_is_decompressed() -> None:
    call = accepted(UNARY, ("content-encoding", "gzip"))
    call.receive_data(GZIP.compress(b"zipped unary"))
    call.receive_end()
    assert call.next_event() == Message(b"zipped unary")


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_request_that_inflates_past_the_limit_is_resource_exhausted(kind: StreamType) -> None:
    bomb = GZIP.compress(b"\0" * (LIMIT + 1))
    if kind.enveloped:
        call = accepted(kind, ("connect-content-encoding", "gzip"))
        call.receive_data(encode_envelope(bomb, EnvelopeFlags.COMPRESSED))
    else:
        call = accepted(kind, ("content-encoding", "gzip"))
        call.receive_data(bomb)
    call.receive_end()
    assert remote_error(call).code is Code.RESOURCE_EXHAUSTED


# -- (7) the response -----------------------------------------------------------------

USER_HEADERS = Metadata(
    [
        ("content-type", "text/evil"),
        ("connect-content-encoding", "br"),
        ("connect-timeout-ms", "1"),
        ("content-encoding", "br"),
        ("x-user", "1"),
        ("x-user", "2"),
    ]
)


@pytest.mark.parametrize("kind", STREAMING)
def test_the_stream_head_is_sent_once(kind: StreamType) -> None:
    call = accepted(kind)
    first = call.send_headers(Metadata([("x-a", "1")]))
    assert first is not None
    assert first.head is not None and first.head.status == 200
    assert first.data == b"" and not first.end
    assert call.response_started and not call.response_done
    assert call.send_headers(Metadata([("x-b", "2")])) is None
    following = call.send_message(b"m", Metadata([("x-c", "3")]))
    if kind.streams_responses:
        assert following == Output(None, encode_envelope(b"m"), end=False)
    else:
        assert following is None


@pytest.mark.parametrize("kind", STREAMING)
def test_the_stream_head_filters_user_headers(kind: StreamType) -> None:
    call = accepted(kind, ("connect-accept-encoding", "gzip"))
    output = call.send_headers(USER_HEADERS)
    assert output is not None and output.head is not None
    head = output.head
    assert header(head, "content-type") == ["application/connect+proto"]
    assert header(head, "connect-content-encoding") == ["gzip"]
    assert header(head, "x-user") == ["1", "2"]
    assert header(head, "connect-timeout-ms") == []
    assert header(head, "content-encoding") == []


@pytest.mark.parametrize("kind", [SERVER, BIDI])
def test_the_first_message_carries_the_head_when_it_was_not_sent(kind: StreamType) -> None:
    call = accepted(kind, codec="json")
    first = call.send_message(b"{}", USER_HEADERS)
    assert first is not None and first.head is not None
    assert first.head.status == 200
    assert header(first.head, "content-type") == ["application/connect+json"]
    assert header(first.head, "x-user") == ["1", "2"]
    assert first.data == encode_envelope(b"{}") and not first.end
    second = call.send_message(b"{}", Metadata())
    assert second == Output(None, encode_envelope(b"{}"), end=False)


def test_unary_send_headers_waits_for_the_body() -> None:
    call = accepted(UNARY)
    assert call.send_headers(Metadata([("x-early", "1")])) is None
    assert not call.response_started
    assert call.send_message(b"answer", Metadata()) is None
    output = call.send_end(None, Metadata([("x-late", "1")]), Metadata())
    assert output.head is not None and output.head.status == 200
    assert output.data == b"answer" and output.end
    assert header(output.head, "x-late") == ["1"]


@pytest.mark.parametrize("kind", SINGLE_RESPONSE)
def test_a_second_response_message_is_a_local_error(kind: StreamType) -> None:
    call = accepted(kind)
    assert call.send_message(b"one", Metadata()) is None
    with pytest.raises(LocalProtocolError):
        call.send_message(b"two", Metadata())


@pytest.mark.parametrize("kind", SINGLE_RESPONSE)
def test_success_without_the_response_message_is_a_local_error(kind: StreamType) -> None:
    call = accepted(kind)
    with pytest.raises(LocalProtocolError):
        call.send_end(None, Metadata(), Metadata())
    assert not call.response_done
    # The machine still takes the error the driver answers with instead.
    output = call.send_end(ConnectError(Code.INTERNAL, "no response"), Metadata(), Metadata())
    assert output.end and call.response_done


@pytest.mark.parametrize("error", [None, ConnectError(Code.ABORTED, "x")])
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_nothing_goes_after_the_end(kind: StreamType, error: ConnectError | None) -> None:
    call = accepted(kind)
    if error is None and not kind.streams_responses:
        call.send_message(b"m", Metadata())
    output = call.send_end(error, Metadata(), Metadata())
    assert output.end and call.response_done
    with pytest.raises(LocalProtocolError):
        call.send_headers(Metadata())
    with pytest.raises(LocalProtocolError):
        call.send_message(b"more", Metadata())
    with pytest.raises(LocalProtocolError):
        call.send_end(None, Metadata(), Metadata())
    with pytest.raises(LocalProtocolError):
        call.send_end(ConnectError(Code.INTERNAL, "again"), Metadata(), Metadata())


def test_unary_success_head_trailers_and_no_compression_unasked() -> None:
    call = accepted(UNARY)
    call.send_message(b"x" * (MIN_BYTES * 2), Metadata())
    trailers = Metadata([("x-cost", "3"), ("x-cost", "4")])
    output = call.send_end(None, USER_HEADERS, trailers)
    head = output.head
    assert head is not None and head.status == 200 and output.end
    assert header(head, "content-type") == ["application/proto"]
    assert header(head, "content-encoding") == []
    assert header(head, "x-user") == ["1", "2"]
    assert header(head, "trailer-x-cost") == ["3", "4"]
    assert header(head, "x-cost") == []
    assert output.data == b"x" * (MIN_BYTES * 2)


@pytest.mark.parametrize(
    ("size", "compressed"), [(MIN_BYTES, True), (MIN_BYTES * 4, True), (MIN_BYTES - 1, False)]
)
def test_unary_response_is_compressed_only_from_compress_min_bytes(
    size: int, compressed: bool
) -> None:
    call = accepted(UNARY, ("accept-encoding", "gzip"))
    message = b"y" * size
    call.send_message(message, Metadata())
    output = call.send_end(None, Metadata(), Metadata())
    assert output.head is not None
    if compressed:
        assert header(output.head, "content-encoding") == ["gzip"]
        assert output.data != message
        assert GZIP.decompress(output.data, LIMIT) == message
    else:
        assert header(output.head, "content-encoding") == []
        assert output.data == message


@pytest.mark.parametrize("code", [Code.NOT_FOUND, Code.UNAVAILABLE, Code.CANCELED, Code.INTERNAL])
@pytest.mark.parametrize("with_message", [False, True])
def test_unary_error_is_json_with_the_codes_status(code: Code, with_message: bool) -> None:
    call = accepted(UNARY)
    if with_message:
        call.send_message(b"dropped", Metadata())
    error = ConnectError(code, "it failed", metadata=Metadata([("x-err", "e")]))
    output = call.send_end(error, Metadata([("x-h", "h")]), Metadata([("x-t", "t")]))
    head = output.head
    assert head is not None and output.end
    assert head.status == code.http_status
    assert header(head, "content-type") == ["application/json"]
    assert json.loads(output.data) == {"code": code.value, "message": "it failed"}
    assert header(head, "x-err") == ["e"]
    assert header(head, "x-h") == ["h"]
    assert header(head, "trailer-x-t") == ["t"]


@pytest.mark.parametrize("kind", STREAMING)
def test_a_stream_error_before_the_head_is_200_and_end_stream(kind: StreamType) -> None:
    call = accepted(kind)
    error = ConnectError(Code.PERMISSION_DENIED, "no")
    output = call.send_end(error, Metadata([("x-h", "h")]), Metadata([("x-t", "t")]))
    assert output.head is not None and output.head.status == 200 and output.end
    assert header(output.head, "x-h") == ["h"]
    end = only_end_stream(output.data)
    assert end.error is not None and end.error.code is Code.PERMISSION_DENIED
    assert end.trailers.get_all("x-t") == ["t"]


@pytest.mark.parametrize("kind", STREAMING)
def test_a_stream_error_after_the_head_is_only_the_end_stream(kind: StreamType) -> None:
    call = accepted(kind)
    assert call.send_headers(Metadata()) is not None
    if kind.streams_responses:
        call.send_message(b"m", Metadata())
    error = ConnectError(Code.DATA_LOSS, "gone", metadata=Metadata([("x-err", "e")]))
    output = call.send_end(error, Metadata([("x-late", "h")]), Metadata([("x-t", "t")]))
    assert output.head is None
    assert output.end
    end = only_end_stream(output.data)
    assert end.error is not None
    assert end.error.code is Code.DATA_LOSS and end.error.message == "gone"
    assert end.trailers.get_all("x-t") == ["t"]
    assert end.trailers.get_all("x-err") == ["e"]


def test_server_stream_success_ends_with_the_trailers() -> None:
    call = accepted(SERVER)
    call.send_message(b"a", Metadata())
    output = call.send_end(None, Metadata(), Metadata([("x-t", "t")]))
    assert output.head is None and output.end
    ((flags, data),) = envelopes(output.data)
    assert flags == EnvelopeFlags.END_STREAM
    assert json.loads(data) == {"metadata": {"x-t": ["t"]}}


def test_an_empty_server_stream_succeeds_with_head_and_end_stream() -> None:
    call = accepted(SERVER)
    output = call.send_end(None, Metadata([("x-h", "h")]), Metadata())
    assert output.head is not None and output.head.status == 200 and output.end
    assert header(output.head, "x-h") == ["h"]
    assert envelopes(output.data) == [(EnvelopeFlags.END_STREAM, encode_end_stream(EndStream()))]


def test_client_stream_success_is_head_message_and_end_stream() -> None:
    call = accepted(CLIENT)
    assert call.send_message(b"sum", Metadata()) is None
    output = call.send_end(None, Metadata(), Metadata())
    assert output.head is not None and output.head.status == 200 and output.end
    assert envelopes(output.data) == [(0, b"sum"), (EnvelopeFlags.END_STREAM, b"{}")]


@pytest.mark.parametrize(("size", "compressed"), [(MIN_BYTES, True), (MIN_BYTES - 1, False)])
def test_stream_response_messages_are_compressed_from_compress_min_bytes(
    size: int, compressed: bool
) -> None:
    call = accepted(SERVER, ("connect-accept-encoding", "gzip"))
    output = call.send_message(b"z" * size, Metadata())
    assert output is not None and output.head is not None
    assert header(output.head, "connect-content-encoding") == ["gzip"]
    ((flags, data),) = envelopes(output.data)
    if compressed:
        assert flags == EnvelopeFlags.COMPRESSED
        assert GZIP.decompress(data, LIMIT) == b"z" * size
    else:
        assert flags == 0 and data == b"z" * size


# -- (8) GET ------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_valid_get_yields_its_message() -> None:
    call = ServerCall(CONFIG, UNARY, allow_get=True)
    message = b"\x0a\x03hi\xff\xfe"
    query = f"connect=v1&encoding=proto&base64=1&message={_b64(message)}"
    spec = call.receive_request_head("GET", Metadata(), query)
    assert isinstance(spec, RequestSpec)
    assert spec.codec == "proto"
    assert call.next_event() == Message(message)
    assert call.next_event() == EndOfRequest()


def test_a_get_json_message_travels_percent_encoded() -> None:
    call = ServerCall(CONFIG, UNARY, allow_get=True)
    text = '{"text": "a&b=c+d é"}'
    query = f"connect=v1&encoding=json&message={quote(text, safe='')}"
    spec = call.receive_request_head("GET", Metadata(), query)
    assert isinstance(spec, RequestSpec) and spec.codec == "json"
    assert call.next_event() == Message(text.encode())


def test_a_compressed_get_message_is_decompressed() -> None:
    call = ServerCall(CONFIG, UNARY, allow_get=True)
    query = (
        "connect=v1&encoding=proto&compression=gzip&base64=1"
        f"&message={_b64(GZIP.compress(b'squeezed'))}"
    )
    assert isinstance(call.receive_request_head("GET", Metadata(), query), RequestSpec)
    assert call.next_event() == Message(b"squeezed")


def test_a_get_with_connect_v2_is_invalid_argument() -> None:
    result = refused(
        UNARY,
        Metadata(),
        method="GET",
        query=f"connect=v2&encoding=proto&base64=1&message={_b64(b'x')}",
        allow_get=True,
    )
    assert result.error.code is Code.INVALID_ARGUMENT
    assert result.output.head is not None
    assert result.output.head.status == 400
    assert json.loads(result.output.data)["code"] == "invalid_argument"


def test_a_get_without_a_message_is_invalid_argument() -> None:
    result = refused(
        UNARY, Metadata(), method="GET", query="connect=v1&encoding=proto", allow_get=True
    )
    assert result.error.code is Code.INVALID_ARGUMENT


def test_a_get_for_a_method_that_allows_none_is_405() -> None:
    result = refused(
        UNARY,
        Metadata(),
        method="GET",
        query=f"connect=v1&encoding=proto&base64=1&message={_b64(b'x')}",
        allow_get=False,
    )
    head = result.output.head
    assert head is not None and head.status == 405
    assert header(head, "allow") == ["POST"]


# -- properties: any body, any chunking -------------------------------------------------

END_STREAM_BODIES = [b"{}", b'{"error":null}', b'{"error":{"code":"aborted"}}', b"[" * 3000]

pieces = envelope_pieces(
    LIMIT,
    st.sampled_from(END_STREAM_BODIES).map(
        lambda data: encode_envelope(data, EnvelopeFlags.END_STREAM)
    ),
)
request_bodies = bodies(pieces)


def _end(event: object) -> Outcome | None:
    return ("end",) if isinstance(event, EndOfRequest) else None


def _drive_server(kind: StreamType, gzip: bool, chunks: list[bytes]) -> list[Outcome]:
    """Feed a request body to a server machine in ``chunks``; what came out."""
    encoding = ("connect-content-encoding" if kind.enveloped else "content-encoding", "gzip")
    return drive(accepted(kind, *([encoding] if gzip else [])), chunks, _end)


@given(
    st.sampled_from(ALL_KINDS), st.booleans(), st.one_of(request_bodies, st.binary(max_size=200))
)
def test_any_request_body_ends_in_events_or_a_remote_error(
    kind: StreamType, gzip: bool, body: bytes
) -> None:
    outcome = _drive_server(kind, gzip, [body])
    assert outcome[-1][0] in ("end", "error")
    assert all(item[0] == "message" for item in outcome[:-1])


@given(st.sampled_from(ALL_KINDS), st.booleans(), request_bodies, st.data())
def test_chunking_does_not_change_the_request_events(
    kind: StreamType, gzip: bool, body: bytes, data: st.DataObject
) -> None:
    chunks = chunked(body, data)
    assert _drive_server(kind, gzip, chunks) == _drive_server(kind, gzip, [body])
