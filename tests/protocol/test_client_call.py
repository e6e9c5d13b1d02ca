"""ClientCall, fed plain bytes: one test per rule of the client side of a Connect call."""

from __future__ import annotations

import json
import struct
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocol.bodies import Outcome, bodies, chunked, drive, envelope_pieces
from trioplugin.protocol import (
    GZIP,
    NEED_DATA,
    ClientCall,
    ClientConfig,
    Code,
    EndOfRequest,
    EndOfResponse,
    EnvelopeDecoder,
    EnvelopeFlags,
    LocalProtocolError,
    Message,
    Metadata,
    RemoteProtocolError,
    Request,
    RequestSpec,
    ServerCall,
    ServerConfig,
    StreamType,
    encode_envelope,
)

LIMIT = 1 << 14
PROCEDURE = "/acme.v1.Echo/Say"
PROTO_CONFIG = ClientConfig(codec="proto", max_message_size=LIMIT)
GZIP_CONFIG = ClientConfig(codec="proto", max_message_size=LIMIT, send_compression=GZIP)

UNARY = StreamType.UNARY
CLIENT = StreamType.CLIENT_STREAM
SERVER = StreamType.SERVER_STREAM
BIDI = StreamType.BIDI_STREAM
STREAMING = [CLIENT, SERVER, BIDI]
ALL_KINDS = [UNARY, *STREAMING]

END_OK = encode_envelope(b"{}", EnvelopeFlags.END_STREAM)


# -- helpers --------------------------------------------------------------------------


def header(request: Request, name: str) -> list[str]:
    return [value for key, value in request.headers if key == name]


def started(
    kind: StreamType, config: ClientConfig = PROTO_CONFIG, message: bytes = b"req"
) -> ClientCall:
    call = ClientCall(config, kind, PROCEDURE)
    call.start(timeout=None, message=None if kind.streams_requests else message)
    return call


def response_type(kind: StreamType, codec: str = "proto") -> str:
    return ("application/connect+" if kind.enveloped else "application/") + codec


def responding(
    kind: StreamType,
    *extra: tuple[str, str],
    status: int = 200,
    config: ClientConfig = PROTO_CONFIG,
) -> ClientCall:
    call = started(kind, config)
    call.receive_response_head(
        status, Metadata([("content-type", response_type(kind, config.codec)), *extra])
    )
    return call


def fed(call: ClientCall, body: bytes) -> ClientCall:
    call.receive_data(body)
    call.receive_end()
    return call


def events(call: ClientCall) -> list[Message | EndOfResponse]:
    """Every event up to the end of the response (the body must have ended)."""
    out: list[Message | EndOfResponse] = []
    while True:
        event = call.next_event()
        assert event is not NEED_DATA
        out.append(event)
        if isinstance(event, EndOfResponse):
            return out


def ended(call: ClientCall) -> EndOfResponse:
    last = events(call)[-1]
    assert isinstance(last, EndOfResponse)
    return last


def remote_error(call: ClientCall) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as caught:
        events(call)
    return caught.value


# -- (1) start() --------------------------------------------------------------------


def test_unary_request_headers() -> None:
    config = ClientConfig(
        codec="json", max_message_size=LIMIT, accept_compressions=[GZIP], user_agent="t/1"
    )
    request = ClientCall(config, UNARY, PROCEDURE).start(timeout=0.0011, message=b"{}")
    assert request.method == "POST"
    assert request.path == PROCEDURE
    assert request.body == b"{}"
    assert header(request, "content-type") == ["application/json"]
    assert header(request, "connect-protocol-version") == ["1"]
    assert header(request, "accept-encoding") == ["gzip"]
    assert header(request, "connect-timeout-ms") == ["2"]
    assert header(request, "user-agent") == ["t/1"]
    assert header(request, "content-encoding") == []


@pytest.mark.parametrize(
    ("seconds", "value"),
    [(0.0011, "2"), (0.001, "1"), (1.5, "1500"), (0.0, "1"), (1e12, "9999999999")],
)
def test_the_timeout_is_sent_in_milliseconds_rounded_up(seconds: float, value: str) -> None:
    request = ClientCall(PROTO_CONFIG, UNARY, PROCEDURE).start(timeout=seconds, message=b"")
    assert header(request, "connect-timeout-ms") == [value]


