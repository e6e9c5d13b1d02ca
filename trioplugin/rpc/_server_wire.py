"""One call on the server: moves a ServerCall's bytes between the exchange and the chain."""

from __future__ import annotations

import logging
import math
from typing import Any, Final

import trio

from ..protocol import (
    NEED_DATA,
    Code,
    Codec,
    ConnectError,
    EndOfRequest,
    LocalProtocolError,
    Metadata,
    Output,
    RequestSpec,
    ServerCall,
)
from ..transport import ServerExchange, StreamClosed
from ._call import ATTEMPT_HEADER, Call
from ._interceptor import CallNext
from ._messages import MessageReceiver, ResponseSlot, SingleMessage
from ._method import MethodInfo

_log: Final = logging.getLogger("trioplugin.rpc")


async def write_output(exchange: ServerExchange, output: Output) -> None:
    """Write what a :class:`~trioplugin.protocol.ServerCall` said to write."""
    head = output.head
    if head is not None and output.end:
        await exchange.send_response(head.status, head.headers, output.data)
        return
    if head is not None:
        await exchange.send_head(head.status, head.headers)
    if output.data:
        await exchange.send_data(output.data)
    if output.end:
        await exchange.end()


class ServerWire:
    """Runs one accepted call: reads its requests, runs the chain, writes the response.

    The handler runs under the deadline the client's ``Connect-Timeout-Ms``
    set; an expired deadline answers ``deadline_exceeded`` even when the
    handler never awaited. The response is written outside that deadline, so
    the client always gets its answer.
    """

    __slots__ = ("_call", "_codec", "_deadline", "_exchange", "_method", "_state")

    def __init__(
        self,
        exchange: ServerExchange,
        method: MethodInfo[Any, Any],
        state: ServerCall,
        codec: Codec,
        spec: RequestSpec,
    ) -> None:
        self._exchange = exchange
        self._method = method
        self._state = state
        self._codec = codec
        self._deadline = math.inf if spec.timeout is None else trio.current_time() + spec.timeout
        self._call: Call[Any, Any] | None = None

    async def run(self, chain: CallNext, *, max_message_size: int) -> None:
        """Serve the call through ``chain``; a vanished client ends it quietly."""
        error: ConnectError | None = None
        deadline = self._deadline
        try:
            if not self._method.stream_type.enveloped:
                _check_content_length(self._exchange.headers, max_message_size)
            if deadline == math.inf:  # no scope to enter: it costs more than the rest here
                await self._run_chain(chain)
            else:
                with trio.CancelScope(deadline=deadline) as scope:
                    await self._run_chain(chain)
                if scope.cancelled_caught or trio.current_time() >= deadline:
                    raise self._deadline_exceeded()
        except Exception as exc:
            error = _as_connect_error(exc, self._method)
        call = self._call
        headers = call.response_headers if call is not None else Metadata()
        trailers = call.response_trailers if call is not None else Metadata()
        try:
            output = self._state.send_end(error, headers, trailers)
        except LocalProtocolError as exc:  # the handler answered nothing
            _log.error("%s: %s", self._method.procedure, exc)
            error = ConnectError(Code.INTERNAL, f"{self._method.procedure} produced no response")
            output = self._state.send_end(error, headers, trailers)
        await write_output(self._exchange, output)

    async def _run_chain(self, chain: CallNext) -> None:
        method = self._method
        exchange = self._exchange
        stream_type = method.stream_type
        requests: MessageReceiver[Any]
        if stream_type.streams_requests:
            requests = _RequestStream(self)
        else:
            requests = SingleMessage(await self._single_request())
        slot: ResponseSlot[Any] | None = None
        responses: Any
        if stream_type.streams_responses:
            responses = self
        else:
            responses = slot = ResponseSlot(method.procedure)
        call = self._call = Call(
            method,
            side="server",
            requests=requests,
            responses=responses,
            request_headers=exchange.headers,
            peer=exchange.peer,
            deadline=self._deadline,
            attempt=attempt_number(exchange.headers),
            http_method=exchange.method,
            query=exchange.query,
        )
        if stream_type.enveloped:
            call._send_headers = self._send_headers
        await chain(call)
        if slot is not None and slot.message is not None:
            self._state.send_message(self._codec.encode(slot.message), call.response_headers)

    async def _next_event(self) -> Any:
        state = self._state
        while (event := state.next_event()) is NEED_DATA:
            chunk = await self._exchange.receive_data()
            if chunk:
                state.receive_data(chunk)
            else:
                state.receive_end()
        return event

    async def _single_request(self) -> Any:
        event = await self._next_event()
        return self._codec.decode(event.data, self._method.input_type)

    async def receive(self) -> Any:
        """The next request message; EndOfChannel at the end."""
        event = await self._next_event()
        if isinstance(event, EndOfRequest):
            raise trio.EndOfChannel
        return self._codec.decode(event.data, self._method.input_type)

    async def send(self, message: Any) -> None:
        """Write one response message (the response head first if it is not out yet)."""
        call = self._call
        headers = call.response_headers if call is not None else Metadata()
        output = self._state.send_message(self._codec.encode(message), headers)
        if output is not None:
            await write_output(self._exchange, output)

    async def _send_headers(self, headers: Metadata) -> None:
        output = self._state.send_headers(headers)
        if output is None:
            await trio.lowlevel.checkpoint()
            return
        await write_output(self._exchange, output)

    def _deadline_exceeded(self) -> ConnectError:
        timeout = self._state.spec.timeout if self._state.spec is not None else None
        timeout_ms = round((timeout or 0) * 1000)
        return ConnectError(
            Code.DEADLINE_EXCEEDED,
            f"{self._method.procedure} did not finish within the client's timeout "
            f"of {timeout_ms} ms",
        )


class _RequestStream:
    """The request messages of a client- or bidi-streaming call, read as the handler asks."""

    __slots__ = ("_wire",)

    def __init__(self, wire: ServerWire) -> None:
        self._wire = wire

    async def receive(self) -> Any:
        return await self._wire.receive()

    def __aiter__(self) -> _RequestStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._wire.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


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


def _as_connect_error(exc: Exception, method: MethodInfo[Any, Any]) -> ConnectError:
    """The error to send for ``exc``; a vanished client is re-raised, nobody to tell."""
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, StreamClosed):
        raise exc
    _log.error("%s failed with an unexpected exception", method.procedure, exc_info=exc)
    return ConnectError(Code.INTERNAL, f"{method.procedure} failed with an internal error")
