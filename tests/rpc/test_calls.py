"""All four call kinds, both codecs, compression and metadata, over real servers."""

from __future__ import annotations

import pytest
import trio

from tests.echo_pb2 import EchoRequest, EchoResponse, FailureInfo
from tests.echo_service import ECHO, EchoImpl
from trioplugin import ClientOptions
from trioplugin.protocol import GZIP, Code, ConnectError
from trioplugin.rpc import Client, open_client
from trioplugin.transport import HTTPVersion, Server


async def test_unary_round_trip_with_headers_and_trailers(client: Client) -> None:
    echo = client.stub(ECHO)
    response = await echo.Echo.call(EchoRequest(text="hi"), headers={"x-trace": "abc"})
    assert response.message.text == "hi"
    assert response.message.seen["x-trace"] == "abc"
    assert response.headers["x-echo"] == "1"
    assert response.trailers["x-trailer"] == "done"
    assert "trailer-x-trailer" not in response.headers


async def test_unary_stub_returns_the_message(client: Client) -> None:
    reply = await client.stub(ECHO).Echo(EchoRequest(text="plain"))
    assert isinstance(reply, EchoResponse)
    assert reply.text == "plain"


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_json_codec(echo_server: Server, http_version: HTTPVersion) -> None:
    async with open_client(
        echo_server.url, ClientOptions(http_version=http_version, codec="json")
    ) as client:
        echo = client.stub(ECHO)
        assert (await echo.Echo(EchoRequest(text="json"))).text == "json"
        async with echo.ServerStream(EchoRequest(text="s", repeat=2)) as responses:
            assert [r.index async for r in responses] == [0, 1]


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_gzip_both_ways(echo_server: Server, http_version: HTTPVersion) -> None:
    payload = b"abc" * 10_000
    async with open_client(
        echo_server.url,
        ClientOptions(http_version=http_version, send_compression=GZIP),
    ) as client:
        echo = client.stub(ECHO)
        response = await echo.Echo.call(EchoRequest(payload=payload))
        assert response.message.payload == payload
        assert response.headers.first("content-encoding") == "gzip"
        async with echo.ServerStream(EchoRequest(payload=payload, repeat=3)) as responses:
            assert [r.payload async for r in responses] == [payload] * 3
            assert responses.headers.first("connect-content-encoding") == "gzip"
        reply = await echo.ClientStream(EchoRequest(text=str(i), payload=payload) for i in range(3))
        assert reply.text == "0,1,2" and reply.payload == payload


async def test_server_stream(client: Client) -> None:
    async with client.stub(ECHO).ServerStream(EchoRequest(text="s", repeat=5)) as responses:
        got = [response.index async for response in responses]
    assert got == [0, 1, 2, 3, 4]
    assert responses.headers["x-echo"] == "stream"
    assert responses.trailers["x-count"] == "5"


async def test_server_stream_with_no_messages(client: Client) -> None:
    async with client.stub(ECHO).ServerStream(EchoRequest(repeat=0)) as responses:
        assert [r async for r in responses] == []


async def test_server_stream_error_after_messages(client: Client) -> None:
    request = EchoRequest(text="boom", repeat=2, fail_code="aborted")
    got = []
    with pytest.raises(ConnectError) as caught:
        async with client.stub(ECHO).ServerStream(request) as responses:
            async for response in responses:
                got.append(response.index)
    assert got == [0, 1]
    assert caught.value.code is Code.ABORTED
    assert caught.value.unpack_details(FailureInfo) == [FailureInfo(reason="boom")]


async def test_leaving_a_server_stream_early_cancels_the_handler(
    client: Client, echo_impl: EchoImpl
) -> None:
    request = EchoRequest(repeat=1, delay_ms=60_000)
    async with client.stub(ECHO).ServerStream(request) as responses:
        first = await responses.receive()
        assert first.index == 0
    with trio.fail_after(10):
        await echo_impl.cancelled.wait()


