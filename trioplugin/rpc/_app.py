"""The Connect server application: routing, validation, deadlines and the wire format."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, final

import trio

from ..protocol import (
    DEFAULT_CODECS,
    DEFAULT_COMPRESSIONS,
    Code,
    Codec,
    Compression,
    ConnectError,
    EndStream,
    EnvelopeFlags,
    Metadata,
    RejectedRequest,
    RequestSpec,
    encode_end_stream,
    encode_envelope,
    error_to_json,
    prefix_unary_trailers,
    validate_request,
)
from ..protocol import _headers as h
from ..transport import ServerExchange, StreamClosed
from ._call import ATTEMPT_HEADER, Call
from ._handlers import handler_for
from ._interceptor import CallNext, InterceptorLike, chain, intercept_function
from ._messages import MessageReceiver, ResponseSlot, SingleMessage
from ._method import Idempotency, MethodInfo
from ._service import Service
from ._wire_common import (
    DEFAULT_COMPRESS_MIN_BYTES,
    DEFAULT_MAX_MESSAGE_SIZE,
    EnvelopeReader,
    custom_metadata,
    frame_message,
    read_body,
)

_log: Final = logging.getLogger("trioplugin.rpc")
_JSON_HEADERS: Final = [(h.CONTENT_TYPE, h.JSON_ERROR_CONTENT_TYPE)]


@dataclass(frozen=True, slots=True)
class _Route:
    method: MethodInfo[Any, Any]
    run: CallNext
    allow_get: bool


@final
class ConnectApp:
    """Serves protobuf services over the Connect protocol; the app a transport server runs.

    ``services`` maps each :class:`Service` to the object implementing it: an
    instance with one method per RPC, e.g. ``async def Get(self, request,
    ctx)`` for a unary method, an async generator for a server-streaming one.
    ``interceptors`` wrap every call, the first outermost.
    """

    def __init__(
        self,
        services: Mapping[Service, object] | Iterable[tuple[Service, object]] = (),
        *,
        interceptors: Sequence[InterceptorLike] = (),
        codecs: Sequence[Codec] = DEFAULT_CODECS,
        compressions: Sequence[Compression] = DEFAULT_COMPRESSIONS,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        compress_min_bytes: int = DEFAULT_COMPRESS_MIN_BYTES,
    ) -> None:
        for interceptor in interceptors:
            intercept_function(interceptor)
        self._interceptors = tuple(interceptors)
        self._codecs = {codec.name: codec for codec in codecs}
        self._codec_names = tuple(self._codecs)
        self._compressions = tuple(compressions)
        self._max_message_size = max_message_size
        self._compress_min_bytes = compress_min_bytes
        self._routes: dict[str, _Route] = {}
        pairs = services.items() if isinstance(services, Mapping) else services
        for service, implementation in pairs:
            self.add_service(service, implementation)

    def add_service(self, service: Service, implementation: object) -> None:
        """Serve ``service`` with ``implementation``.

        Raises:
            ValueError: a method of the service is already served.
            TypeError: an implementing method has the wrong shape.
        """
        routes = {}
        for method in service.methods.values():
            if method.procedure in self._routes:
                raise ValueError(f"{method.procedure} is already served")
            routes[method.procedure] = _Route(
                method,
                chain(self._interceptors, handler_for(method, implementation)),
                allow_get=method.idempotency is Idempotency.NO_SIDE_EFFECTS,
            )
        self._routes.update(routes)

    @property
    def procedures(self) -> list[str]:
        """The paths served, e.g. ``["/demo.kv.v1.KVService/Get", ...]``."""
        return list(self._routes)

    async def __call__(self, exchange: ServerExchange) -> None:
        """Serve one HTTP request."""
        route = self._routes.get(exchange.path)
        if route is None:
            error = ConnectError(Code.UNIMPLEMENTED, f"unknown procedure {exchange.path}")
            await exchange.send_response(404, _JSON_HEADERS, error_to_json(error))
            return
        method = route.method
        try:
            spec = validate_request(
                http_method=exchange.method,
                headers=exchange.headers,
                query=exchange.query,
                streaming=method.is_streaming,
                allow_get=route.allow_get,
                codecs=self._codec_names,
                compressions=self._compressions,
            )
        except RejectedRequest as rejected:
            await exchange.send_response(
                rejected.status, [*_JSON_HEADERS, *rejected.headers], error_to_json(rejected.error)
            )
            return
        deadline = math.inf if spec.timeout is None else trio.current_time() + spec.timeout
        codec = self._codecs[spec.codec]
        if method.is_streaming:
            await _StreamCall(
                exchange,
                route,
                spec,
                codec,
                deadline,
                max_message_size=self._max_message_size,
                compress_min_bytes=self._compress_min_bytes,
            ).run()
        else:
            await self._serve_unary(exchange, route, spec, codec, deadline)

    async def _serve_unary(
        self,
        exchange: ServerExchange,
        route: _Route,
        spec: RequestSpec,
        codec: Codec,
        deadline: float,
    ) -> None:
        method = route.method
        call: Call[Any, Any] | None = None
        try:
            with trio.CancelScope(deadline=deadline) as scope:
                payload = spec.get_payload
                if payload is None:
                    _check_content_length(exchange.headers, self._max_message_size)
                    payload = await read_body(
                        exchange.receive_data, self._max_message_size, "request"
                    )
                if payload and spec.request_compression is not None:
                    payload = spec.request_compression.decompress(payload, self._max_message_size)
                request = codec.decode(payload, method.input_type)
                slot: ResponseSlot[Any] = ResponseSlot(method.procedure)
                call = Call(
                    method,
                    side="server",
                    requests=SingleMessage(request),
                    responses=slot,
                    request_headers=exchange.headers,
                    peer=exchange.peer,
                    deadline=deadline,
                    attempt=attempt_number(exchange.headers),
                )
                await route.run(call)
            if scope.cancelled_caught:
                raise _deadline_exceeded(method, spec)
            if slot.message is None:
                raise ConnectError(Code.INTERNAL, f"{method.procedure} produced no response")
            body = codec.encode(slot.message)
        except Exception as exc:
            error = _as_connect_error(exc, method)
            await self._send_unary_error(exchange, error, call)
            return
        headers = [(h.CONTENT_TYPE, h.ContentType(codec.name, False).header_value())]
        compression = spec.response_compression
        if compression is not None and len(body) >= self._compress_min_bytes:
            body = compression.compress(body)
            headers.append((h.CONTENT_ENCODING, compression.name))
        _append_call_metadata(headers, call)
        await exchange.send_response(200, headers, body)

    async def _send_unary_error(
        self, exchange: ServerExchange, error: ConnectError, call: Call[Any, Any] | None
    ) -> None:
        headers = list(_JSON_HEADERS)
        _append_call_metadata(headers, call)
        headers.extend(custom_metadata(error.metadata))
        await exchange.send_response(error.code.http_status, headers, error_to_json(error))


class _StreamCall:
    """One streaming call on the server: reads envelopes, writes envelopes and the end."""

    def __init__(
        self,
        exchange: ServerExchange,
        route: _Route,
        spec: RequestSpec,
        codec: Codec,
        deadline: float,
        *,
        max_message_size: int,
        compress_min_bytes: int,
    ) -> None:
        self._compress_min_bytes = compress_min_bytes
        self._exchange = exchange
        self._route = route
        self._spec = spec
        self._codec = codec
        self._deadline = deadline
        self._head_sent = False
        self._call: Call[Any, Any] | None = None
        self._reader = EnvelopeReader(
            exchange.receive_data,
            limit=max_message_size,
            compression=spec.request_compression,
            peer_fault=Code.INVALID_ARGUMENT,
            what="request stream",
        )

    async def run(self) -> None:
        method = self._route.method
        error: ConnectError | None = None
        try:
            with trio.CancelScope(deadline=self._deadline) as scope:
                await self._run_chain()
            if scope.cancelled_caught:
                raise _deadline_exceeded(method, self._spec)
        except Exception as exc:
            error = _as_connect_error(exc, method)
        trailers = self._call.response_trailers if self._call is not None else Metadata()
        end = encode_envelope(
            encode_end_stream(EndStream(error, trailers)), EnvelopeFlags.END_STREAM
        )
        if not self._head_sent:
            await self._exchange.send_response(200, self._head(), end)
            return
        await self._exchange.send_data(end)
        await self._exchange.end()

    async def _run_chain(self) -> None:
        method = self._route.method
        requests: MessageReceiver[Any]
        if method.stream_type.streams_requests:
            requests = _RequestStream(self)
        else:
            requests = SingleMessage(await self._single_request())
        slot: ResponseSlot[Any] | None = None
        if method.stream_type.streams_responses:
            responses: Any = self
        else:
            responses = slot = ResponseSlot(method.procedure)
        self._call = Call(
            method,
            side="server",
            requests=requests,
            responses=responses,
            request_headers=self._exchange.headers,
            peer=self._exchange.peer,
            deadline=self._deadline,
            attempt=attempt_number(self._exchange.headers),
        )
        await self._route.run(self._call)
        if slot is not None:
            if slot.message is None:
                raise ConnectError(Code.INTERNAL, f"{method.procedure} produced no response")
            await self.send(slot.message)

    async def _single_request(self) -> Any:
        first = await self.receive()
        try:
            await self.receive()
        except trio.EndOfChannel:
            return first
        raise ConnectError(
            Code.INVALID_ARGUMENT,
            f"{self._route.method.procedure} takes one request message, but the client sent more",
        )

    async def receive(self) -> Any:
        """The next request message off the wire; EndOfChannel at the end."""
        envelope = await self._reader.next()
        if envelope is None:
            raise trio.EndOfChannel
        if envelope.end_stream:
            raise ConnectError(
                Code.INVALID_ARGUMENT, "protocol error: a request envelope has the end-stream flag"
            )
        return self._codec.decode(self._reader.payload(envelope), self._route.method.input_type)

    async def send(self, message: Any) -> None:
        """Write one response message, sending the response head first if need be."""
        data = frame_message(
            self._codec.encode(message),
            self._spec.response_compression,
            self._compress_min_bytes,
        )
        if not self._head_sent:
            self._head_sent = True
            await self._exchange.send_head(200, self._head())
        await self._exchange.send_data(data)

    def _head(self) -> list[tuple[str, str]]:
        self._head_sent = True
        headers = [(h.CONTENT_TYPE, h.ContentType(self._codec.name, True).header_value())]
        if self._spec.response_compression is not None:
            headers.append((h.CONNECT_CONTENT_ENCODING, self._spec.response_compression.name))
        if self._call is not None and self._call.response_headers:
            headers.extend(custom_metadata(self._call.response_headers))
        return headers


class _RequestStream:
    """The request messages of a client- or bidi-streaming call, read as the handler asks."""

    __slots__ = ("_call",)

    def __init__(self, call: _StreamCall) -> None:
        self._call = call

    async def receive(self) -> Any:
        return await self._call.receive()

    def __aiter__(self) -> _RequestStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._call.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


def _append_call_metadata(headers: list[tuple[str, str]], call: Call[Any, Any] | None) -> None:
    if call is None:
        return
    if call.response_headers:
        headers.extend(custom_metadata(call.response_headers))
    if call.response_trailers:
        headers.extend(prefix_unary_trailers(call.response_trailers))


def attempt_number(headers: Metadata) -> int:
    """Which attempt of its call a request says it is (1 unless a valid number says more)."""
    value = headers.first(ATTEMPT_HEADER)
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 6:
        return 1
    return max(1, int(value))


def _check_content_length(headers: Metadata, limit: int) -> None:
    declared = headers.first("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ConnectError(
            Code.RESOURCE_EXHAUSTED,
            f"request of {declared} bytes is larger than the limit of {limit} bytes",
        )


def _deadline_exceeded(method: MethodInfo[Any, Any], spec: RequestSpec) -> ConnectError:
    timeout_ms = round((spec.timeout or 0) * 1000)
    return ConnectError(
        Code.DEADLINE_EXCEEDED,
        f"{method.procedure} did not finish within the client's timeout of {timeout_ms} ms",
    )


def _as_connect_error(exc: Exception, method: MethodInfo[Any, Any]) -> ConnectError:
    """The error to send for ``exc``; a vanished client is re-raised, nobody to tell."""
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, StreamClosed):
        raise exc
    _log.error("%s failed with an unexpected exception", method.procedure, exc_info=exc)
    return ConnectError(Code.INTERNAL, f"{method.procedure} failed with an internal error")
