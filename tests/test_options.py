"""The options of each side: checked when made, and taken by every entry point of that side."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from trioplugin import (
    ActorOptions,
    ActorState,
    ClientLimits,
    ClientOptions,
    ConnectApp,
    ServerLimits,
    ServerOptions,
    open_client,
    open_connect_server,
    open_plugin_nursery,
    serve_connect,
)
from trioplugin.protocol import GZIP, JSON, PROTO, Code, ConnectError
from trioplugin.rpc import Client, open_transport
from trioplugin.transport import Server, open_http1_transport

# (options type, the field given, what is given, the error, the words it must say)
BAD: list[tuple[type, str, object, type[Exception], str]] = [
    (ClientOptions, "http_version", "3", ValueError, "'1.1' or '2'"),
    (ClientOptions, "ssl_context", "yes", TypeError, "ssl.SSLContext or None"),
    (ClientOptions, "limits", ServerLimits(), TypeError, "ClientLimits"),
    (ClientOptions, "codec", "xml", ValueError, "unknown codec 'xml'"),
    (ClientOptions, "codec", 3, TypeError, "a Codec or a codec name"),
    (ClientOptions, "send_compression", "gzip", TypeError, "a Compression"),
    (ClientOptions, "accept_compressions", "gzip", TypeError, "not a string"),
    (ClientOptions, "accept_compressions", [GZIP, "br"], TypeError, "hold Compressions"),
    (ClientOptions, "max_message_size", 0, ValueError, "at least 1"),
    (ClientOptions, "max_message_size", 1.5, TypeError, "an int"),
    (ClientOptions, "compress_min_bytes", -1, ValueError, "at least 0"),
    (ClientOptions, "default_timeout", 0, ValueError, "positive"),
    (ClientOptions, "default_timeout", "5", TypeError, "seconds or None"),
    (ClientOptions, "http_get", "no", TypeError, "True or False"),
    (ClientOptions, "get_url_limit", 0, ValueError, "at least 1"),
    (ServerOptions, "host", 127, TypeError, "host name or address"),
    (ServerOptions, "port", 70000, ValueError, "between 0 and 65535"),
    (ServerOptions, "limits", ClientLimits(), TypeError, "ServerLimits"),
    (ServerOptions, "codecs", (), ValueError, "at least one codec"),
    (ServerOptions, "codecs", ("proto",), TypeError, "hold Codecs"),
    (ServerOptions, "compressions", [None], TypeError, "hold Compressions"),
    (ServerOptions, "max_message_size", -5, ValueError, "at least 1"),
    (ActorOptions, "inbox_capacity", -1, ValueError, "at least 0"),
    (ActorOptions, "max_in_flight", 0, ValueError, "at least 1"),
    (ActorOptions, "max_in_flight", True, TypeError, "an int"),
    (ClientLimits, "connect_timeout", float("nan"), ValueError, "positive"),
    (ClientLimits, "keepalive_interval", -1, ValueError, "positive"),
    (ClientLimits, "stream_window", 2**31, ValueError, "between 1 and 2147483647"),
    (ClientLimits, "connection_window", 0, ValueError, "between 1"),
    (ClientLimits, "close_timeout", -0.5, ValueError, "zero or more"),
    (ClientLimits, "max_connections", 0, ValueError, "at least 1"),
    (ClientLimits, "idle_timeout", 0, ValueError, "positive"),
    (ServerLimits, "max_header_size", 100, ValueError, "at least 1024"),
    (ServerLimits, "max_concurrent_streams", 0, ValueError, "between 1"),
    (ServerLimits, "header_read_timeout", 0, ValueError, "positive"),
    (ServerLimits, "max_connections", 0, ValueError, "at least 1"),
    (ServerLimits, "grace_period", -1, ValueError, "zero or more"),
    (ServerLimits, "grace_period", None, TypeError, "a number of seconds"),
]


@pytest.mark.parametrize(
    ("kind", "field", "value", "error", "words"),
    BAD,
    ids=[f"{kind.__name__}.{field}={value!r}" for kind, field, value, _, _ in BAD],
)
def test_a_wrong_value_is_refused_where_it_is_given_naming_the_field(
    kind: type, field: str, value: object, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as caught:
        kind(**{field: value})
    message = str(caught.value)
    assert f"{kind.__name__}.{field}" in message
    assert words in message


def test_options_are_frozen_values_with_their_sequences_as_tuples() -> None:
    options = ClientOptions(codec="json", accept_compressions=[GZIP])
    assert options.codec is JSON  # the name, resolved when made
    assert options.accept_compressions == (GZIP,)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.codec = PROTO  # type: ignore[misc]
    assert dataclasses.replace(options, http_get=True).codec is JSON
    assert ClientOptions() == ClientOptions()
    assert ServerOptions(codecs=[PROTO]).codecs == (PROTO,)
    # The defaults are the documented ones.
    assert ClientOptions().http_version == "2"
    assert ServerLimits().grace_period == 5.0
    assert ActorOptions() == ActorOptions(inbox_capacity=256, max_in_flight=128)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Client(None, "proto"), id="Client"),  # type: ignore[arg-type]
        pytest.param(lambda: ConnectApp({}, ClientOptions()), id="ConnectApp"),  # type: ignore[arg-type]
    ],
)
def test_options_of_the_wrong_side_are_refused(make: Any) -> None:
    with pytest.raises(TypeError, match="options must be a"):
        make()


async def test_the_client_options_reach_the_transport_open_client_makes() -> None:
    # An HTTP/1.1 pool of one connection: two calls at once go one after the other.
    impl = EchoImpl()
    options = ClientOptions(http_version="1.1", limits=ClientLimits(max_connections=1))
    async with (
        open_connect_server({ECHO: impl}) as server,
        open_client(server.url, options) as client,
    ):
        assert client.options is options
        echo = client.stub(ECHO)
        async with trio.open_nursery() as nursery:
            for text in "ab":
                nursery.start_soon(echo.Echo, EchoRequest(text=text, delay_ms=20))
        assert server.statistics().connections_accepted == 1
        # ... and bidi needs HTTP/2, which these options did not pick.
        with pytest.raises(ConnectError) as caught:
            async with echo.Bidi():
                pass
        assert caught.value.code is Code.UNIMPLEMENTED


async def test_open_transport_picks_the_http_version_of_the_options() -> None:
    async with open_connect_server({ECHO: EchoImpl()}) as server:
        async with open_transport(server.url, ClientOptions(http_version="1.1")) as transport:
            assert not transport.full_duplex
        async with open_transport(server.url) as transport:
            assert transport.full_duplex


async def test_the_nursery_gives_its_options_to_every_endpoint_unless_connect_says_otherwise() -> (
    None
):
    async with (
        open_connect_server({ECHO: EchoImpl()}) as server,
        open_plugin_nursery(
            [ECHO],
            options=ClientOptions(http_version="1.1"),
            actor=ActorOptions(max_in_flight=7, inbox_capacity=3),
        ) as host,
    ):
        inherited = await host.connect("inherited", server.url)
        own = await host.connect(
            "own", server.url, options=ClientOptions(), actor=ActorOptions(max_in_flight=2)
        )
        assert (await inherited.stub(ECHO).Echo(EchoRequest(text="x"))).text == "x"
        stats = inherited.statistics()
        assert (stats.max_in_flight, stats.inbox_capacity) == (7, 3)
        assert own.statistics().max_in_flight == 2
        with pytest.raises(ConnectError) as caught:  # HTTP/1.1: no bidi
            async with inherited.stub(ECHO).Bidi():
                pass
        assert caught.value.code is Code.UNIMPLEMENTED
        async with own.stub(ECHO).Bidi() as stream:  # HTTP/2
            await stream.send(EchoRequest(text="y"))
            assert (await stream.receive()).text == "y"


async def test_connect_refuses_options_of_the_wrong_type_before_starting_anything() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        with pytest.raises(TypeError, match="options must be a ClientOptions"):
            await host.connect("p", "http://127.0.0.1:1", options="json")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="actor must be an ActorOptions"):
            await host.connect("p", "http://127.0.0.1:1", actor=3)  # type: ignore[arg-type]
        assert not host.handles
    with pytest.raises(TypeError, match="options must be a ClientOptions"):
        async with open_plugin_nursery(options=ServerOptions()):  # type: ignore[arg-type]
            pass


async def test_a_name_is_free_again_once_its_handle_has_closed() -> None:
    async with (
        open_connect_server({ECHO: EchoImpl()}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        first = await host.connect("p", server.url)
        with pytest.raises(ValueError, match="already connected"):
            await host.connect("p", server.url)
        await first.aclose()
        assert first.state is ActorState.CLOSED
        second = await host.connect("p", server.url)
        assert host["p"] is second
        assert (await second.stub(ECHO).Echo(EchoRequest(text="again"))).text == "again"


async def test_the_server_options_reach_the_app_and_the_listener() -> None:
    # Only the proto codec, and a listener given instead of host and port.
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    options = ServerOptions(codecs=[PROTO], port=1)  # port is not used: the listener is
    async with open_connect_server({ECHO: EchoImpl()}, options, listeners=listeners) as server:
        assert server.port == port
        async with open_client(server.url, ClientOptions(codec="json")) as client:
            with pytest.raises(ConnectError) as caught:
                await client.stub(ECHO).Echo(EchoRequest(text="j"))
        # The Connect spec's answer to an unsupported codec: HTTP 415 (its code, unknown).
        assert caught.value.code is Code.UNKNOWN
        assert "415" in caught.value.message


async def test_serve_connect_takes_the_same_options(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # A grace period of 2 s: a call still running at shutdown is cancelled after it.
    options = ServerOptions(limits=ServerLimits(grace_period=2))
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()}, options)
    async with open_client(server.url) as client:
        assert (await client.stub(ECHO).Echo(EchoRequest(text="s"))).text == "s"
        async with trio.open_nursery() as calls:

            async def slow_call() -> None:
                with pytest.raises(ConnectError):
                    await client.stub(ECHO).Echo(EchoRequest(delay_ms=3_600_000))

            calls.start_soon(slow_call)
            await trio.testing.wait_all_tasks_blocked()
            start = trio.current_time()
            await server.aclose()
            assert trio.current_time() - start == pytest.approx(2, abs=0.1)


async def test_the_http1_transport_takes_its_pool_from_the_limits() -> None:
    async with (
        open_connect_server({ECHO: EchoImpl()}) as server,
        open_http1_transport(server.url, limits=ClientLimits(max_connections=1)) as transport,
    ):
        client = Client(transport)
        echo = client.stub(ECHO)
        async with trio.open_nursery() as nursery:
            for text in "abc":
                nursery.start_soon(echo.Echo, EchoRequest(text=text, delay_ms=10))
        assert server.statistics().connections_accepted == 1