async def test_client_stream(client: Client) -> None:
    echo = client.stub(ECHO)
    reply = await echo.ClientStream([EchoRequest(text="a"), EchoRequest(text="b")])
    assert (reply.text, reply.index) == ("a,b", 2)

    async def generate() -> object:
        for text in "xyz":
            yield EchoRequest(text=text)

    assert (await echo.ClientStream(generate())).text == "x,y,z"
    assert (await echo.ClientStream([])).index == 0


async def test_client_stream_error(client: Client) -> None:
    with pytest.raises(ConnectError) as caught:
        await client.stub(ECHO).ClientStream([EchoRequest(text="a", fail_code="out_of_range")])
    assert caught.value.code is Code.OUT_OF_RANGE


async def test_bidi_ping_pong_over_http2(echo_server: Server) -> None:
    async with open_client(echo_server.url) as client:
        async with client.stub(ECHO).Bidi() as stream:
            for index in range(5):
                await stream.send(EchoRequest(text=f"ping {index}"))
                response = await stream.receive()
                assert (response.text, response.index) == (f"ping {index}", index)
            await stream.close_send()
            assert [r async for r in stream] == []


async def test_bidi_error_reaches_the_receiver(echo_server: Server) -> None:
    async with open_client(echo_server.url) as client:
        with pytest.raises(ConnectError) as caught:
            async with client.stub(ECHO).Bidi() as stream:
                await stream.send(EchoRequest(text="ok"))
                await stream.receive()
                await stream.send(EchoRequest(fail_code="data_loss"))
                await stream.receive()
        assert caught.value.code is Code.DATA_LOSS


async def test_bidi_needs_a_full_duplex_transport(echo_server: Server) -> None:
    async with open_client(echo_server.url, ClientOptions(http_version="1.1")) as client:
        with pytest.raises(ConnectError) as caught:
            async with client.stub(ECHO).Bidi():
                pass
        assert caught.value.code is Code.UNIMPLEMENTED
        assert "full-duplex" in caught.value.message


async def test_leaving_bidi_early_cancels_the_handler(
    echo_server: Server, echo_impl: EchoImpl
) -> None:
    async with open_client(echo_server.url) as client:
        async with client.stub(ECHO).Bidi() as stream:
            await stream.send(EchoRequest(delay_ms=60_000))
            with trio.fail_after(10):
                await echo_impl.started.wait()
        with trio.fail_after(10):
            await echo_impl.cancelled.wait()


async def test_error_with_details_and_metadata(client: Client) -> None:
    with pytest.raises(ConnectError) as caught:
        await client.stub(ECHO).Echo(EchoRequest(text="why", fail_code="failed_precondition"))
    error = caught.value
    assert error.code is Code.FAILED_PRECONDITION
    assert error.message == "asked to fail: why"
    assert error.unpack_details(FailureInfo) == [FailureInfo(reason="why")]
    assert error.wire


async def test_handler_exception_is_internal_without_its_text(client: Client) -> None:
    with pytest.raises(ConnectError) as caught:
        await client.stub(ECHO).Put(EchoRequest(text="raise"))
    assert caught.value.code is Code.INTERNAL
    assert "secret" not in caught.value.message
    assert "Traceback" not in caught.value.message
    # ...and the server goes on serving.
    assert (await client.stub(ECHO).Echo(EchoRequest(text="still here"))).text == "still here"


async def test_wrong_request_type_is_refused_before_sending(client: Client) -> None:
    with pytest.raises(TypeError, match=r"trioplugin\.test\.v1\.EchoRequest"):
        await client.stub(ECHO).Echo(EchoResponse())


async def test_unknown_stub_attribute_lists_the_methods(client: Client) -> None:
    with pytest.raises(AttributeError, match="Echo, Put, ServerStream"):
        client.stub(ECHO).Nope  # noqa: B018


async def test_response_larger_than_the_client_limit(echo_server: Server) -> None:
    async with open_client(echo_server.url, ClientOptions(max_message_size=1000)) as client:
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest(response_size=5000))
        assert caught.value.code is Code.RESOURCE_EXHAUSTED
        # The connection is still good for the next call.
        assert (await client.stub(ECHO).Echo(EchoRequest(text="ok"))).text == "ok"
