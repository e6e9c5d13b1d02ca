"""Every context manager the library hands users lets an exception from its block out unchanged.

trio wraps whatever leaves a nursery in an ExceptionGroup; a user who writes
``try: async with open_client(...): ... except ConnectError`` must catch the
ConnectError they raised (or a call raised) in the block, not a group. Each
case raises from the block of one ``open_*`` (or of a stream, an exchange, an
event subscription), fresh and after a real call (so that connection and
actor tasks are running when the error comes through).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import pytest
import trio

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from trioplugin import ClientOptions, open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import (
    Client,
    ConnectApp,
    open_client,
    open_connect_server,
    open_transport,
    serve_connect,
)
from trioplugin.transport import (
    HTTPVersion,
    Server,
    open_http1_transport,
    open_http2_transport,
    open_httpx_transport,
    open_server,
)

Case = Callable[[str, BaseException, bool], Awaitable[None]]
"""Raise the error from the block of one context manager: (server URL, error, used first)."""


async def echo(client: Client) -> None:
    """One real call through ``client``."""
    assert (await client.stub(ECHO).Echo(EchoRequest(text="hi"))).text == "hi"


# -- the cases: one per context manager --------------------------------------------------------


def client_case(http_version: HTTPVersion) -> Case:
    async def case(url: str, error: BaseException, used: bool) -> None:
        async with open_client(url, ClientOptions(http_version=http_version)) as client:
            if used:
                await echo(client)
            raise error

    return case


def transport_case(http_version: HTTPVersion) -> Case:
    async def case(url: str, error: BaseException, used: bool) -> None:
        async with open_transport(url, ClientOptions(http_version=http_version)) as transport:
            if used:
                await echo(Client(transport))
            raise error

    return case


async def h2_transport_case(url: str, error: BaseException, used: bool) -> None:
    async with open_http2_transport(url) as transport:
        if used:
            await echo(Client(transport))
        raise error


async def httpx_transport_case(url: str, error: BaseException, used: bool) -> None:
    async with open_httpx_transport(url) as transport:
        if used:
            await echo(Client(transport))
        raise error


async def h11_transport_case(url: str, error: BaseException, used: bool) -> None:
    async with open_http1_transport(url) as transport:
        if used:
            await echo(Client(transport))
        raise error


async def connect_server_case(url: str, error: BaseException, used: bool) -> None:
    async with open_connect_server({ECHO: EchoImpl()}) as server:
        if used:
            async with open_client(server.url) as client:
                await echo(client)
        raise error


async def server_case(url: str, error: BaseException, used: bool) -> None:
    async with open_server(ConnectApp({ECHO: EchoImpl()})) as server:
        if used:
            async with open_client(server.url) as client:
                await echo(client)
        raise error


async def plugin_nursery_case(url: str, error: BaseException, used: bool) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        if used:
            handle = await host.connect("echo", url)
            await handle.stub(ECHO).Echo(EchoRequest())
        raise error


def server_stream_case(http_version: HTTPVersion) -> Case:
    async def case(url: str, error: BaseException, used: bool) -> None:
        async with open_client(url, ClientOptions(http_version=http_version)) as client:
            async with client.stub(ECHO).ServerStream(EchoRequest(repeat=3)) as responses:
                if used:
                    await responses.receive()
                raise error

    return case


async def bidi_case(url: str, error: BaseException, used: bool) -> None:
    async with open_client(url) as client:
        async with client.stub(ECHO).Bidi() as stream:
            if used:
                await stream.send(EchoRequest(text="x"))
                await stream.receive()
            raise error


async def handle_server_stream_case(url: str, error: BaseException, used: bool) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect("echo", url)
        async with handle.stub(ECHO).ServerStream(EchoRequest(repeat=3)) as responses:
            if used:
                await responses.receive()
            raise error


async def handle_bidi_case(url: str, error: BaseException, used: bool) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect("echo", url)
        async with handle.stub(ECHO).Bidi() as stream:
            if used:
                await stream.send(EchoRequest(text="x"))
                await stream.receive()
            raise error


async def handle_events_case(url: str, error: BaseException, used: bool) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        handle = await host.connect("echo", url)
        async with handle.events():
            if used:
                await handle.stub(ECHO).Echo(EchoRequest())
            raise error


def exchange_case(http_version: HTTPVersion) -> Case:
    async def case(url: str, error: BaseException, used: bool) -> None:
        path = "/" + ECHO.name + "/Echo"
        headers = [("content-type", "application/proto")]
        async with open_transport(url, ClientOptions(http_version=http_version)) as transport:
            async with transport.exchange("POST", path, headers) as exchange:
                if used:
                    await exchange.send_data(b"")
                    await exchange.end_request()
                    await exchange.receive_head()
                raise error

    return case


CASES: Final[dict[str, Case]] = {
    "open_client-1.1": client_case("1.1"),
    "open_client-2": client_case("2"),
    "open_transport-1.1": transport_case("1.1"),
    "open_transport-2": transport_case("2"),
    "open_http2_transport": h2_transport_case,
    "open_httpx_transport": httpx_transport_case,
    "open_http1_transport": h11_transport_case,
    "open_connect_server": connect_server_case,
    "open_server": server_case,
    "open_plugin_nursery": plugin_nursery_case,
    "Client.server_stream-1.1": server_stream_case("1.1"),
    "Client.server_stream-2": server_stream_case("2"),
    "Client.bidi_stream": bidi_case,
    "PluginHandle.server_stream": handle_server_stream_case,
    "PluginHandle.bidi_stream": handle_bidi_case,
    "PluginHandle.events": handle_events_case,
    "exchange-1.1": exchange_case("1.1"),
    "exchange-2": exchange_case("2"),
}

ERRORS: Final[dict[str, Callable[[], BaseException]]] = {
    "ConnectError": lambda: ConnectError(Code.UNAVAILABLE, "raised in the block"),
    "ValueError": lambda: ValueError("raised in the block"),
}


@pytest.fixture
async def echo_server(nursery: trio.Nursery) -> Server:
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    return server


@pytest.mark.parametrize("used", [False, True], ids=["fresh", "used"])
@pytest.mark.parametrize("error_name", list(ERRORS))
@pytest.mark.parametrize("case_name", list(CASES))
async def test_an_exception_from_the_block_comes_out_unwrapped(
    case_name: str, error_name: str, used: bool, echo_server: Server
) -> None:
    error = ERRORS[error_name]()
    kind = type(error)
    with trio.fail_after(10):
        try:
            await CASES[case_name](echo_server.url, error, used)
        except kind as exc:
            caught: BaseException = exc
        except BaseExceptionGroup as group:
            pytest.fail(f"{case_name} wrapped the {error_name} from its block: {group!r}")
        else:
            pytest.fail(f"{case_name} swallowed the {error_name} from its block")
    assert caught is error
