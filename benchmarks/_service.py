"""The benchmarked service on trioplugin: EchoService, whose methods answer the text back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from trioplugin.rpc import HandlerContext, MessageReceiver, Service

from . import bench_pb2
from ._common import ECHO_TEXT
from .bench_pb2 import EchoRequest, EchoResponse, StreamRequest

ECHO: Final = Service.from_module(bench_pb2, "EchoService")
REQUEST: Final = EchoRequest(text=ECHO_TEXT)


class Echo:
    """The handler: no work beyond decoding the requests and encoding the answers."""

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        return EchoResponse(text=request.text)

    async def ServerStream(
        self, request: StreamRequest, ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        response = EchoResponse(text=request.text)
        for _ in range(request.count):
            yield response

    async def Bidi(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        async for request in requests:
            yield EchoResponse(text=request.text)
