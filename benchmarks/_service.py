"""The benchmarked service on trioplugin: EchoService, whose one method answers the text back."""

from __future__ import annotations

from typing import Final

from trioplugin.rpc import HandlerContext, Service

from . import bench_pb2
from ._common import ECHO_TEXT
from .bench_pb2 import EchoRequest, EchoResponse

ECHO: Final = Service.from_module(bench_pb2, "EchoService")
REQUEST: Final = EchoRequest(text=ECHO_TEXT)


class Echo:
    """The handler: no work beyond decoding the request and encoding the answer."""

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        return EchoResponse(text=request.text)
