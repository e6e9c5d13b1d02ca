"""The EchoService implementation the tests serve: every call kind, with fault knobs."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import trio

from tests import echo_pb2
from tests.echo_pb2 import EchoRequest, EchoResponse, FailureInfo
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import HandlerContext, MessageReceiver, Service

ECHO = Service.from_module(echo_pb2, "EchoService")


def _fail(request: EchoRequest) -> None:
    if request.fail_code:
        code = Code.from_wire(request.fail_code)
        if code is None:
            raise RuntimeError(f"test asked for an unknown code {request.fail_code}")
        raise ConnectError(
            code, f"asked to fail: {request.text}", details=[FailureInfo(reason=request.text)]
        )


def _answer(request: EchoRequest, ctx: HandlerContext, index: int = 0) -> EchoResponse:
    seen = {key: value for key, value in ctx.request_headers.items() if key.startswith("x-")}
    timeout = ctx.request_headers.first("connect-timeout-ms")
    if timeout is not None:
        seen["connect-timeout-ms"] = timeout
    if ctx.deadline != math.inf:
        seen["remaining-ms"] = str(round(ctx.time_remaining() * 1000))
    if ctx.peer is not None:
        seen["http-version"] = ctx.peer.http_version
        if ctx.peer.tls is not None and ctx.peer.tls.peer_certificate is not None:
            subject = dict(pair[0] for pair in ctx.peer.tls.peer_certificate["subject"])
            seen["peer-cn"] = str(subject.get("commonName", ""))
    payload = request.payload or b"x" * request.response_size
    return EchoResponse(text=request.text, payload=payload, index=index, seen=seen)


class EchoImpl:
    """Answers what it is asked; records what it saw so tests can check it."""

    def __init__(self) -> None:
        self.started = trio.Event()
        self.cancelled = trio.Event()
        self.finished = trio.Event()
        self.calls = 0

    async def _delay(self, request: EchoRequest) -> None:
        if request.delay_ms:
            try:
                await trio.sleep(request.delay_ms / 1000)
            except trio.Cancelled:
                self.cancelled.set()
                raise

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        self.calls += 1
        self.started.set()
        await self._delay(request)
        _fail(request)
        ctx.response_headers["x-echo"] = "1"
        ctx.response_trailers["x-trailer"] = "done"
        return _answer(request, ctx)

    async def Put(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        if request.text == "raise":
            raise RuntimeError("secret internal detail")
        return await self.Echo(request, ctx)

    async def ServerStream(
        self, request: EchoRequest, ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        self.started.set()
        ctx.response_headers["x-echo"] = "stream"
        try:
            for index in range(request.repeat):
                yield _answer(request, ctx, index)
            await self._delay(request)
            _fail(request)
            ctx.response_trailers["x-count"] = str(request.repeat)
        except trio.Cancelled:
            self.cancelled.set()
            raise
        finally:
            self.finished.set()

    async def ClientStream(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> EchoResponse:
        texts = []
        last = EchoRequest()
        async for request in requests:
            _fail(request)
            texts.append(request.text)
            last = request
        return _answer(EchoRequest(text=",".join(texts), payload=last.payload), ctx, len(texts))

    async def Bidi(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        index = 0
        try:
            async for request in requests:
                self.started.set()
                _fail(request)
                await self._delay(request)
                yield _answer(request, ctx, index)
                index += 1
        except trio.Cancelled:
            self.cancelled.set()
            raise
