"""The innermost end of a client call: moves a ClientCall's bytes over a ClientTransport."""

from __future__ import annotations

import math
from typing import Any, Final

import trio

from .._version import __version__
from ..protocol import (
    ClientCall,
    ClientConfig,
    Codec,
    custom_metadata,
)
from ..transport import ClientExchange, ClientTransport, UnprocessedError
from ._call import ATTEMPT_HEADER, Call
from ._client_stream_io import END, DirectStreamIO, ResponseReader, deadline_passed
from ._method import Idempotency
from ._stream_link import direct_link

USER_AGENT: Final = f"trioplugin/{__version__}"
NO_SIDE_EFFECTS: Final = Idempotency.NO_SIDE_EFFECTS


class ClientWire:
    """Sends a call over the transport and feeds the response into the call's sink.

    It is the ``call_next`` at the bottom of a client's interceptor chain;
    the protocol's rules are :class:`~trioplugin.protocol.ClientCall`'s.
    """

    __slots__ = ("_codec", "_config", "_transport")

    def __init__(self, transport: ClientTransport, codec: Codec, config: ClientConfig) -> None:
        self._transport = transport
        self._codec = codec
        self._config = config

    async def __call__(self, call: Call[Any, Any]) -> None:
        # A caller already cancelled gets its Cancelled, not an error it could count as ours.
        await trio.lowlevel.checkpoint_if_cancelled()
        # The whole exchange in this one frame: every suspension of a call
        # passes through each coroutine frame between it and its caller.
        try:
            method = call.method
            stream_type = method.stream_type
            state = ClientCall(self._config, stream_type, method.procedure)
            timeout: float | None = None
            deadline = trio.current_effective_deadline()
            if deadline != math.inf:
                timeout = deadline - trio.current_time()
                if timeout <= 0:
                    await deadline_passed()
            metadata = custom_metadata(call.request_headers) if call.request_headers else []
            if call.attempt > 1:
                metadata.append((ATTEMPT_HEADER, str(call.attempt)))
            message = None
            if not stream_type.streams_requests:
                message = self._codec.encode(await call.requests.receive())
            use_get = call.http_method == "GET" and method.idempotency is NO_SIDE_EFFECTS
            request = state.start(
                timeout=timeout, metadata=metadata, message=message, use_get=use_get
            )
            body = request.body
            if body is None and request.method == "GET":
                body = b""
            call.request_sent = True
            async with self._transport.exchange(
                request.method, request.path, request.headers, body=body
            ) as exchange:
                route = direct_link(call)
                if route is not None:
                    io = DirectStreamIO(call, state, exchange, self._codec, route)
                    route.link.attach(io)
                    try:
                        await io.wait()
                    finally:
                        route.link.detach(io)
                elif body is not None:
                    await self._receive(call, state, exchange)
                elif self._transport.full_duplex:
                    await self._duplex(call, state, exchange)
                else:
                    await self._send_requests(call, state, exchange)
                    await self._receive(call, state, exchange)
        except UnprocessedError:
            call.request_sent = False
            raise

    async def _send_requests(
        self, call: Call[Any, Any], state: ClientCall, exchange: ClientExchange
    ) -> None:
        encode = self._codec.encode
        async for message in call.requests:
            await exchange.send_data(state.send_message(encode(message)))
        state.end_request()
        await exchange.end_request()

    async def _duplex(
        self, call: Call[Any, Any], state: ClientCall, exchange: ClientExchange
    ) -> None:
        send_error: BaseException | None = None

        async def send() -> None:
            nonlocal send_error
            try:
                await self._send_requests(call, state, exchange)
            except Exception as exc:  # reported unless the response explains it
                send_error = exc

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            try:
                await self._receive(call, state, exchange)
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

    async def _receive(
        self, call: Call[Any, Any], state: ClientCall, exchange: ClientExchange
    ) -> None:
        reader = ResponseReader(call, state, exchange, self._codec)
        while (message := await reader.next()) is not END:
            await call.responses.send(message)
