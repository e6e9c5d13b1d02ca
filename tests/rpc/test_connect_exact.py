"""The client's missing half and the deadline rules, end to end on loopback servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from trioplugin import ClientOptions
from trioplugin.protocol import (
    Code,
    ConnectError,
    EnvelopeFlags,
    decode_end_stream,
    encode_envelope,
)
from trioplugin.rpc import Client, HandlerContext, serve_connect
from trioplugin.transport import Server

ECHO_PATH = "/trioplugin.test.v1.EchoService/Echo"
STREAM_PATH = "/trioplugin.test.v1.EchoService/ServerStream"


class Recording(EchoImpl):
    """Echo that records the HTTP method and query, fails with metadata, or overruns."""

    def __init__(self, clock: trio.testing.MockClock | None = None) -> None:
        super().__init__()
        self.methods: list[str] = []
        self.queries: list[str] = []
        self.clock = clock
        self.headers_seen = trio.Event()

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        self.methods.append(ctx.http_method)
        self.queries.append(ctx.query)
        await self._delay(request)
        if request.text == "fail with metadata":
            ctx.response_headers["x-head"] = "h"
            ctx.response_trailers["x-tail"] = "t"
            raise ConnectError(Code.NOT_FOUND, "nothing here")
        if request.text == "overrun" and self.clock is not None:
            self.clock.jump(10)  # the handler burns its time without ever awaiting
        return EchoResponse(text=request.text)

    async def ServerStream(
        self, request: EchoRequest, ctx: HandlerContext
    ) -> AsyncIterator[EchoResponse]:
        ctx.response_headers["x-early"] = "yes"
        await ctx.send_headers()
        await self.headers_seen.wait()
        yield EchoResponse(text="after the headers")


@pytest.fixture
def recording(autojump_clock: trio.testing.MockClock) -> Recording:
    return Recording(autojump_clock)


@pytest.fixture
async def server(nursery: trio.Nursery, recording: Recording) -> Server:
    started: Server = await nursery.start(serve_connect, {ECHO: recording})
    return started


@pytest.fixture
async def get_client(client: Client) -> Client:
    return Client(client.transport, ClientOptions(http_get=True))


@pytest.fixture
async def echo_server(server: Server) -> Server:  # the shared `client` fixture calls this one
    return server


async def test_side_effect_free_calls_go_as_get_when_asked(
    get_client: Client, recording: Recording
) -> None:
    reply = await get_client.stub(ECHO).Echo(EchoRequest(text="by get"))
    assert reply.text == "by get"
    assert recording.methods == ["GET"]
    query = recording.queries[0]
    assert "connect=v1" in query and "encoding=proto" in query and "base64=1" in query
    # Put has side effects: always POST, whatever the client prefers.
    await get_client.stub(ECHO).Put(EchoRequest(text="put"))
    assert recording.methods == ["GET", "POST"]


async def test_a_get_too_long_for_a_url_falls_back_to_post(
    client: Client, recording: Recording
) -> None:
    small = Client(client.transport, ClientOptions(http_get=True, get_url_limit=200))
    await small.stub(ECHO).Echo(EchoRequest(text="x" * 10))
    await small.stub(ECHO).Echo(EchoRequest(text="x" * 500))
    assert recording.methods == ["GET", "POST"]


async def test_a_json_get_call_round_trips(client: Client, recording: Recording) -> None:
    json_client = Client(client.transport, ClientOptions(http_get=True, codec="json"))
    reply = await json_client.stub(ECHO).Echo(EchoRequest(text="json & more?"))
    assert reply.text == "json & more?"
    assert recording.methods == ["GET"]
    assert "encoding=json" in recording.queries[0]


async def test_a_failed_call_keeps_headers_and_trailers_apart(client: Client) -> None:
    with pytest.raises(ConnectError) as caught:
        await client.stub(ECHO).Echo(EchoRequest(text="fail with metadata"))
    error = caught.value
    assert error.code is Code.NOT_FOUND
    assert error.http_status == 404
    assert error.headers.get_all("x-head") == ["h"]
    assert "x-tail" not in error.headers
    assert error.trailers.get_all("x-tail") == ["t"]
    assert "x-head" not in error.trailers
    # metadata stays the merge of both
    assert error.metadata.first("x-head") == "h"
    assert error.metadata.first("x-tail") == "t"


async def test_a_handler_sends_its_headers_before_its_first_message(
    server: Server, recording: Recording
) -> None:
    body = encode_envelope(EchoRequest().SerializeToString())
    async with (
        httpx.AsyncClient(base_url=server.url) as http,
        http.stream(
            "POST", STREAM_PATH, content=body, headers={"content-type": "application/connect+proto"}
        ) as response,
    ):
        # The head arrived while the handler still waits: nothing else could have sent it.
        assert response.headers["x-early"] == "yes"
        assert not recording.headers_seen.is_set()
        recording.headers_seen.set()
        content = await response.aread()
    assert EchoResponse.FromString(content[5 : 5 + int.from_bytes(content[1:5])]).text == (
        "after the headers"
    )


async def test_a_call_past_the_callers_deadline_is_always_the_callers_timeout(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    # The server's deadline_exceeded and the caller's own scope fire at the same instant;
    # the caller's scope is the authority, every time.
    for _ in range(3):
        with pytest.raises(trio.TooSlowError), trio.fail_after(1):
            await client.stub(ECHO).Echo(EchoRequest(delay_ms=60_000))


async def test_a_deadline_that_passed_before_sending_is_the_callers_timeout(
    client: Client, recording: Recording, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(trio.TooSlowError), trio.fail_after(1):
        # The deadline passes with no checkpoint since: only the wire sees no time left.
        autojump_clock.jump(2)
        await client.stub(ECHO).Echo(EchoRequest())
    assert recording.methods == []  # and nothing was sent


async def test_a_default_timeout_bounds_calls_whose_caller_set_none(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    bounded = Client(client.transport, ClientOptions(default_timeout=3))
    start = trio.current_time()
    with pytest.raises(ConnectError) as caught:
        await bounded.stub(ECHO).Echo(EchoRequest(delay_ms=3_600_000))
    assert caught.value.code is Code.DEADLINE_EXCEEDED
    assert "default timeout of 3 s" in caught.value.message
    assert trio.current_time() - start == pytest.approx(3, abs=0.01)
    # A caller's own deadline wins over the default.
    with pytest.raises(trio.TooSlowError), trio.fail_after(1):
        await bounded.stub(ECHO).Echo(EchoRequest(delay_ms=3_600_000))
    async with bounded.server_stream(ECHO.methods["ServerStream"], EchoRequest()) as stream:
        with pytest.raises(ConnectError) as caught:
            async for _ in stream:
                pass
    assert caught.value.code is Code.DEADLINE_EXCEEDED


@pytest.mark.parametrize("path", [ECHO_PATH, STREAM_PATH])
async def test_a_zero_timeout_is_deadline_exceeded_every_time(
    server: Server, http_version: str, path: str
) -> None:
    streaming = path == STREAM_PATH
    content_type = "application/connect+proto" if streaming else "application/proto"
    body = encode_envelope(b"") if streaming else b""
    async with httpx.AsyncClient(base_url=server.url, http2=False) as http:
        for _ in range(10):
            response = await http.post(
                path,
                content=body,
                headers={"content-type": content_type, "connect-timeout-ms": "0"},
            )
            if streaming:
                assert response.status_code == 200
                assert response.content[0] & EnvelopeFlags.END_STREAM
                end = decode_end_stream(response.content[5:])
                assert end.error is not None
                assert end.error.code is Code.DEADLINE_EXCEEDED
            else:
                assert response.status_code == 504
                assert response.json()["code"] == "deadline_exceeded"


async def test_a_handler_that_overruns_without_awaiting_still_times_out(
    server: Server, autojump_clock: trio.testing.MockClock
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            ECHO_PATH,
            content=b'{"text": "overrun"}',
            headers={"content-type": "application/json", "connect-timeout-ms": "5000"},
        )
    assert response.status_code == 504
    assert response.json()["code"] == "deadline_exceeded"
