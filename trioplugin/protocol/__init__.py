"""The Connect protocol, sans I/O: codes, errors, framing, codecs, compression, headers.

Nothing here touches a socket or an event loop; the transport and rpc layers
feed it bytes and header values and act on what it returns. The rules of a
call live in two state machines, :class:`ServerCall` and :class:`ClientCall`,
fed the request or response as it arrives and returning small frozen events
(:class:`Message`, :class:`EndOfRequest`, :class:`EndOfResponse`,
:data:`NEED_DATA`) and what to write (:class:`Output`, :class:`Request`).
A peer that breaks the protocol raises :class:`RemoteProtocolError`; driving
a machine out of order raises :class:`LocalProtocolError`.
"""

from .._util import publish_module_names as _publish_module_names
from ._call_errors import LocalProtocolError, RemoteProtocolError
from ._call_events import (
    NEED_DATA,
    EndOfRequest,
    EndOfResponse,
    Message,
    NeedData,
    Output,
    Request,
    ResponseHead,
)
from ._client_call import ClientCall, ClientConfig
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
from ._get import DEFAULT_GET_URL_LIMIT, get_query
from ._headers import (
    ContentType,
    custom_metadata,
    parse_content_type,
    prefix_unary_trailers,
    split_unary_trailers,
    user_metadata,
)
from ._metadata import Metadata, decode_binary_value, encode_binary_value
from ._request import RejectedRequest, RequestSpec, validate_request
from ._response import error_from_status, unary_error_from_response
from ._server_call import Refused, ServerCall, ServerConfig, unknown_procedure
from ._stream_type import StreamType
from ._timeout import MAX_TIMEOUT_MS, format_timeout_ms, parse_timeout_ms

__all__ = [
    "DEFAULT_CODECS",
    "DEFAULT_COMPRESSIONS",
    "DEFAULT_GET_URL_LIMIT",
    "ENVELOPE_HEADER_SIZE",
    "GZIP",
    "IDENTITY",
    "JSON",
    "KNOWN_FLAGS",
    "MAX_TIMEOUT_MS",
    "NEED_DATA",
    "PROTO",
    "ClientCall",
    "ClientConfig",
    "Code",
    "Codec",
    "Compression",
    "ConnectError",
    "ContentType",
    "EndOfRequest",
    "EndOfResponse",
    "EndStream",
    "Envelope",
    "EnvelopeDecoder",
    "EnvelopeFlags",
    "GzipCompression",
    "JSONCodec",
    "LocalProtocolError",
    "Message",
    "Metadata",
    "NeedData",
    "Output",
    "ProtoCodec",
    "Refused",
    "RejectedRequest",
    "RemoteProtocolError",
    "Request",
    "RequestSpec",
    "ResponseHead",
    "ServerCall",
    "ServerConfig",
    "StreamType",
    "accept_encoding_value",
    "choose_compression",
    "custom_metadata",
    "decode_binary_value",
    "decode_end_stream",
    "encode_binary_value",
    "encode_end_stream",
    "encode_envelope",
    "error_from_json",
    "error_from_json_object",
    "error_from_status",
    "error_to_json",
    "error_to_json_object",
    "format_timeout_ms",
    "get_query",
    "parse_accept_encoding",
    "parse_content_type",
    "parse_timeout_ms",
    "prefix_unary_trailers",
    "split_unary_trailers",
    "unary_error_from_response",
    "unknown_procedure",
    "user_metadata",
    "validate_request",
]

_publish_module_names(__name__, globals())
