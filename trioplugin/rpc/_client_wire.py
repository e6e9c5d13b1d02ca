"""The innermost end of a client call: Connect over a ClientTransport."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import trio

from .._version import __version__
from ..protocol import (
    Code,
    Codec,
    Compression,
    ConnectError,
    EndStream,
    Metadata,
    accept_encoding_value,
    check_response_content_type,
    decode_end_stream,
    format_timeout_ms,
    response_compression,
    split_unary_trailers,
    unary_error_from_response,
)
from ..protocol import _headers as h
from ..transport import ClientExchange, ClientTransport, UnprocessedError
from ._call import ATTEMPT_HEADER, Call
from ._wire_common import EnvelopeReader, custom_metadata, frame_message, read_body

T = TypeVar("T")

USER_AGENT: Final = f"trioplugin/{__version__}"


@dataclass(frozen=True, slots=True)
class ClientWireConfig:
    """How a client encodes, compresses and bounds its calls."""

    transport: ClientTransport
    codec: Codec
    send_compression: Compression | None
    accept_compressions: Sequence[Compression]
    max_message_size: int
    compress_min_bytes: int


class ClientWire:
    """Sends a call over the transport and feeds the response into the call's sink.

    It is the ``call_next`` at the bottom of a client's interceptor chain.
    """

    __slots__ = ("_config", "_stream_headers", "_unary_headers")

    def __init__(self, config: ClientWireConfig) -> None:
        self._config = config
        self._unary_headers = self._base_headers(streaming=False)
        self._stream_headers = self._base_headers(streaming=True)

    def _base_headers(self, *, streaming: bool) -> list[tuple[str, str]]:
        config = self._config
        content_type = h.ContentType(config.codec.name, streaming).header_value()
        headers = [
            (h.CONTENT_TYPE, content_type),
            (h.CONNECT_PROTOCOL_VERSION, h.PROTOCOL_VERSION),
            ("user-agent", USER_AGENT),
        ]
        if config.accept_compressions:
            accept = h.CONNECT_ACCEPT_ENCODING if streaming else h.ACCEPT_ENCODING
            headers.append((accept, accept_encoding_value(config.accept_compressions)))
        if streaming and config.send_compression is not None:
            headers.append((h.CONNECT_CONTENT_ENCODING, config.send_compression.name))
        return headers

    def _headers(self, call: Call[Any, Any], base: list[tuple[str, str]]) -> list[tuple[str, str]]:
        headers = list(base)
        deadline = trio.current_effective_deadline()
        if deadline != math.inf:
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                raise ConnectError(
                    Code.DEADLINE_EXCEEDED,
                    f"the deadline of {call.method.procedure} passed before it was sent",
                )
            timeout = format_timeout_ms(remaining)
            if timeout is not None:
                headers.append((h.CONNECT_TIMEOUT_MS, timeout))
        if call.request_headers:
            headers.extend(custom_metadata(call.request_headers))
        if call.attempt > 1:
            headers.append((ATTEMPT_HEADER, str(call.attempt)))
        return headers

    async def __call__(self, call: Call[Any, Any]) -> None:
        # A caller already cancelled gets its Cancelled, not an error it could count as ours.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            if call.method.is_streaming:
                await self._stream(call)
            else:
                await self._unary(call)
        except UnprocessedError:
            call.request_sent = False
            raise

    async def _unary(self, call: Call[Any, Any]) -> None:
        config = self._config
        headers = self._headers(call, self._unary_headers)
        body = config.codec.encode(await call.requests.receive())
        compression = config.send_compression
        if compression is not None and len(body) >= config.compress_min_bytes:
            body = compression.compress(body)
            headers.append((h.CONTENT_ENCODING, compression.name))
        call.request_sent = True
        async with config.transport.exchange(
            "POST", call.method.procedure, headers, body=body
        ) as exchange:
            status, response_headers = await exchange.receive_head()
            raw = await read_body(exchange.receive_data, config.max_message_size, "response")
        leading, trailers = split_unary_trailers(response_headers)
        call.response_headers.extend(leading)
        call.response_trailers.extend(trailers)
        received_compression = response_compression(
            leading, streaming=False, compressions=config.accept_compressions
        )
        if raw and received_compression is not None:
            raw = _as_internal(received_compression.decompress, raw, config.max_message_size)
        if status != 200:
            error = unary_error_from_response(status, leading, raw)
            error.metadata.extend(trailers)
            raise error
        check_response_content_type(leading, codec=config.codec.name, streaming=False)
        message = _as_internal(config.codec.decode, raw, call.method.output_type)
        await call.responses.send(message)

    async def _stream(self, call: Call[Any, Any]) -> None:
        config = self._config
        method = call.method
        headers = self._headers(call, self._stream_headers)
        body = None
        if not method.stream_type.streams_requests:
            body = self._frame(await call.requests.receive())
        call.request_sent = True
        async with config.transport.exchange(
            "POST", method.procedure, headers, body=body
        ) as exchange:
            if body is not None:
                await self._receive_stream(call, exchange)
            elif config.transport.full_duplex:
                await self._duplex(call, exchange)
            else:
                await self._send_requests(call, exchange)
                await self._receive_stream(call, exchange)

    def _frame(self, message: Any) -> bytes:
        config = self._config
        return frame_message(
            config.codec.encode(message), config.send_compression, config.compress_min_bytes
        )

    async def _send_requests(self, call: Call[Any, Any], exchange: ClientExchange) -> None:
        async for message in call.requests:
            await exchange.send_data(self._frame(message))
        await exchange.end_request()

    async def _duplex(self, call: Call[Any, Any], exchange: ClientExchange) -> None:
        send_error: BaseException | None = None

        async def send() -> None:
            nonlocal send_error
            try:
                await self._send_requests(call, exchange)
            except Exception as exc:  # reported unless the response explains it
                send_error = exc

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            try:
                await self._receive_stream(call, exchange)
            except Exception as exc:
                receive_error: Exception | None = exc
            else:
                receive_error = None
            # The response is over: nothing the caller still sends can matter.
            nursery.cancel_scope.cancel()
        if receive_error is not None:
            raise receive_error
        if send_error is not None:
            raise send_error

    async def _receive_stream(self, call: Call[Any, Any], exchange: ClientExchange) -> None:
        config = self._config
        method = call.method
        status, headers = await exchange.receive_head()
        if status != 200:
            raw = await read_body(exchange.receive_data, config.max_message_size, "response")
            raise unary_error_from_response(status, headers, raw)
        check_response_content_type(headers, codec=config.codec.name, streaming=True)
        compression = response_compression(
            headers, streaming=True, compressions=config.accept_compressions
        )
        call.response_headers.extend(headers)
        reader = EnvelopeReader(
            exchange.receive_data,
            limit=config.max_message_size,
            compression=compression,
            peer_fault=Code.INTERNAL,
            what="response stream",
        )
        end: EndStream | None = None
        received = 0
        while (envelope := await reader.next()) is not None:
            if end is not None:
                raise ConnectError(
                    Code.INTERNAL, "protocol error: response stream goes on after its end"
                )
            payload = _as_internal(reader.payload, envelope)
            if envelope.end_stream:
                end = decode_end_stream(payload)
                continue
            received += 1
            if received > 1 and not method.stream_type.streams_responses:
                raise ConnectError(
                    Code.INTERNAL, f"{method.procedure} answered with more than one message"
                )
            message = _as_internal(config.codec.decode, payload, method.output_type)
            await call.responses.send(message)
        if end is None:
            raise ConnectError(
                Code.INTERNAL,
                "protocol error: response stream ended without an end-of-stream message",
            )
        call.response_trailers.extend(end.trailers)
        if end.error is not None:
            merged = Metadata(headers.multi_items())
            merged.extend(end.error.metadata)
            end.error.metadata = merged
            raise end.error
        if received == 0 and not method.stream_type.streams_responses:
            raise ConnectError(Code.INTERNAL, f"{method.procedure} ended without a response")


def _as_internal(decode: Callable[..., T], *args: Any) -> T:
    """Run a decoding step; a malformed response is the server's fault: ``internal``."""
    try:
        return decode(*args)
    except ConnectError as exc:
        if exc.code is Code.INVALID_ARGUMENT:
            raise ConnectError(Code.INTERNAL, f"invalid response: {exc.message}") from exc
        raise
