"""The plugin nursery hands an endpoint's ClientLimits to its connection."""

from __future__ import annotations

import pytest
import trio
import trio.testing
import trustme

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.fault_servers import blackhole
from tests.tls import client_context
from trioplugin.actor import open_plugin_nursery
from trioplugin.protocol import Code
from trioplugin.rpc import HTTPVersionChoice
from trioplugin.transport import ClientLimits, UnprocessedError


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_connect_limits_reach_the_endpoints_connection(
    http_version: HTTPVersionChoice, autojump_clock: trio.testing.MockClock
) -> None:
    limits = ClientLimits(connect_timeout=4)  # not the default: it must come from here
    assert limits.connect_timeout != ClientLimits().connect_timeout
    with trio.fail_after(60):
        async with blackhole(tls=True) as server, open_plugin_nursery([ECHO]) as host:
            handle = await host.connect(
                "stalled",
                server.url,
                tls=client_context(trustme.CA()),
                http_version=http_version,
                limits=limits,
            )
            start = trio.current_time()
            with pytest.raises(UnprocessedError) as caught:
                await handle.stub(ECHO).Echo(EchoRequest())
            elapsed = trio.current_time() - start
    assert caught.value.code is Code.UNAVAILABLE
    assert server.connections == 1
    assert limits.connect_timeout <= elapsed <= limits.connect_timeout + 0.1
