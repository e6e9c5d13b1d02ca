"""An EchoService that fails on command: a script of outcomes, and a log of every attempt.

Tests queue what the next calls do (``flaky.script(fail(Code.UNAVAILABLE), ok())``)
and read back when each attempt arrived (virtual time under MockClock), which
attempt number it carried, and how it ended.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import trio

from tests.echo_pb2 import EchoRequest, EchoResponse
from trioplugin.protocol import Code, ConnectError, Metadata
from trioplugin.rpc import HandlerContext, MessageReceiver


@dataclass(frozen=True)
class Outcome:
    """What one call does: succeed or fail with ``code``, maybe after a delay or some messages."""

    code: Code | None = None
    messages: int = 1
    """Response messages sent first (server- and bidi-streaming calls)."""
    delay: float = 0.0
    """Seconds the handler waits before answering (use MockClock)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers (unary errors carry them too: e.g. ``retry-after``)."""
    trailers: dict[str, str] = field(default_factory=dict)


def ok(**kwargs: object) -> Outcome:
    """A successful outcome."""
    return Outcome(**kwargs)  # type: ignore[arg-type]


def fail(code: Code = Code.UNAVAILABLE, **kwargs: object) -> Outcome:
    """A failing outcome with ``code``."""
    return Outcome(code, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Seen:
    """One attempt as the server saw it."""

    at: float
    method: str
    attempt: int
    text: str
    requests: int = 1
    timeout_ms: str | None = None
    """The ``Connect-Timeout-Ms`` the attempt carried."""


class FlakyEcho:
    """Serves EchoService; each call takes the next scripted outcome (success when none is left)."""

    def __init__(self) -> None:
        self._script: deque[Outcome] = deque()
        self.seen: list[Seen] = []
        self.cancelled = 0
        self.arrived = trio.Event()
        self.cancelled_event = trio.Event()

    def script(self, *outcomes: Outcome) -> FlakyEcho:
        """Queue outcomes for the next calls, in order."""
        self._script.extend(outcomes)
        return self

    def fail_always(self, code: Code = Code.UNAVAILABLE, count: int = 1000) -> FlakyEcho:
        """Fail the next ``count`` calls with ``code``."""
        return self.script(*[fail(code)] * count)

    @property
    def attempts(self) -> list[int]:
        """The attempt numbers the server saw, in order."""
        return [seen.attempt for seen in self.seen]

    @property
    def times(self) -> list[float]:
        """When each attempt arrived (trio time)."""
        return [seen.at for seen in self.seen]

    def _next(self, ctx: HandlerContext, text: str, requests: int = 1) -> Outcome:
        timeout = ctx.request_headers.first("connect-timeout-ms")
        self.seen.append(
            Seen(trio.current_time(), ctx.method.name, ctx.attempt, text, requests, timeout)
        )
        self.arrived.set()
        outcome = self._script.popleft() if self._script else Outcome()
        for key, value in outcome.headers.items():
            ctx.response_headers[key] = value
        ctx.response_headers["x-attempt"] = str(ctx.attempt)
        for key, value in outcome.trailers.items():
            ctx.response_trailers[key] = value
        return outcome

    async def _finish(self, outcome: Outcome, ctx: HandlerContext) -> None:
        try:
            if outcome.delay:
                await trio.sleep(outcome.delay)
        except trio.Cancelled:
            self.cancelled += 1
            self.cancelled_event.set()
            raise
        if outcome.code is not None:
            raise ConnectError(
                outcome.code,
                f"scripted failure of attempt {ctx.attempt}",
                metadata=Metadata(outcome.headers),
            )

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        outcome = self._next(ctx, request.text)
        await self._finish(outcome, ctx)
        return EchoResponse(text=request.text, index=ctx.attempt)

    async def Put(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        return await self.Echo(request, ctx)

    async def ServerStream(
        self, request: EchoRequest, ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        outcome = self._next(ctx, request.text)
        count = outcome.messages if outcome.code is not None else max(request.repeat, 1)
        for index in range(count):
            yield EchoResponse(text=request.text, index=index)
        await self._finish(outcome, ctx)

    async def ClientStream(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> EchoResponse:
        texts = [request.text async for request in requests]
        outcome = self._next(ctx, ",".join(texts), len(texts))
        await self._finish(outcome, ctx)
        return EchoResponse(text=",".join(texts), index=ctx.attempt)

    async def Bidi(
        self, requests: MessageReceiver[EchoRequest], ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        outcome: Outcome | None = None
        received = 0
        async for request in requests:
            received += 1
            if outcome is None:
                outcome = self._next(ctx, request.text)
            if outcome.code is not None and received > outcome.messages:
                break
            yield EchoResponse(text=request.text, index=ctx.attempt)
        if outcome is not None:
            await self._finish(outcome, ctx)
