"""The plugin nursery hands an endpoint's limits, default timeout and GET choice to it."""

from __future__ import annotations

import pytest
import trio
import trio.testing
import trustme

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from tests.fault_servers import blackhole
from tests.tls import client_context
from trioplugin import ClientOptions, open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import HandlerContext, open_connect_server
from trioplugin.transport import ClientLimits, HTTPVersion, UnprocessedError


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_connect_limits_reach_the_endpoints_connection(
    http_version: HTTPVersion, autojump_clock: trio.testing.MockClock
) -> None:
    limits = ClientLimits(connect_timeout=4)  # not the default: it must come from here
    assert limits.connect_timeout != ClientLimits().connect_timeout
    with trio.fail_after(60):
        async with blackhole(tls=True) as server, open_plugin_nursery([ECHO]) as host:
            handle = await host.connect(
                "stalled",
                server.url,
                options=ClientOptions(
                    ssl_context=client_context(trustme.CA()),
                    http_version=http_version,
                    limits=limits,
                ),
            )
            start = trio.current_time()
            with pytest.raises(UnprocessedError) as caught:
                await handle.stub(ECHO).Echo(EchoRequest())
            elapsed = trio.current_time() - start
    assert caught.value.code is Code.UNAVAILABLE
    assert server.connections == 1
    assert limits.connect_timeout <= elapsed <= limits.connect_timeout + 0.1


async def test_a_default_timeout_bounds_a_handle_call_whose_caller_set_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    impl = EchoImpl()
    async with (
        open_connect_server({ECHO: impl}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect("slow", server.url, options=ClientOptions(default_timeout=2))
        start = trio.current_time()
        with pytest.raises(ConnectError) as caught:
            await handle.stub(ECHO).Echo(EchoRequest(delay_ms=3_600_000))
        assert caught.value.code is Code.DEADLINE_EXCEEDED
        assert trio.current_time() - start == pytest.approx(2, abs=0.01)
        # The caller's own deadline, when it has one, is the one that counts.
        with pytest.raises(trio.TooSlowError), trio.fail_after(1):
            await handle.stub(ECHO).Echo(EchoRequest(delay_ms=3_600_000))


async def test_http_get_reaches_the_endpoints_client() -> None:
    seen: list[str] = []

    class Recording(EchoImpl):
        async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
            seen.append(ctx.http_method)
            return EchoResponse(text=request.text)

    async with (
        open_connect_server({ECHO: Recording()}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect("cached", server.url, options=ClientOptions(http_get=True))
        assert (await handle.stub(ECHO).Echo(EchoRequest(text="g"))).text == "g"
    assert seen == ["GET"]