def test_no_timeout_sends_no_timeout_header() -> None:
    request = ClientCall(PROTO_CONFIG, UNARY, PROCEDURE).start(timeout=None, message=b"")
    assert header(request, "connect-timeout-ms") == []
    inf = ClientCall(PROTO_CONFIG, UNARY, PROCEDURE).start(timeout=float("inf"), message=b"")
    assert header(inf, "connect-timeout-ms") == []


def test_user_metadata_goes_after_the_protocol_headers() -> None:
    request = ClientCall(PROTO_CONFIG, UNARY, PROCEDURE).start(
        timeout=None, metadata=[("x-a", "1")], message=b""
    )
    assert request.headers[-1] == ("x-a", "1")


@pytest.mark.parametrize("message", [b"", b"x", b"y" * 5000])
def test_unary_is_compressed_whatever_its_size_with_compress_min_bytes_zero(
    message: bytes,
) -> None:
    request = ClientCall(GZIP_CONFIG, UNARY, PROCEDURE).start(timeout=None, message=message)
    assert header(request, "content-encoding") == ["gzip"]
    assert header(request, "accept-encoding") == ["gzip"]
    assert request.body is not None and request.body != message
    assert GZIP.decompress(request.body, LIMIT) == message


@pytest.mark.parametrize(("size", "compressed"), [(99, False), (100, True), (1000, True)])
def test_unary_below_a_set_minimum_goes_uncompressed(size: int, compressed: bool) -> None:
    config = ClientConfig(
        codec="proto", max_message_size=LIMIT, send_compression=GZIP, compress_min_bytes=100
    )
    message = b"m" * size
    request = ClientCall(config, UNARY, PROCEDURE).start(timeout=None, message=message)
    assert request.body is not None
    if compressed:
        assert header(request, "content-encoding") == ["gzip"]
        assert GZIP.decompress(request.body, LIMIT) == message
    else:
        assert header(request, "content-encoding") == []
        assert request.body == message


@pytest.mark.parametrize("kind", [CLIENT, BIDI])
def test_streamed_requests_are_framed_one_by_one(kind: StreamType) -> None:
    call = ClientCall(PROTO_CONFIG, kind, PROCEDURE)
    request = call.start(timeout=None)
    assert request.method == "POST" and request.body is None
    assert header(request, "content-type") == ["application/connect+proto"]
    assert header(request, "connect-protocol-version") == ["1"]
    assert call.send_message(b"one") == encode_envelope(b"one")
    assert call.send_message(b"") == encode_envelope(b"")
    call.end_request()
    with pytest.raises(LocalProtocolError):
        call.send_message(b"late")


def test_a_streamed_request_with_send_compression_is_flagged_compressed() -> None:
    call = ClientCall(GZIP_CONFIG, BIDI, PROCEDURE)
    request = call.start(timeout=None)
    assert header(request, "connect-content-encoding") == ["gzip"]
    assert header(request, "connect-accept-encoding") == ["gzip"]
    assert header(request, "accept-encoding") == []
    decoder = EnvelopeDecoder(LIMIT)
    decoder.feed(call.send_message(b"hello"))
    envelope = decoder.next_envelope()
    assert envelope is not None and envelope.flags == EnvelopeFlags.COMPRESSED
    assert GZIP.decompress(envelope.data, LIMIT) == b"hello"


def test_a_server_stream_request_is_one_envelope_with_the_head() -> None:
    call = ClientCall(PROTO_CONFIG, SERVER, PROCEDURE)
    request = call.start(timeout=None, message=b"once")
    assert request.body == encode_envelope(b"once")
    assert header(request, "content-type") == ["application/connect+proto"]
    with pytest.raises(LocalProtocolError):
        call.send_message(b"twice")


@pytest.mark.parametrize("kind", [CLIENT, BIDI])
def test_a_message_with_the_head_of_a_streamed_request_is_a_local_error(
    kind: StreamType,
) -> None:
    with pytest.raises(LocalProtocolError):
        ClientCall(PROTO_CONFIG, kind, PROCEDURE).start(timeout=None, message=b"x")


