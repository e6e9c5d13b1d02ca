"""The generated service, client and protocol against a real server (HTTP/2, every call kind)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from tests.echo_trioplugin import ECHO_SERVICE, EchoServiceClient, EchoServiceImpl
from trioplugin import open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import (
    BidiStreamMethod,
    ClientStreamMethod,
    ServerStreamMethod,
    UnaryMethod,
    open_client,
    open_connect_server,
)


@pytest.fixture
async def echo() -> AsyncIterator[EchoServiceClient]:
    implementation: EchoServiceImpl = EchoImpl()  # the tests' own class fits the protocol
    async with (
        open_connect_server({ECHO_SERVICE: implementation}) as server,
        open_client(server.url) as client,
    ):
        yield EchoServiceClient(client)


def test_the_generated_service_is_the_descriptor_service() -> None:
    assert ECHO_SERVICE.name == ECHO.name == "trioplugin.test.v1.EchoService"
    assert EchoServiceClient.SERVICE is ECHO_SERVICE
    assert list(ECHO_SERVICE.methods) == list(ECHO.methods)
    assert set(EchoServiceClient.__slots__) == set(ECHO_SERVICE.methods)


async def test_every_method_has_the_stub_kind(echo: EchoServiceClient) -> None:
    assert isinstance(echo.Echo, UnaryMethod)
    assert isinstance(echo.Put, UnaryMethod)
    assert isinstance(echo.ServerStream, ServerStreamMethod)
    assert isinstance(echo.ClientStream, ClientStreamMethod)
    assert isinstance(echo.Bidi, BidiStreamMethod)
    assert echo.Echo.method is ECHO_SERVICE.methods["Echo"]
    with pytest.raises(AttributeError):
        echo.Extra = echo.Echo  # type: ignore[attr-defined]


async def test_unary(echo: EchoServiceClient) -> None:
    reply = await echo.Echo(EchoRequest(text="hi"), headers={"x-trace": "abc"})
    assert isinstance(reply, EchoResponse)
    assert (reply.text, reply.seen["x-trace"], reply.seen["http-version"]) == ("hi", "abc", "2")
    full = await echo.Echo.call(EchoRequest(text="meta"))
    assert full.message.text == "meta"
    assert full.headers["x-echo"] == "1"
    assert full.trailers["x-trailer"] == "done"


async def test_unary_error(echo: EchoServiceClient) -> None:
    with pytest.raises(ConnectError) as caught:
        await echo.Put(EchoRequest(text="no", fail_code="not_found"))
    assert caught.value.code is Code.NOT_FOUND


async def test_server_stream(echo: EchoServiceClient) -> None:
    async with echo.ServerStream(EchoRequest(text="s", repeat=3)) as responses:
        assert [response.index async for response in responses] == [0, 1, 2]
    assert responses.trailers["x-count"] == "3"


async def test_client_stream(echo: EchoServiceClient) -> None:
    async def requests() -> AsyncIterator[EchoRequest]:
        for text in "abc":
            yield EchoRequest(text=text)

    assert (await echo.ClientStream(requests())).text == "a,b,c"
    full = await echo.ClientStream.call([EchoRequest(text="x"), EchoRequest(text="y")])
    assert (full.message.text, full.message.index) == ("x,y", 2)


async def test_bidi(echo: EchoServiceClient) -> None:
    with trio.fail_after(5):
        async with echo.Bidi() as stream:
            for text in ("one", "two"):
                await stream.send(EchoRequest(text=text))
                assert (await stream.receive()).text == text
            await stream.close_send()
            assert [response async for response in stream] == []


async def test_a_generated_client_on_the_wrong_server_is_unimplemented() -> None:
    class Nothing:
        pass

    async with (
        open_connect_server({ECHO_SERVICE: Nothing()}) as server,
        open_client(server.url) as client,
    ):
        with pytest.raises(ConnectError) as caught:
            await EchoServiceClient(client).Echo(EchoRequest())
    assert caught.value.code is Code.UNIMPLEMENTED


async def test_a_plugin_handle_dispenses_the_generated_client() -> None:
    # The actor layer builds generated clients on its handles (duck-typed callers).
    async with (
        open_connect_server({ECHO_SERVICE: EchoImpl()}) as server,
        open_plugin_nursery() as host,
    ):
        with trio.fail_after(10):
            handle = await host.connect("echo", server.url, services={"echo": ECHO_SERVICE})
            echo = handle.dispense("echo", EchoServiceClient)
            assert isinstance(echo, EchoServiceClient)
            assert (await echo.Echo(EchoRequest(text="via actor"))).text == "via actor"
            async with echo.ServerStream(EchoRequest(repeat=2)) as responses:
                assert [response.index async for response in responses] == [0, 1]
