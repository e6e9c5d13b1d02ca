"""A service that answers who it thinks the caller is, on every call kind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

from tests.echo_pb2 import EchoRequest, EchoResponse
from trioplugin.auth import AuthContext, get_auth_context
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import HandlerContext, MessageReceiver


def describe(context: AuthContext | None) -> dict[str, str]:
    if context is None:
        return {"identity": "anonymous"}
    seen = {"identity": context.identity, "provider": context.provider}
    seen.update({f"claim-{key}": str(value) for key, value in context.claims.items()})
    return seen


class WhoAmI:
    """Each response's ``seen`` says the auth context the handler saw (and a task it started)."""

    def __init__(self) -> None:
        self.calls = 0

    async def _seen(self) -> dict[str, str]:
        self.calls += 1
        seen = describe(get_auth_context())
        in_task: list[AuthContext | None] = []

        async def child() -> None:
            in_task.append(get_auth_context())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
        seen["in-task"] = describe(in_task[0])["identity"]
        return seen

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        seen = await self._seen()
        if request.fail_code:
            raise ConnectError(Code.ABORTED, f"the handler failed: {request.text}")
        return EchoResponse(text=request.text, seen=seen)

    async def Put(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        return await self.Echo(request, ctx)

    async def ServerStream(
        self, request: EchoRequest, ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        seen = await self._seen()
        for index in range(max(request.repeat, 1)):
            yield EchoResponse(text=request.text, index=index, seen=seen)

    async def ClientStream(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> EchoResponse:
        seen = await self._seen()
        texts = [request.text async for request in requests]
        return EchoResponse(text=",".join(texts), seen=seen)

    async def Bidi(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        seen = await self._seen()
        async for request in requests:
            yield EchoResponse(text=request.text, seen=seen)