@pytest.mark.parametrize("kind", [UNARY, SERVER])
def test_no_message_with_the_head_of_a_single_request_is_a_local_error(
    kind: StreamType,
) -> None:
    with pytest.raises(LocalProtocolError):
        ClientCall(PROTO_CONFIG, kind, PROCEDURE).start(timeout=None)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_second_start_is_a_local_error(kind: StreamType) -> None:
    call = started(kind)
    with pytest.raises(LocalProtocolError):
        call.start(timeout=None, message=None if kind.streams_requests else b"x")


def test_a_unary_call_sends_no_further_message() -> None:
    call = started(UNARY)
    with pytest.raises(LocalProtocolError):
        call.send_message(b"x")


def test_nothing_is_sent_before_the_start() -> None:
    call = ClientCall(PROTO_CONFIG, BIDI, PROCEDURE)
    with pytest.raises(LocalProtocolError):
        call.send_message(b"x")
    with pytest.raises(LocalProtocolError):
        call.end_request()


# -- (2) GET --------------------------------------------------------------------------

SERVER_CONFIG = ServerConfig(
    codecs=("proto", "json"), compressions=(GZIP,), max_message_size=LIMIT, compress_min_bytes=0
)


def served_get(request: Request) -> bytes:
    """What a ServerCall reads out of a client's GET request."""
    assert request.method == "GET" and request.body is None
    path, _, query = request.path.partition("?")
    assert path == PROCEDURE
    server = ServerCall(SERVER_CONFIG, UNARY, allow_get=True)
    spec = server.receive_request_head("GET", Metadata(request.headers), query)
    assert isinstance(spec, RequestSpec), spec
    event = server.next_event()
    assert isinstance(event, Message)
    assert server.next_event() == EndOfRequest()
    return event.data


def test_a_get_request_carries_its_message_in_the_query() -> None:
    call = ClientCall(PROTO_CONFIG, UNARY, PROCEDURE)
    request = call.start(timeout=2.0, metadata=[("x-a", "1")], message=b"\x0a\x02hi", use_get=True)
    assert request.method == "GET"
    assert request.body is None
    query = parse_qs(urlsplit(request.path).query, keep_blank_values=True)
    assert query["connect"] == ["v1"]
    assert query["encoding"] == ["proto"]
    assert query["base64"] == ["1"]
    assert "compression" not in query
    assert header(request, "content-type") == []
    assert header(request, "connect-protocol-version") == []
    assert header(request, "connect-timeout-ms") == ["2000"]
    assert header(request, "x-a") == ["1"]
    assert served_get(request) == b"\x0a\x02hi"


def test_a_compressed_get_request_names_its_compression() -> None:
    call = ClientCall(GZIP_CONFIG, UNARY, PROCEDURE)
    request = call.start(timeout=None, message=b"squeeze me", use_get=True)
    query = parse_qs(urlsplit(request.path).query)
    assert query["compression"] == ["gzip"]
    assert header(request, "content-encoding") == []
    assert served_get(request) == b"squeeze me"


def test_a_json_get_message_is_percent_encoded_without_base64() -> None:
    config = ClientConfig(codec="json", max_message_size=LIMIT)
    request = ClientCall(config, UNARY, PROCEDURE).start(
        timeout=None, message=b'{"a":"b&c"}', use_get=True
    )
    query = parse_qs(urlsplit(request.path).query)
    assert query["encoding"] == ["json"]
    assert "base64" not in query
    assert query["message"] == ['{"a":"b&c"}']
    assert served_get(request) == b'{"a":"b&c"}'


@given(st.binary(max_size=3000), st.booleans())
def test_any_proto_message_round_trips_through_a_get(message: bytes, gzip: bool) -> None:
    config = GZIP_CONFIG if gzip else PROTO_CONFIG
    request = ClientCall(config, UNARY, PROCEDURE).start(
        timeout=None, message=message, use_get=True
    )
    assert served_get(request) == message


