"""Deadlines and cancellation cross the wire: Connect-Timeout-Ms, server expiry, aborts."""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from trioplugin.protocol import (
    Code,
    ConnectError,
    EnvelopeDecoder,
    decode_end_stream,
    encode_envelope,
)
from trioplugin.rpc import Client
from trioplugin.transport import Server


async def test_the_callers_deadline_reaches_the_handler(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(5):
        reply = await client.stub(ECHO).Echo(EchoRequest())
    assert reply.seen["connect-timeout-ms"] == "5000"
    assert 4900 <= int(reply.seen["remaining-ms"]) <= 5000


async def test_no_deadline_sends_no_timeout(client: Client) -> None:
    reply = await client.stub(ECHO).Echo(EchoRequest())
    assert "connect-timeout-ms" not in reply.seen
    assert "remaining-ms" not in reply.seen


async def test_a_slow_handler_times_out_on_the_server(
    echo_server: Server, echo_impl: EchoImpl, autojump_clock: trio.testing.MockClock
) -> None:
    async with httpx.AsyncClient(base_url=echo_server.url) as http:
        response = await http.post(
            "/trioplugin.test.v1.EchoService/Echo",
            content=b'{"delayMs": "60000"}',
            headers={"content-type": "application/json", "connect-timeout-ms": "50"},
        )
    assert response.status_code == 504
    assert response.json()["code"] == "deadline_exceeded"
    assert "50 ms" in response.json()["message"]
    assert echo_impl.cancelled.is_set()


async def test_the_caller_running_out_of_time_gets_its_own_timeout(
    client: Client, echo_impl: EchoImpl, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(trio.TooSlowError):
        with trio.fail_after(1):
            await client.stub(ECHO).Echo(EchoRequest(delay_ms=60_000))
    with trio.fail_after(5):
        await echo_impl.cancelled.wait()


async def test_cancelling_the_caller_aborts_the_call_on_the_server(
    client: Client, echo_impl: EchoImpl
) -> None:
    # No deadline at all: only the aborted request can stop the handler.
    async with trio.open_nursery() as nursery:

        async def call() -> None:
            await client.stub(ECHO).Echo(EchoRequest(delay_ms=3_600_000))

        nursery.start_soon(call)
        with trio.fail_after(10):
            await echo_impl.started.wait()
        nursery.cancel_scope.cancel()
    with trio.fail_after(10):
        await echo_impl.cancelled.wait()
    # The client is still good afterwards.
    assert (await client.stub(ECHO).Echo(EchoRequest(text="next"))).text == "next"


async def test_server_streaming_deadline_ends_the_stream_with_deadline_exceeded(
    echo_server: Server, autojump_clock: trio.testing.MockClock
) -> None:
    request = encode_envelope(b'{"repeat": 1, "delayMs": "60000"}')
    async with httpx.AsyncClient(base_url=echo_server.url) as http:
        response = await http.post(
            "/trioplugin.test.v1.EchoService/ServerStream",
            content=request,
            headers={"content-type": "application/connect+json", "connect-timeout-ms": "10"},
        )
    assert response.status_code == 200
    decoder = EnvelopeDecoder(1 << 20)
    decoder.feed(response.content)
    first, last = decoder.next_envelope(), decoder.next_envelope()
    assert first is not None and not first.end_stream
    assert last is not None and last.end_stream
    end = decode_end_stream(last.data)
    assert end.error is not None and end.error.code is Code.DEADLINE_EXCEEDED


async def test_deadline_exceeded_code_from_the_server_reaches_the_client(
    client: Client, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(ConnectError) as caught:
        await client.stub(ECHO).Echo(EchoRequest(fail_code="deadline_exceeded"))
    assert caught.value.code is Code.DEADLINE_EXCEEDED
