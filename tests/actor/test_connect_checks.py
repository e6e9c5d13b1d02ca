"""connect() checks its URL at once, and with wait_ready waits until the endpoint answers."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from trioplugin import ClientLimits, ClientOptions, open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import ServerOptions, open_connect_server
from trioplugin.transport import TLSError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("localhost:8080", "must be http:// or https://"),
        ("http://", "has no host"),
        ("http://127.0.0.1:8080/?debug=1", "must not have a query or a fragment"),
    ],
)
async def test_a_url_no_client_can_reach_fails_at_connect(url: str, says: str) -> None:
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(ValueError, match=says):
            await host.connect("echo", url)
        assert dict(host.handles) == {}  # no actor was started


async def test_wait_ready_returns_once_the_endpoint_answers() -> None:
    async with (
        open_connect_server({ECHO: EchoImpl()}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect("echo", server.url, wait_ready=True)
        assert (await handle.stub(ECHO).Echo(EchoRequest(text="up"))).text == "up"


async def test_wait_ready_fails_at_connect_when_nothing_answers() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    options = ClientOptions(limits=ClientLimits(connect_timeout=0.3))
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(ConnectError) as caught:
            await host.connect("echo", url, options=options, wait_ready=True)
        assert caught.value.code is Code.UNAVAILABLE
        assert caught.value.message.startswith(
            f"plugin 'echo': nothing answered at {url} within 0.3 s: cannot connect to"
        )
        assert "connection refused" in caught.value.message
        assert dict(host.handles) == {}


async def test_wait_ready_waits_for_a_server_that_comes_up() -> None:
    port = free_port()
    connected = trio.Event()
    async with open_plugin_nursery([ECHO]) as host, trio.open_nursery() as nursery:

        async def connect() -> None:
            await host.connect("echo", f"http://127.0.0.1:{port}", wait_ready=True)
            connected.set()

        nursery.start_soon(connect)
        await trio.testing.wait_all_tasks_blocked()  # refused, waiting to try again
        assert not connected.is_set()
        async with open_connect_server({ECHO: EchoImpl()}, ServerOptions(port=port)):
            with trio.fail_after(10):
                await connected.wait()
            echo = host["echo"].stub(ECHO)
            assert (await echo.Echo(EchoRequest(text="late"))).text == "late"


async def test_wait_ready_gives_up_at_once_on_a_tls_failure() -> None:
    options = ClientOptions(limits=ClientLimits(connect_timeout=60))
    async with (
        open_connect_server({ECHO: EchoImpl()}) as server,  # cleartext only
        open_plugin_nursery([ECHO]) as host,
    ):
        url = server.url.replace("http://", "https://")
        with trio.fail_after(10), pytest.raises(TLSError):
            await host.connect("echo", url, options=options, wait_ready=True)
