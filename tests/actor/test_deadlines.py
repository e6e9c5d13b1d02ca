"""Deadlines cross every hop: host -> plugin A -> plugin B, each through an actor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from trioplugin.actor import PluginHandle
from trioplugin.plugin import open_plugin_nursery
from trioplugin.rpc import HandlerContext, open_connect_server


class Relay(EchoImpl):
    """Plugin A: waits ``delay_ms``, then calls plugin B asking it to wait ``repeat`` ms.

    With ``text == "tighten"`` it gives B at most 2 s of its own. The reply
    carries what A saw (``a-*``) and what B saw (``b-*``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.downstream: PluginHandle | None = None

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        assert self.downstream is not None
        seen = {"a-connect-timeout-ms": ctx.request_headers.first("connect-timeout-ms") or ""}
        try:
            await trio.sleep(request.delay_ms / 1000)
            b = self.downstream.stub(ECHO)
            if request.text == "tighten":
                with trio.fail_after(2):
                    reply = await b.Echo(EchoRequest(delay_ms=request.repeat))
            else:
                reply = await b.Echo(EchoRequest(delay_ms=request.repeat))
        except trio.Cancelled:
            self.cancelled.set()
            raise
        seen.update({f"b-{key}": value for key, value in reply.seen.items()})
        return EchoResponse(seen=seen)


class Chain:
    def __init__(self, a: PluginHandle, relay: Relay, b: EchoImpl) -> None:
        self.a = a
        self.relay = relay
        self.b = b


@pytest.fixture
async def chain() -> AsyncIterator[Chain]:
    relay, b = Relay(), EchoImpl()
    async with (
        open_connect_server({ECHO: b}) as server_b,
        open_connect_server({ECHO: relay}) as server_a,
        open_plugin_nursery([ECHO]) as plugin_a_side,
        open_plugin_nursery([ECHO]) as host,
    ):
        relay.downstream = await plugin_a_side.connect("b", server_b.url)
        a = await host.connect("a", server_a.url)
        yield Chain(a, relay, b)


async def test_the_deadline_reaches_the_third_hop_shortened_by_time_spent(
    chain: Chain, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        reply = await chain.a.stub(ECHO).Echo(EchoRequest(delay_ms=1000))
    assert reply.seen["a-connect-timeout-ms"] == "10000"
    assert reply.seen["b-connect-timeout-ms"] == "9000"
    assert reply.seen["b-remaining-ms"] == "9000"


async def test_a_handler_can_shorten_the_deadline_it_passes_on(
    chain: Chain, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        reply = await chain.a.stub(ECHO).Echo(EchoRequest(text="tighten"))
    assert reply.seen["b-connect-timeout-ms"] == "2000"


async def test_expiry_at_the_last_hop_cancels_every_hop(
    chain: Chain, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(trio.TooSlowError), trio.fail_after(10):
        await chain.a.stub(ECHO).Echo(EchoRequest(delay_ms=1000, repeat=60_000))
    with trio.fail_after(1):
        await chain.b.cancelled.wait()
        await chain.relay.cancelled.wait()
    assert chain.a.statistics().in_flight == 0


async def test_expiry_at_the_first_hop_never_reaches_the_last(
    chain: Chain, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(trio.TooSlowError), trio.fail_after(1):
        await chain.a.stub(ECHO).Echo(EchoRequest(delay_ms=60_000))
    with trio.fail_after(1):
        await chain.relay.cancelled.wait()
    assert chain.b.calls == 0
