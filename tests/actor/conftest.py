from __future__ import annotations

import trio

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import EchoImpl
from trioplugin.rpc import HandlerContext


class GatedEcho(EchoImpl):
    """Echo that holds every call until the test opens the gate; counts who is inside."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = trio.Event()
        self.inside = 0
        self.most_inside = 0
        self.entered = 0
        self.someone_entered = trio.Event()
        self.someone_left = trio.Event()

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        self.entered += 1
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        self.someone_entered.set()
        try:
            await self.gate.wait()
        finally:
            self.inside -= 1
            self.someone_left.set()
        return EchoResponse(text=request.text)
