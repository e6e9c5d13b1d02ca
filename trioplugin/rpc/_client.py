"""The client: calls of every kind to one endpoint, through the interceptor chain."""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast, final

import trio

from .._util import open_transparent_nursery
from ..protocol import (
    ClientConfig,
    Code,
    Codec,
    ConnectError,
    Metadata,
)
from ..transport import ClientTransport
from ._call import Call
from ._caller import Headers, UnaryResponse
from ._client_wire import USER_AGENT, ClientWire
from ._endpoint import Endpoint, bind_interceptors
from ._interceptor import CallNext, InterceptorLike, chain
from ._messages import MessageReceiver, ResponseSlot, SingleMessage
from ._method import Idempotency, MethodInfo, Req, Res, StreamType
from ._options import ClientOptions
from ._service import Service
from ._stream_link import StreamLink
from ._streams import BidiStream, IterableRequests, ResponseStream
from ._stub import Stub


@final
class Client:
    """Calls the methods of one Connect endpoint over a :class:`ClientTransport`.

    Most code uses :func:`open_client` and :meth:`stub`; the methods here are
    the four call kinds by :class:`MethodInfo`, which stubs call. Deadlines
    come from trio: a call made under ``trio.fail_after(2)`` tells the server
    it has at most what is left of those two seconds.

    ``options`` (default :class:`ClientOptions`) say how calls are encoded
    (their connection fields are the transport's, and unused here). A call
    whose caller set no deadline gets ``default_timeout`` seconds (None: no
    limit) and, past them, ``ConnectError(deadline_exceeded)``. With
    ``http_get``, unary calls of methods marked ``NO_SIDE_EFFECTS`` go as
    Connect GET requests (cacheable by HTTP proxies), falling back to POST
    when the URL would pass ``get_url_limit`` bytes; an interceptor may also
    choose per call by setting ``call.http_method``. With
    ``send_compression``, every request is compressed unless it is smaller
    than ``compress_min_bytes`` (0 by default, as connect-go).

    Interceptors that keep state per endpoint (a circuit breaker, a retry
    budget) are bound to ``endpoint`` (by default, one named by the
    transport's base URL); :attr:`interceptors` are the bound ones.

    Raises:
        TypeError: an element of ``interceptors`` is not an interceptor, or
            ``options`` is not a :class:`ClientOptions`.
    """

    def __init__(
        self,
        transport: ClientTransport,
        options: ClientOptions | None = None,
        *,
        interceptors: Sequence[InterceptorLike] = (),
        endpoint: Endpoint | None = None,
    ) -> None:
        if options is None:
            options = ClientOptions()
        elif not isinstance(options, ClientOptions):
            raise TypeError(f"options must be a ClientOptions, not {type(options).__name__}")
        codec = options.codec
        assert not isinstance(codec, str)  # ClientOptions resolved the name
        self._options = options
        self._default_timeout = options.default_timeout
        self._http_get = options.http_get
        if endpoint is None:
            url = getattr(transport, "base_url", "") or repr(transport)
            endpoint = Endpoint(name=url, url=url)
        self._endpoint = endpoint
        self._interceptors = bind_interceptors(interceptors, endpoint)
        self._transport = transport
        self._codec = codec
        config = ClientConfig(
            codec=codec.name,
            send_compression=options.send_compression,
            accept_compressions=options.accept_compressions,
            max_message_size=options.max_message_size,
            compress_min_bytes=options.compress_min_bytes,
            user_agent=USER_AGENT,
            get_url_limit=options.get_url_limit,
        )
        self._chain: CallNext = chain(self._interceptors, ClientWire(transport, codec, config))

    @property
    def options(self) -> ClientOptions:
        """The options the client was made with."""
        return self._options

    @property
    def transport(self) -> ClientTransport:
        """The transport the calls go over."""
        return self._transport

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint this client's interceptors are bound to."""
        return self._endpoint

    @property
    def interceptors(self) -> tuple[InterceptorLike, ...]:
        """The interceptors every call goes through, as bound to :attr:`endpoint`."""
        return self._interceptors

    @property
    def codec(self) -> Codec:
        """The codec requests are encoded with."""
        return self._codec

    def stub(self, service: Service) -> Stub:
        """A stub with one callable attribute per method: ``await stub.Get(request)``."""
        return Stub(self, service)

    async def unary(
        self, method: MethodInfo[Req, Res], request: Req, *, headers: Headers | None = None
    ) -> UnaryResponse[Res]:
        """Make a unary call."""
        method.check_call(StreamType.UNARY, request)
        return await self._single_response(method, SingleMessage(request), headers)

    async def client_stream(
        self,
        method: MethodInfo[Req, Res],
        requests: Iterable[Req] | AsyncIterable[Req],
        *,
        headers: Headers | None = None,
    ) -> UnaryResponse[Res]:
        """Make a client-streaming call, sending every request of ``requests``."""
        method.check_call(StreamType.CLIENT_STREAM)
        return await self._single_response(method, IterableRequests(method, requests), headers)

    async def _single_response(
        self, method: MethodInfo[Req, Res], requests: MessageReceiver[Req], headers: Headers | None
    ) -> UnaryResponse[Res]:
        slot: ResponseSlot[Res] = ResponseSlot(method.procedure)
        call = self._new_call(method, requests, slot, headers)
        if call.deadline == math.inf and self._default_timeout is not None:
            await self._run_with_default_deadline(call)
        else:
            await self._chain(call)
        if slot.message is None:
            raise ConnectError(Code.INTERNAL, f"{method.procedure} returned no response")
        return UnaryResponse(slot.message, call.response_headers, call.response_trailers)

    @asynccontextmanager
    async def server_stream(
        self, method: MethodInfo[Req, Res], request: Req, *, headers: Headers | None = None
    ) -> AsyncIterator[ResponseStream[Res]]:
        """Make a server-streaming call: ``async with`` it, then iterate the responses.

        Leaving the block before the stream has ended cancels the call.
        """
        method.check_call(StreamType.SERVER_STREAM, request)
        link: StreamLink[Req, Res] = StreamLink(method.procedure, SingleMessage(request))
        async with self._run_stream(method, link, headers) as responses:
            yield responses

    @asynccontextmanager
    async def bidi_stream(
        self, method: MethodInfo[Req, Res], *, headers: Headers | None = None
    ) -> AsyncIterator[BidiStream[Req, Res]]:
        """Make a bidi-streaming call: ``async with`` it, then send and receive at will.

        Raises:
            ConnectError: ``unimplemented`` if the transport is not full duplex
                (HTTP/1.1 cannot read a response while the request is open).
        """
        method.check_call(StreamType.BIDI_STREAM)
        if not self._transport.full_duplex:
            raise ConnectError(
                Code.UNIMPLEMENTED,
                f"{method.procedure} is bidi-streaming, which needs a full-duplex HTTP/2 "
                "transport; this client's transport is not (use ClientOptions(http_version='2'))",
            )
        link: StreamLink[Req, Res] = StreamLink(method.procedure)
        async with self._run_stream(method, link, headers) as responses:
            # _create cannot carry the class's type parameters; the arguments do.
            stream = cast("BidiStream[Req, Res]", BidiStream._create(method, link, responses))
            yield stream

    @asynccontextmanager
    async def _run_stream(
        self, method: MethodInfo[Req, Res], link: StreamLink[Req, Res], headers: Headers | None
    ) -> AsyncIterator[ResponseStream[Res]]:
        call = self._new_call(method, link.requests, link.responses, headers)

        async def run() -> None:
            error: BaseException | None = None
            try:
                if call.deadline == math.inf and self._default_timeout is not None:
                    await self._run_with_default_deadline(call)
                else:
                    await self._chain(call)
            except Exception as exc:  # handed to the caller by the stream
                error = exc
            except trio.Cancelled:
                # A reader still iterating must not take a cut-off stream for a whole one.
                error = ConnectError(Code.CANCELED, f"{method.procedure} was cancelled")
                raise
            finally:
                link.close(error)

        async with open_transparent_nursery() as nursery:
            nursery.start_soon(run)
            try:
                responses = cast("ResponseStream[Res]", ResponseStream._create(call, link))
                yield responses
            finally:
                nursery.cancel_scope.cancel()  # a call still running is abandoned

    async def _run_with_default_deadline(self, call: Call[Any, Any]) -> None:
        timeout = self._default_timeout
        assert timeout is not None
        with trio.move_on_after(timeout) as scope:
            call.deadline = scope.deadline
            await self._chain(call)
        if scope.cancelled_caught:
            raise ConnectError(
                Code.DEADLINE_EXCEEDED,
                f"{call.method.procedure} did not finish within the client's default timeout "
                f"of {timeout:g} s (the caller set no deadline)",
            )

    def _new_call(
        self,
        method: MethodInfo[Req, Res],
        requests: MessageReceiver[Req],
        responses: Any,
        headers: Headers | None,
    ) -> Call[Req, Res]:
        metadata = (
            headers.copy()
            if isinstance(headers, Metadata)
            else Metadata(headers)
            if headers
            else Metadata()
        )
        get = (
            self._http_get
            and method.idempotency is Idempotency.NO_SIDE_EFFECTS
            and method.stream_type is StreamType.UNARY
        )
        return Call(
            method,
            side="client",
            requests=requests,
            responses=responses,
            request_headers=metadata,
            deadline=trio.current_effective_deadline(),
            http_method="GET" if get else "POST",
        )
