"""Endpoints on one origin share one HTTP/2 connection, and each still closes on its own."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.actor.conftest import GatedEcho
from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from trioplugin.actor import open_endpoint_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import ClientOptions, serve_connect
from trioplugin.transport import ClientLimits, Server, open_http2_transport


async def test_endpoints_on_one_origin_call_over_one_connection(nursery: trio.Nursery) -> None:
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    async with open_endpoint_nursery([ECHO]) as host:
        handles = [await host.connect(f"echo-{n}", server.url) for n in range(5)]
        for handle in handles:
            reply = await handle.stub(ECHO).Echo(EchoRequest(text="hi"))
            assert reply.text == "hi"
        assert server.statistics().connections_accepted == 1


async def test_other_connection_options_get_a_connection_of_their_own(
    nursery: trio.Nursery,
) -> None:
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    other = ClientOptions(limits=ClientLimits(connect_timeout=7.0))
    async with open_endpoint_nursery([ECHO]) as host:
        first = await host.connect("first", server.url)
        second = await host.connect("second", server.url, options=other)
        await first.stub(ECHO).Echo(EchoRequest())
        await second.stub(ECHO).Echo(EchoRequest())
        assert server.statistics().connections_accepted == 2


async def test_a_path_prefix_is_each_endpoints_own(nursery: trio.Nursery) -> None:
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    async with open_endpoint_nursery([ECHO]) as host:
        at_root = await host.connect("root", server.url)
        under_a_path = await host.connect("prefixed", server.url + "/elsewhere")
        await at_root.stub(ECHO).Echo(EchoRequest())
        with pytest.raises(ConnectError) as caught:
            await under_a_path.stub(ECHO).Echo(EchoRequest())
        assert caught.value.code is Code.UNIMPLEMENTED  # not served under /elsewhere
        await at_root.stub(ECHO).Echo(EchoRequest())
        assert server.statistics().connections_accepted == 1


async def test_closing_one_endpoint_fails_its_own_calls_and_no_one_elses(
    nursery: trio.Nursery,
) -> None:
    gated = GatedEcho()
    server: Server = await nursery.start(serve_connect, {ECHO: gated})
    async with open_endpoint_nursery([ECHO]) as host:
        leaving = await host.connect("leaving", server.url)
        staying = await host.connect("staying", server.url)
        outcomes: dict[str, object] = {}

        async def call(name: str) -> None:
            handle = leaving if name == "leaving" else staying
            try:
                outcomes[name] = (await handle.stub(ECHO).Echo(EchoRequest(text=name))).text
            except ConnectError as exc:
                outcomes[name] = exc

        async with trio.open_nursery() as callers:
            callers.start_soon(call, "leaving")
            callers.start_soon(call, "staying")
            while gated.inside < 2:
                await gated.someone_entered.wait()
                gated.someone_entered = trio.Event()
            await leaving.aclose()  # its call ends now, with the server still holding it
            failed = outcomes["leaving"]
            assert isinstance(failed, ConnectError)
            assert failed.code is Code.CANCELED
            assert "closed while" in failed.message
            assert "staying" not in outcomes
            gated.gate.set()
        assert outcomes["staying"] == "staying"
        await staying.stub(ECHO).Echo(EchoRequest())
        assert server.statistics().connections_accepted == 1


async def test_the_last_endpoint_out_closes_the_connection(nursery: trio.Nursery) -> None:
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    async with open_endpoint_nursery([ECHO]) as host:
        first = await host.connect("first", server.url)
        second = await host.connect("second", server.url)
        await first.stub(ECHO).Echo(EchoRequest())
        await second.stub(ECHO).Echo(EchoRequest())
        await first.aclose()
        await second.stub(ECHO).Echo(EchoRequest())  # the connection is still the one
        assert server.statistics().connections_accepted == 1
        await second.aclose()
        assert host._shared._entries == {}  # nothing held for the origin any more
        third = await host.connect("third", server.url)
        await third.stub(ECHO).Echo(EchoRequest())
        assert server.statistics().connections_accepted == 2


async def test_a_first_call_cancelled_while_the_transport_opens_leaves_nothing(
    nursery: trio.Nursery,
) -> None:
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    async with open_endpoint_nursery([ECHO]) as host:
        handle = await host.connect("echo", server.url)
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(ConnectError):
                await handle.stub(ECHO).Echo(EchoRequest())
        await trio.testing.wait_all_tasks_blocked()
        reply = await handle.stub(ECHO).Echo(EchoRequest(text="after"))
        assert reply.text == "after"


async def test_http1_endpoints_keep_pools_of_their_own(nursery: trio.Nursery) -> None:
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    options = ClientOptions(http_version="1.1")
    async with open_endpoint_nursery([ECHO], options=options) as host:
        first = await host.connect("first", server.url)
        second = await host.connect("second", server.url)
        await first.stub(ECHO).Echo(EchoRequest())
        await second.stub(ECHO).Echo(EchoRequest())
        assert server.statistics().connections_accepted == 2
        assert host._shared._entries == {}


async def test_a_closed_share_fails_its_exchanges_and_leaves_the_transport_open(
    nursery: trio.Nursery,
) -> None:
    gated = GatedEcho()
    server: Server = await nursery.start(serve_connect, {ECHO: gated})
    path = f"/{ECHO.name}/Echo"
    headers = [("content-type", "application/proto")]
    async with open_http2_transport(server.url) as transport:
        mine, theirs = transport.share(), transport.share()
        async with mine.exchange("POST", path, headers, body=b"") as exchange:
            await gated.someone_entered.wait()
            await mine.aclose()
            with pytest.raises(ConnectError) as caught:
                await exchange.receive_head()
            assert caught.value.code is Code.UNAVAILABLE
        with pytest.raises(ConnectError, match="transport is closed"):
            async with mine.exchange("POST", path, headers, body=b""):
                pass  # pragma: no cover - entering fails
        gated.gate.set()
        async with theirs.exchange("POST", path, headers, body=b"") as exchange:
            status, _ = await exchange.receive_head()
            assert status == 200
        assert transport.statistics().connections_opened == 1


def test_a_share_prefix_is_a_path() -> None:
    async def main() -> None:
        async with open_http2_transport("http://127.0.0.1:1") as transport:
            assert transport.share("/api/").base_url == "http://127.0.0.1:1/api"
            with pytest.raises(ValueError, match="must start with '/'"):
                transport.share("api")
            with pytest.raises(ValueError, match="whitespace"):
                transport.share("/a b")

    trio.run(main)