@given(st.text(max_size=1000))
def test_any_json_text_round_trips_through_a_get(text: str) -> None:
    config = ClientConfig(codec="json", max_message_size=LIMIT)
    message = text.encode()
    request = ClientCall(config, UNARY, PROCEDURE).start(
        timeout=None, message=message, use_get=True
    )
    assert served_get(request) == message


def test_a_get_that_would_pass_the_url_limit_falls_back_to_post() -> None:
    config = ClientConfig(codec="proto", max_message_size=LIMIT, get_url_limit=100)
    fits = ClientCall(config, UNARY, PROCEDURE).start(timeout=None, message=b"s", use_get=True)
    assert fits.method == "GET" and len(fits.path) <= 100
    message = b"L" * 100
    request = ClientCall(config, UNARY, PROCEDURE).start(
        timeout=None, message=message, use_get=True
    )
    assert request.method == "POST"
    assert request.path == PROCEDURE
    assert request.body == message
    assert header(request, "content-type") == ["application/proto"]
    assert header(request, "connect-protocol-version") == ["1"]


def test_a_compressed_get_falls_back_to_a_compressed_post() -> None:
    config = ClientConfig(
        codec="proto", max_message_size=LIMIT, send_compression=GZIP, get_url_limit=40
    )
    message = bytes(range(256))
    request = ClientCall(config, UNARY, PROCEDURE).start(
        timeout=None, message=message, use_get=True
    )
    assert request.method == "POST"
    assert header(request, "content-encoding") == ["gzip"]
    assert request.body is not None and GZIP.decompress(request.body, LIMIT) == message


# -- (3) the unary response -----------------------------------------------------------


def test_a_unary_success() -> None:
    call = started(UNARY)
    headers = call.receive_response_head(
        200,
        Metadata([("content-type", "application/proto"), ("x-h", "h"), ("trailer-x-t", "t")]),
    )
    assert headers.get_all("x-h") == ["h"] and "trailer-x-t" not in headers
    call.receive_data(b"an")
    assert call.next_event() is NEED_DATA
    fed(call, b"swer")
    assert events(call) == [Message(b"answer"), EndOfResponse(None, Metadata([("x-t", "t")]))]
    assert call.response_trailers.get_all("x-t") == ["t"]
    assert call.http_status == 200


def test_a_gzip_unary_response_is_decompressed() -> None:
    call = responding(UNARY, ("content-encoding", "gzip"), config=GZIP_CONFIG)
    fed(call, GZIP.compress(b"inflated"))
    assert events(call)[0] == Message(b"inflated")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("text/html", Code.UNKNOWN),
        ("text/plain; charset=utf-8", Code.UNKNOWN),
        ("", Code.UNKNOWN),
        ("application/json", Code.INTERNAL),
        ("application/connect+proto", Code.INTERNAL),
    ],
)
def test_a_200_unary_response_with_a_wrong_content_type(value: str, code: Code) -> None:
    call = started(UNARY)
    headers = Metadata([("content-type", value), ("x-h", "h"), ("trailer-x-t", "t")])
    with pytest.raises(RemoteProtocolError) as caught:
        call.receive_response_head(200, headers)
    error = caught.value
    assert error.code is code
    assert error.http_status == 200
    assert error.headers.get_all("x-h") == ["h"]
    assert error.headers.first("content-type") == value
    assert error.trailers.get_all("x-t") == ["t"]


@pytest.mark.parametrize("kind", STREAMING)
@pytest.mark.parametrize(
    ("value", "code"),
    [("text/html", Code.UNKNOWN), ("application/proto", Code.UNKNOWN)],
)
def test_a_200_stream_with_a_wrong_content_type(kind: StreamType, value: str, code: Code) -> None:
    call = started(kind)
    with pytest.raises(RemoteProtocolError) as caught:
        call.receive_response_head(200, Metadata([("content-type", value)]))
    assert caught.value.code is code


@pytest.mark.parametrize("kind", STREAMING)
def test_a_200_stream_in_another_codec_is_internal(kind: StreamType) -> None:
    call = started(kind)
    with pytest.raises(RemoteProtocolError) as caught:
        call.receive_response_head(200, Metadata([("content-type", "application/connect+json")]))
    assert caught.value.code is Code.INTERNAL


