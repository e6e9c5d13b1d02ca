"""The Connect protocol, sans I/O: codes, errors, framing, codecs, compression, headers.

Nothing here touches a socket or an event loop; the transport and rpc layers
feed it bytes and header values and act on what it returns.
"""

from ._code import Code
from ._codec import DEFAULT_CODECS, JSON, PROTO, Codec, JSONCodec, ProtoCodec
from ._compression import (
    DEFAULT_COMPRESSIONS,
    GZIP,
    IDENTITY,
    Compression,
    GzipCompression,
    accept_encoding_value,
    choose_compression,
    parse_accept_encoding,
)
from ._end_stream import EndStream, decode_end_stream, encode_end_stream
from ._envelope import (
    ENVELOPE_HEADER_SIZE,
    KNOWN_FLAGS,
    Envelope,
    EnvelopeDecoder,
    EnvelopeFlags,
    encode_envelope,
)
from ._error import (
    ConnectError,
    error_from_json,
    error_from_json_object,
    error_to_json,
    error_to_json_object,
)
from ._headers import (
    ContentType,
    parse_content_type,
    prefix_unary_trailers,
    split_unary_trailers,
    user_metadata,
)
from ._metadata import Metadata, decode_binary_value, encode_binary_value
from ._request import RejectedRequest, RequestSpec, validate_request
from ._response import (
    check_response_content_type,
    response_compression,
    stream_error_from_status,
    unary_error_from_response,
)
from ._timeout import MAX_TIMEOUT_MS, format_timeout_ms, parse_timeout_ms

__all__ = [
    "DEFAULT_CODECS",
    "DEFAULT_COMPRESSIONS",
    "ENVELOPE_HEADER_SIZE",
    "GZIP",
    "IDENTITY",
    "JSON",
    "KNOWN_FLAGS",
    "MAX_TIMEOUT_MS",
    "PROTO",
    "Code",
    "Codec",
    "Compression",
    "ConnectError",
    "ContentType",
    "EndStream",
    "Envelope",
    "EnvelopeDecoder",
    "EnvelopeFlags",
    "GzipCompression",
    "JSONCodec",
    "Metadata",
    "ProtoCodec",
    "RejectedRequest",
    "RequestSpec",
    "accept_encoding_value",
    "check_response_content_type",
    "choose_compression",
    "decode_binary_value",
    "decode_end_stream",
    "encode_binary_value",
    "encode_end_stream",
    "encode_envelope",
    "error_from_json",
    "error_from_json_object",
    "error_to_json",
    "error_to_json_object",
    "format_timeout_ms",
    "parse_accept_encoding",
    "parse_content_type",
    "parse_timeout_ms",
    "prefix_unary_trailers",
    "response_compression",
    "split_unary_trailers",
    "stream_error_from_status",
    "unary_error_from_response",
    "user_metadata",
    "validate_request",
]
