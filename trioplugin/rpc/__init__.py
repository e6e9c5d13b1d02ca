"""Calls and services: methods from protobuf descriptors, clients, stubs, the server app.

All four call kinds (unary, client-, server- and bidi-streaming) work on both
sides, through one interceptor protocol (:class:`Interceptor`).
"""

from ._app import ConnectApp
from ._call import Call, HandlerContext, MessageReceiver, MessageSender, Side
from ._caller import Caller, Headers, UnaryResponse
from ._client import Client
from ._interceptor import CallNext, Interceptor, chain
from ._method import Idempotency, MethodInfo, StreamType
from ._open import (
    HTTPVersionChoice,
    open_client,
    open_connect_server,
    open_transport,
    serve_connect,
)
from ._service import Service
from ._streams import BidiStream, ResponseStream
from ._stub import BidiStreamMethod, ClientStreamMethod, ServerStreamMethod, Stub, UnaryMethod
from ._wire_common import DEFAULT_COMPRESS_MIN_BYTES, DEFAULT_MAX_MESSAGE_SIZE

__all__ = [
    "DEFAULT_COMPRESS_MIN_BYTES",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "BidiStream",
    "BidiStreamMethod",
    "Call",
    "CallNext",
    "Caller",
    "Client",
    "ClientStreamMethod",
    "ConnectApp",
    "HTTPVersionChoice",
    "HandlerContext",
    "Headers",
    "Idempotency",
    "Interceptor",
    "MessageReceiver",
    "MessageSender",
    "MethodInfo",
    "ResponseStream",
    "ServerStreamMethod",
    "Service",
    "Side",
    "StreamType",
    "Stub",
    "UnaryMethod",
    "UnaryResponse",
    "chain",
    "open_client",
    "open_connect_server",
    "open_transport",
    "serve_connect",
]