def test_a_unary_error_response_keeps_headers_and_trailers_apart() -> None:
    call = started(UNARY)
    call.receive_response_head(
        404,
        Metadata([("content-type", "application/json"), ("x-h", "h"), ("trailer-x-t", "t")]),
    )
    end = ended(fed(call, b'{"code": "not_found", "message": "no such thing"}'))
    error = end.error
    assert error is not None
    assert error.code is Code.NOT_FOUND and error.message == "no such thing"
    assert error.wire
    assert error.http_status == 404
    assert error.headers.get_all("x-h") == ["h"]
    assert "trailer-x-t" not in error.headers and "x-t" not in error.headers
    assert error.trailers.get_all("x-t") == ["t"]
    assert "x-h" not in error.trailers
    assert end.trailers.get_all("x-t") == ["t"]
    # metadata is the merge, each value once
    assert error.metadata.get_all("x-h") == ["h"]
    assert error.metadata.get_all("x-t") == ["t"]
    # the error stays the answer
    assert call.next_event() is end


def test_a_gzip_unary_error_body_is_read() -> None:
    call = started(UNARY, GZIP_CONFIG)
    call.receive_response_head(
        409, Metadata([("content-type", "application/json"), ("content-encoding", "gzip")])
    )
    end = ended(fed(call, GZIP.compress(b'{"code": "aborted"}')))
    assert end.error is not None and end.error.code is Code.ABORTED


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (503, b'{"code": "overloaded", "message": "later"}', Code.UNAVAILABLE),
        (503, b'{"code": "overloaded"}', Code.UNAVAILABLE),
        (401, b'{"code": null, "message": "who"}', Code.UNAUTHENTICATED),
        (404, b'{"message": "gone"}', Code.UNIMPLEMENTED),
        (418, b'{"code": 7}', Code.UNKNOWN),
    ],
)
def test_a_unary_error_with_an_unknown_code_takes_the_statuss_code(
    status: int, body: bytes, code: Code
) -> None:
    call = started(UNARY)
    call.receive_response_head(status, Metadata([("content-type", "application/json")]))
    end = ended(fed(call, body))
    assert end.error is not None
    assert end.error.code is code
    assert end.error.http_status == status
    message = json.loads(body).get("message")
    if message is not None:
        assert end.error.message == message


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (400, "text/plain", b"bad request"),
        (401, "", b""),
        (403, "text/html", b"<h1>Forbidden</h1>"),
        (404, "application/json", b""),
        (429, "application/json", b"not json"),
        (502, "text/html", b"<h1>Bad Gateway</h1>"),
        (503, "", b""),
        (504, "text/plain", b"timeout"),
        (500, "text/plain", b"oops"),
        (418, "text/plain", b"teapot"),
    ],
)
def test_a_unary_error_without_error_json_takes_the_statuss_code(
    status: int, content_type: str, body: bytes
) -> None:
    call = started(UNARY)
    call.receive_response_head(status, Metadata([("content-type", content_type)]))
    end = ended(fed(call, body))
    assert end.error is not None
    assert end.error.code is Code.from_http_status(status)
    assert end.error.http_status == status
    assert str(status) in end.error.message


def test_a_deeply_nested_unary_error_body_takes_the_statuss_code() -> None:
    call = started(UNARY)
    call.receive_response_head(503, Metadata([("content-type", "application/json")]))
    end = ended(fed(call, b"[" * 10_000))
    assert end.error is not None and end.error.code is Code.UNAVAILABLE


@pytest.mark.parametrize(
    ("content_type", "body"), [("", b""), ("application/json", b'{"code": "not_found"}')]
)
def test_a_304_is_unknown(content_type: str, body: bytes) -> None:
    call = started(UNARY)
    call.receive_response_head(304, Metadata([("content-type", content_type)]))
    end = ended(fed(call, body))
    assert end.error is not None
    assert end.error.code is Code.UNKNOWN
    assert end.error.http_status == 304


