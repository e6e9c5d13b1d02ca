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
    Compression,
    GzipCompression,
)
from ._end_stream import EndStream, decode_end_stream, encode_end_stream
from ._envelope import (
    ENVELOPE_HEADER_SIZE,
    Envelope,
    EnvelopeDecoder,
    EnvelopeFlags,
    encode_envelope,
)
from ._error import (
    ConnectError,
    error_from_json,
    error_to_json,
)
from ._get import DEFAULT_GET_URL_LIMIT
from ._headers import (
    custom_metadata,
)
from ._metadata import Metadata, decode_binary_value, encode_binary_value
from ._request import RequestSpec
from ._server_call import Refused, ServerCall, ServerConfig, unknown_procedure
from ._stream_type import StreamType
from ._timeout import format_timeout_ms, parse_timeout_ms

__all__ = [
    "DEFAULT_CODECS",
    "DEFAULT_COMPRESSIONS",
    "DEFAULT_GET_URL_LIMIT",
    "ENVELOPE_HEADER_SIZE",
    "GZIP",
    "JSON",
    "NEED_DATA",
    "PROTO",
    "ClientCall",
    "ClientConfig",
    "Code",
    "Codec",
    "Compression",
    "ConnectError",
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
    "RemoteProtocolError",
    "Request",
    "RequestSpec",
    "ResponseHead",
    "ServerCall",
    "ServerConfig",
    "StreamType",
    "custom_metadata",
    "decode_binary_value",
    "decode_end_stream",
    "encode_binary_value",
    "encode_end_stream",
    "encode_envelope",
    "error_from_json",
    "error_to_json",
    "format_timeout_ms",
    "parse_timeout_ms",
    "unknown_procedure",
]

_publish_module_names(__name__, globals())
