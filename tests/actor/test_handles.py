"""Connecting, calling, dispensing and observing plugins through their actors."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest
import trio

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from trioplugin.actor import (
    ActorState,
    PluginHandle,
    StateChanged,
)
from trioplugin.plugin import PluginNursery, open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import Call, CallNext, open_connect_server
from trioplugin.transport import Server


@pytest.fixture
async def echo_server(nursery: trio.Nursery) -> Server:
    from trioplugin.rpc import serve_connect

    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    return server


async def test_call_every_kind_through_a_handle(echo_server: Server) -> None:
    async with open_plugin_nursery() as host:
        handle = await host.connect("echo", echo_server.url, services={"echo": ECHO})
        echo = handle.dispense("echo")
        assert (await echo.Echo(EchoRequest(text="hi"))).text == "hi"
        async with echo.ServerStream(EchoRequest(repeat=3)) as responses:
            assert [r.index async for r in responses] == [0, 1, 2]
        assert (
            await echo.ClientStream([EchoRequest(text="a"), EchoRequest(text="b")])
        ).text == "a,b"
        async with echo.Bidi() as stream:
            await stream.send(EchoRequest(text="ping"))
            assert (await stream.receive()).text == "ping"
            await stream.close_send()
        stats = handle.statistics()
        assert (stats.completed, stats.failed, stats.in_flight, stats.queued) == (4, 0, 0, 0)
        assert stats.state is ActorState.RUNNING


async def test_services_by_list_are_dispensed_by_short_name(echo_server: Server) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect("echo", echo_server.url)
        assert set(handle.services) == {"EchoService"}
        assert handle.dispense("EchoService") is handle.stub(ECHO)
        assert host["echo"] is handle


async def test_dispense_fails_clearly(echo_server: Server) -> None:
    class OtherClient:
        SERVICE = None

        def __init__(self, caller: Any) -> None:
            pass

    async with open_plugin_nursery() as host:
        handle = await host.connect("echo", echo_server.url, services={"echo": ECHO})
        with pytest.raises(LookupError, match="no service named 'kv'; it has: echo"):
            handle.dispense("kv")
        with pytest.raises(TypeError, match="OtherClient is a client for no service"):
            handle.dispense("echo", OtherClient)
        with pytest.raises(LookupError, match="no plugin named 'nope'; connected: echo"):
            host["nope"]
        with pytest.raises(ValueError, match="already connected"):
            await host.connect("echo", echo_server.url)


def test_handles_and_nurseries_cannot_be_built_by_hand() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        PluginHandle()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="no public constructor"):
        PluginNursery()  # type: ignore[call-arg]


async def test_errors_come_back_as_connect_errors(echo_server: Server) -> None:
    async with open_plugin_nursery() as host:
        handle = await host.connect("echo", echo_server.url, services=[ECHO])
        with pytest.raises(ConnectError) as caught:
            await handle.stub(ECHO).Echo(EchoRequest(fail_code="not_found"))
        assert caught.value.code is Code.NOT_FOUND
        assert handle.statistics().failed == 1


async def test_a_dead_endpoint_fails_fast_with_unavailable() -> None:
    async with open_connect_server({ECHO: EchoImpl()}) as server:
        url = server.url
    async with open_plugin_nursery() as host:
        handle = await host.connect("gone", url, services=[ECHO])
        with trio.fail_after(5), pytest.raises(ConnectError) as caught:
            await handle.stub(ECHO).Echo(EchoRequest())
        assert caught.value.code is Code.UNAVAILABLE


async def test_events_report_state_changes(echo_server: Server) -> None:
    async with open_plugin_nursery() as host:
        handle = await host.connect("echo", echo_server.url, services=[ECHO])
        async with handle.events() as events:
            await handle.aclose()
            got = [event async for event in events]
    assert got == [
        StateChanged("echo", ActorState.RUNNING, ActorState.CLOSING),
        StateChanged("echo", ActorState.CLOSING, ActorState.CLOSED),
    ]
    assert handle.state is ActorState.CLOSED


async def test_calls_after_close_are_unavailable(echo_server: Server) -> None:
    async with open_plugin_nursery() as host:
        handle = await host.connect("echo", echo_server.url, services=[ECHO])
        await handle.aclose()
        with pytest.raises(ConnectError) as caught:
            await handle.stub(ECHO).Echo(EchoRequest())
        assert caught.value.code is Code.UNAVAILABLE
        assert "closed" in caught.value.message


async def test_interceptors_are_part_of_the_connect_configuration(echo_server: Server) -> None:
    seen: list[str] = []

    class Tag:
        async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
            call.request_headers["x-tag"] = "from-host"
            await call_next(call)
            seen.append(call.method.name)

    async with open_plugin_nursery() as host:
        handle = await host.connect("echo", echo_server.url, services=[ECHO], interceptors=[Tag()])
        reply = await handle.stub(ECHO).Echo(EchoRequest())
    assert reply.seen["x-tag"] == "from-host"
    assert seen == ["Echo"]


async def test_an_exception_in_the_block_passes_through_unwrapped(echo_server: Server) -> None:
    with pytest.raises(KeyError):
        async with open_plugin_nursery() as host:
            await host.connect("echo", echo_server.url, services=[ECHO])
            raise KeyError("mine")


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


async def test_the_callers_contextvars_reach_interceptors_in_the_actor(
    echo_server: Server,
) -> None:
    class ForwardRequestId:
        async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
            call.request_headers["x-request-id"] = REQUEST_ID.get()
            await call_next(call)

    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect("echo", echo_server.url, interceptors=[ForwardRequestId()])
        echo = handle.stub(ECHO)
        token = REQUEST_ID.set("req-1")
        try:
            reply = await echo.Echo(EchoRequest())
            async with echo.ServerStream(EchoRequest(repeat=1)) as responses:
                streamed = [r async for r in responses]
        finally:
            REQUEST_ID.reset(token)
        assert reply.seen["x-request-id"] == "req-1"
        assert streamed[0].seen["x-request-id"] == "req-1"
        # A call made outside the caller's context sees the default.
        assert (await echo.Echo(EchoRequest())).seen["x-request-id"] == "none"


async def test_a_stream_cut_off_by_closing_the_plugin_ends_with_an_error(
    echo_server: Server,
) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect("echo", echo_server.url)
        with pytest.raises(ConnectError) as caught:
            async with handle.stub(ECHO).ServerStream(
                EchoRequest(repeat=1, delay_ms=3_600_000)
            ) as responses:
                await responses.receive()
                await handle.aclose()
                await responses.receive()
        assert caught.value.code is Code.CANCELED