def test_an_unknown_content_encoding_on_a_200_is_internal() -> None:
    call = started(UNARY, GZIP_CONFIG)
    with pytest.raises(RemoteProtocolError) as caught:
        call.receive_response_head(
            200,
            Metadata([("content-type", "application/proto"), ("content-encoding", "br")]),
        )
    assert caught.value.code is Code.INTERNAL
    assert caught.value.http_status == 200
    assert caught.value.headers.first("content-encoding") == "br"


def test_gzip_on_a_200_the_client_did_not_offer_is_internal() -> None:
    call = started(UNARY)
    with pytest.raises(RemoteProtocolError) as caught:
        call.receive_response_head(
            200,
            Metadata([("content-type", "application/proto"), ("content-encoding", "gzip")]),
        )
    assert caught.value.code is Code.INTERNAL


def test_a_unary_response_over_the_limit_is_resource_exhausted() -> None:
    call = responding(UNARY)
    call.receive_data(b"a" * LIMIT)
    with pytest.raises(RemoteProtocolError) as caught:
        call.receive_data(b"a")
    assert caught.value.code is Code.RESOURCE_EXHAUSTED


def test_a_response_head_goes_once() -> None:
    call = responding(UNARY)
    with pytest.raises(LocalProtocolError):
        call.receive_response_head(200, Metadata([("content-type", "application/proto")]))


def test_no_body_before_the_head() -> None:
    call = started(UNARY)
    with pytest.raises(LocalProtocolError):
        call.receive_data(b"x")
    with pytest.raises(LocalProtocolError):
        call.next_event()


# -- (4) the streaming response -------------------------------------------------------


def end_stream(body: bytes) -> bytes:
    return encode_envelope(body, EnvelopeFlags.END_STREAM)


@pytest.mark.parametrize("kind", [SERVER, BIDI])
@pytest.mark.parametrize("end", [b"{}", b'{"error": null}', b'{"error": null, "metadata": {}}'])
def test_an_end_stream_without_an_error_is_success(kind: StreamType, end: bytes) -> None:
    call = responding(kind, ("x-h", "h"))
    fed(call, encode_envelope(b"a") + encode_envelope(b"b") + end_stream(end))
    assert events(call) == [Message(b"a"), Message(b"b"), EndOfResponse(None, Metadata())]


def test_end_stream_trailers_are_the_trailers() -> None:
    call = responding(SERVER)
    fed(call, end_stream(b'{"metadata": {"x-t": ["1", "2"]}}'))
    end = ended(call)
    assert end.error is None
    assert end.trailers.get_all("x-t") == ["1", "2"]
    assert call.response_trailers.get_all("x-t") == ["1", "2"]


@pytest.mark.parametrize(
    "error",
    [
        b'{"code": null, "message": "kept"}',
        b'{"message": "kept"}',
        b'{"code": "nope", "message": "kept"}',
    ],
)
@pytest.mark.parametrize("kind", STREAMING)
def test_an_end_stream_error_without_a_known_code_is_unknown(
    kind: StreamType, error: bytes
) -> None:
    call = responding(kind)
    fed(call, end_stream(b'{"error": ' + error + b"}"))
    end = ended(call)
    assert end.error is not None
    assert end.error.code is Code.UNKNOWN
    assert end.error.message == "kept"


@pytest.mark.parametrize("kind", STREAMING)
def test_an_end_stream_error_keeps_headers_and_trailers_apart(kind: StreamType) -> None:
    call = responding(kind, ("x-h", "h"))
    fed(
        call,
        end_stream(
            b'{"error": {"code": "unavailable", "message": "m"}, "metadata": {"x-t": ["t"]}}'
        ),
    )
    end = ended(call)
    error = end.error
    assert error is not None and error.code is Code.UNAVAILABLE and error.message == "m"
    assert error.http_status == 200
    assert error.headers.get_all("x-h") == ["h"] and "x-t" not in error.headers
    assert error.trailers.get_all("x-t") == ["t"] and "x-h" not in error.trailers
    assert end.trailers.get_all("x-t") == ["t"]
    assert error.metadata.get_all("x-h") == ["h"]
    assert error.metadata.get_all("x-t") == ["t"]


