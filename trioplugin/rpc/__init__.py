"""Calls and services: methods from protobuf descriptors, clients, stubs, the server app.

All four call kinds (unary, client-, server- and bidi-streaming) work on both
sides, through one interceptor protocol (:class:`Interceptor`).
"""

from .._util import publish_module_names as _publish_module_names
from ._app import ConnectApp
from ._call import ATTEMPT_HEADER, Call, HandlerContext, Side
from ._caller import Caller, Headers, UnaryResponse
from ._client import Client
from ._dispense import dispense_client
from ._endpoint import (
    Endpoint,
    PerEndpoint,
    bind_interceptors,
    check_interceptors,
    detach_interceptors,
)
from ._interceptor import CallNext, Interceptor, InterceptorFunction, InterceptorLike, chain
from ._messages import MessageReceiver, MessageSender
from ._method import Idempotency, MethodInfo, StreamType
from ._open import (
    open_client,
    open_connect_server,
    open_transport,
    serve_connect,
)
from ._options import ClientOptions, ServerOptions
from ._ready import wait_until_answering
from ._replay import DEFAULT_REPLAY_LIMIT
from ._service import Service
from ._streams import BidiStream, ResponseStream
from ._stub import BidiStreamMethod, ClientStreamMethod, ServerStreamMethod, Stub, UnaryMethod
from ._waits import CURRENT_CLOSER, WaitCloser, interruptible_sleep
from ._wire_common import DEFAULT_COMPRESS_MIN_BYTES, DEFAULT_MAX_MESSAGE_SIZE

__all__ = [
    "ATTEMPT_HEADER",
    "CURRENT_CLOSER",
    "DEFAULT_COMPRESS_MIN_BYTES",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_REPLAY_LIMIT",
    "BidiStream",
    "BidiStreamMethod",
    "Call",
    "CallNext",
    "Caller",
    "Client",
    "ClientOptions",
    "ClientStreamMethod",
    "ConnectApp",
    "Endpoint",
    "HandlerContext",
    "Headers",
    "Idempotency",
    "Interceptor",
    "InterceptorFunction",
    "InterceptorLike",
    "MessageReceiver",
    "MessageSender",
    "MethodInfo",
    "PerEndpoint",
    "ResponseStream",
    "ServerOptions",
    "ServerStreamMethod",
    "Service",
    "Side",
    "StreamType",
    "Stub",
    "UnaryMethod",
    "UnaryResponse",
    "WaitCloser",
    "bind_interceptors",
    "chain",
    "check_interceptors",
    "detach_interceptors",
    "dispense_client",
    "interruptible_sleep",
    "open_client",
    "open_connect_server",
    "open_transport",
    "serve_connect",
    "wait_until_answering",
]

_publish_module_names(__name__, globals())