@pytest.mark.parametrize("after", [encode_envelope(b"late"), END_OK, b"\x00\x00"])
@pytest.mark.parametrize("kind", STREAMING)
def test_anything_after_the_end_stream_is_internal(kind: StreamType, after: bytes) -> None:
    call = responding(kind)
    fed(call, END_OK + after)
    assert remote_error(call).code is Code.INTERNAL


@pytest.mark.parametrize("kind", STREAMING)
def test_a_message_after_the_end_stream_is_internal_when_it_comes_later(
    kind: StreamType,
) -> None:
    call = responding(kind)
    message = b"" if kind.streams_responses else encode_envelope(b"one")
    call.receive_data(message + END_OK)
    while call.next_event() is not NEED_DATA:
        pass
    fed(call, encode_envelope(b"late"))
    assert remote_error(call).code is Code.INTERNAL


@pytest.mark.parametrize("kind", STREAMING)
def test_the_end_stream_ends_the_response_once_the_body_ends(kind: StreamType) -> None:
    call = responding(kind)
    call.receive_data(encode_envelope(b"one") + END_OK)
    assert call.next_event() == Message(b"one")
    assert call.next_event() is NEED_DATA
    call.receive_end()
    assert call.next_event() == EndOfResponse(None, Metadata())


@pytest.mark.parametrize("kind", STREAMING)
@pytest.mark.parametrize("keep", [0, 3, 5, 6])
def test_a_stream_that_ends_without_its_end_stream_is_internal(kind: StreamType, keep: int) -> None:
    call = responding(kind)
    fed(call, encode_envelope(b"one") + END_OK[:keep])
    with pytest.raises(RemoteProtocolError) as caught:
        events(call)
    assert caught.value.code is Code.INTERNAL
    assert caught.value.http_status == 200


@pytest.mark.parametrize("count", [0, 2])
def test_a_client_stream_answer_needs_exactly_one_message(count: int) -> None:
    call = responding(CLIENT)
    fed(call, b"".join(encode_envelope(b"m") for _ in range(count)) + END_OK)
    error = remote_error(call)
    assert error.code is Code.UNIMPLEMENTED


def test_a_client_stream_answer_of_one_message_succeeds() -> None:
    call = responding(CLIENT)
    fed(call, encode_envelope(b"sum") + END_OK)
    assert events(call) == [Message(b"sum"), EndOfResponse(None, Metadata())]


def test_a_client_stream_error_with_no_message_is_the_error() -> None:
    call = responding(CLIENT)
    fed(call, end_stream(b'{"error": {"code": "aborted"}}'))
    end = ended(call)
    assert end.error is not None and end.error.code is Code.ABORTED


@pytest.mark.parametrize("kind", STREAMING)
@pytest.mark.parametrize("status", [400, 404, 429, 500, 502, 503, 504])
def test_a_non_200_stream_is_the_error_of_its_status(kind: StreamType, status: int) -> None:
    call = started(kind)
    headers = call.receive_response_head(
        status, Metadata([("content-type", "text/plain"), ("x-h", "h")])
    )
    assert headers.get_all("x-h") == ["h"]
    end = call.next_event()
    assert isinstance(end, EndOfResponse)
    assert end.error is not None
    assert end.error.code is Code.from_http_status(status)
    assert end.error.http_status == status
    assert end.error.headers.get_all("x-h") == ["h"]


@pytest.mark.parametrize("kind", STREAMING)
def test_an_oversize_response_envelope_is_refused_from_its_prefix(kind: StreamType) -> None:
    call = responding(kind)
    call.receive_data(struct.pack(">BI", 0, LIMIT + 1))
    with pytest.raises(RemoteProtocolError) as caught:
        call.next_event()
    assert caught.value.code is Code.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("kind", STREAMING)
def test_a_gzip_stream_is_decompressed(kind: StreamType) -> None:
    call = responding(kind, ("connect-content-encoding", "gzip"), config=GZIP_CONFIG)
    fed(
        call,
        encode_envelope(GZIP.compress(b"zipped"), EnvelopeFlags.COMPRESSED)
        + encode_envelope(GZIP.compress(b'{"metadata": {"x-t": ["z"]}}'), 3),
    )
    assert events(call) == [Message(b"zipped"), EndOfResponse(None, Metadata([("x-t", "z")]))]


@pytest.mark.parametrize("kind", STREAMING)
def test_a_compressed_envelope_without_negotiated_compression_is_internal(
    kind: StreamType,
) -> None:
    call = responding(kind)
    fed(call, encode_envelope(GZIP.compress(b"x"), EnvelopeFlags.COMPRESSED) + END_OK)
    assert remote_error(call).code is Code.INTERNAL


@pytest.mark.parametrize("flags", [0x04, 0x80])
def test_unknown_response_envelope_flags_are_internal(flags: int) -> None:
    call = responding(SERVER)
    fed(call, encode_envelope(b"x", flags) + END_OK)
    assert remote_error(call).code is Code.INTERNAL


@pytest.mark.parametrize(
    "end", [b"", b"nope", b"[]", b'{"error": 3}', b'{"metadata": {"x": "y"}}', b"[" * 10_000]
)
def test_a_malformed_end_stream_is_internal(end: bytes) -> None:
    call = responding(SERVER)
    fed(call, end_stream(end))
    assert remote_error(call).code is Code.INTERNAL


# -- (5) properties: any body, any chunking ------------------------------------------

END_STREAM_BODIES = [
    b"{}",
    b'{"error":null}',
    b'{"error":{"code":"aborted","message":"m"}}',
    b'{"error":{"message":"m"},"metadata":{"x-t":["t"]}}',
    b'{"metadata":{"bad key":["v"]}}',
    b"[" * 3000,
    b"not json",
]

pieces = envelope_pieces(
    LIMIT,
    st.one_of(
        st.sampled_from(END_STREAM_BODIES).map(end_stream),
        st.sampled_from(END_STREAM_BODIES).map(
            lambda data: encode_envelope(GZIP.compress(data), EnvelopeFlags.END_STREAM | 1)
        ),
    ),
)
response_bodies = bodies(pieces)


def _end(event: object) -> Outcome | None:
    if not isinstance(event, EndOfResponse):
        return None
    error = event.error
    what = None if error is None else (error.code, error.message)
    return ("end", what, event.trailers.multi_items())


def _drive_client(kind: StreamType, gzip: bool, chunks: list[bytes]) -> list[Outcome]:
    """Feed a response body to a client machine in ``chunks``; what came out."""
    config = GZIP_CONFIG if gzip else PROTO_CONFIG
    extra = [("connect-content-encoding", "gzip")] if gzip else []
    return drive(responding(kind, *extra, config=config), chunks, _end)


@given(
    st.sampled_from(STREAMING), st.booleans(), st.one_of(response_bodies, st.binary(max_size=300))
)
def test_any_response_body_ends_in_events_or_a_remote_error(
    kind: StreamType, gzip: bool, body: bytes
) -> None:
    outcome = _drive_client(kind, gzip, [body])
    assert outcome[-1][0] in ("end", "error")
    assert all(item[0] == "message" for item in outcome[:-1])


@given(st.sampled_from(STREAMING), st.booleans(), response_bodies, st.data())
def test_chunking_does_not_change_the_response_events(
    kind: StreamType, gzip: bool, body: bytes, data: st.DataObject
) -> None:
    chunks = chunked(body, data)
    assert _drive_client(kind, gzip, chunks) == _drive_client(kind, gzip, [body])


@given(st.binary(max_size=300), st.integers(100, 599))
def test_any_unary_response_body_ends_in_events_or_a_remote_error(body: bytes, status: int) -> None:
    call = started(UNARY)
    call.receive_response_head(
        status,
        Metadata([("content-type", "application/proto" if status == 200 else "application/json")]),
    )
    try:
        fed(call, body)
        out = events(call)
    except RemoteProtocolError:
        return
    if status == 200:
        assert out == [Message(body), EndOfResponse(None, Metadata())]
    else:
        (end,) = out
        assert isinstance(end, EndOfResponse) and end.error is not None
        assert end.error.http_status == status
