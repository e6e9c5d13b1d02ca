"""Streams read and written in the caller's task (direct) behave as relayed ones do.

A stream whose messages no interceptor wraps is handed to the caller's task
(see trioplugin/rpc/_stream_link.py); one an interceptor wraps is relayed
through the call's task. Every test here runs both ways, over a real server.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.flaky_service import FlakyEcho, fail, ok
from tests.rpc.test_interceptors import CountResponses
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import RetryInterceptor, RetryPolicy
from trioplugin.rpc import Call, CallNext, InterceptorLike, open_client
from trioplugin.transport import Server


class MapDataLoss:
    """Turns the server's data_loss into aborted: the caller must see the chain's error."""

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        try:
            await call_next(call)
        except ConnectError as error:
            if error.code is Code.DATA_LOSS:
                raise ConnectError(Code.ABORTED, "mapped by the interceptor") from error
            raise


class FailAfterward:
    """Raises after a clean end: the caller must see it at the end of the stream."""

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        await call_next(call)
        raise ConnectError(Code.PERMISSION_DENIED, "refused after the fact")


@pytest.fixture(params=["direct", "relayed"])
def mode(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def chain_for(mode: str, *more: InterceptorLike) -> list[InterceptorLike]:
    """``more``, and for the relayed mode an interceptor that wraps the responses."""
    return [*more] if mode == "direct" else [*more, CountResponses()]


def link_mode(stream: object) -> str:
    return repr(stream._link)  # type: ignore[attr-defined]


async def test_ping_pong(echo_server: Server, mode: str) -> None:
    async with open_client(echo_server.url, interceptors=chain_for(mode)) as client:
        async with client.stub(ECHO).Bidi() as stream:
            for index in range(20):
                await stream.send(EchoRequest(text=f"ping {index}"))
                response = await stream.receive()
                assert (response.text, response.index) == (f"ping {index}", index)
            assert mode in link_mode(stream)
            await stream.close_send()
            assert [r async for r in stream] == []
            assert stream.error is None
            # The call is over: a send says so, in both modes.
            with pytest.raises(ConnectError) as caught:
                await stream.send(EchoRequest())
            assert caught.value.code is Code.FAILED_PRECONDITION


async def test_the_caller_sees_the_chains_error(echo_server: Server, mode: str) -> None:
    async with open_client(echo_server.url, interceptors=chain_for(mode, MapDataLoss())) as client:
        with pytest.raises(ConnectError) as caught:
            async with client.stub(ECHO).Bidi() as stream:
                await stream.send(EchoRequest(text="ok"))
                assert (await stream.receive()).text == "ok"
                await stream.send(EchoRequest(fail_code="data_loss"))
                await stream.receive()
        assert (caught.value.code, caught.value.message) == (
            Code.ABORTED,
            "mapped by the interceptor",
        )
        assert stream.error is caught.value
        with pytest.raises(ConnectError) as again:
            await stream.send(EchoRequest())
        assert again.value is caught.value


async def test_an_interceptor_failing_after_a_clean_end(echo_server: Server, mode: str) -> None:
    async with open_client(
        echo_server.url, interceptors=chain_for(mode, FailAfterward())
    ) as client:
        async with client.stub(ECHO).ServerStream(EchoRequest(repeat=3)) as responses:
            got = []
            with pytest.raises(ConnectError) as caught:
                async for response in responses:
                    got.append(response.index)
        assert got == [0, 1, 2]
        assert caught.value.code is Code.PERMISSION_DENIED
        assert responses.headers["x-echo"] == "stream"
        assert responses.trailers["x-count"] == "3"


async def test_sending_and_receiving_from_several_tasks(echo_server: Server, mode: str) -> None:
    async with open_client(echo_server.url, interceptors=chain_for(mode)) as client:
        async with client.stub(ECHO).Bidi() as stream:
            received: list[str] = []

            async def sender(name: str) -> None:
                for index in range(30):
                    await stream.send(EchoRequest(text=f"{name}{index}", payload=b"x" * 3000))

            async def receiver() -> None:
                for _ in range(30):
                    received.append((await stream.receive()).text)

            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(sender, "a")
                    nursery.start_soon(sender, "b")
                    nursery.start_soon(receiver)
                    nursery.start_soon(receiver)
            await stream.close_send()
            assert [r async for r in stream] == []
    # Every message arrived whole (none interleaved with another), each once.
    assert sorted(received) == sorted(f"{n}{i}" for n in "ab" for i in range(30))


async def test_a_retried_stream_replays_what_the_caller_sent(
    flaky_server: Server, flaky: FlakyEcho, mode: str
) -> None:
    flaky.script(fail(Code.UNAVAILABLE, messages=0), ok())
    retry = RetryInterceptor(
        RetryPolicy(initial_backoff=0.001, max_replay_bytes=1024, retry_unsafe=True)
    )
    async with open_client(flaky_server.url, interceptors=chain_for(mode, retry)) as client:
        async with client.stub(ECHO).Bidi() as stream:
            await stream.send(EchoRequest(text="first"))
            # Attempt 1 fails before answering; attempt 2 gets "first" replayed.
            response = await stream.receive()
            assert (response.text, response.index) == ("first", 2)
            await stream.send(EchoRequest(text="second"))
            assert (await stream.receive()).text == "second"
            await stream.close_send()
            assert [r async for r in stream] == []
    assert [seen.attempt for seen in flaky.seen] == [1, 2]


async def test_a_send_cut_off_by_cancellation_resets_the_stream(
    echo_server: Server, echo_impl: EchoImpl
) -> None:
    async with open_client(echo_server.url) as client:
        async with client.stub(ECHO).Bidi() as stream:
            # The handler reads this one, then sleeps: the stream's window fills up.
            await stream.send(EchoRequest(delay_ms=60_000))
            with trio.fail_after(10):
                await echo_impl.started.wait()
            assert "direct" in link_mode(stream)
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(stream.send, EchoRequest(payload=b"y" * 300_000))
                    await trio.testing.wait_all_tasks_blocked()
                    scope.cancel()
            with trio.fail_after(10), pytest.raises(ConnectError) as caught:
                await stream.receive()
            assert caught.value.code is Code.CANCELED
            assert "half a message" in caught.value.message
            with trio.fail_after(10):
                await echo_impl.cancelled.wait()


async def test_an_empty_bidi_stream(echo_server: Server, mode: str) -> None:
    async with open_client(echo_server.url, interceptors=chain_for(mode)) as client:
        async with client.stub(ECHO).Bidi() as stream:
            await stream.close_send()
            await stream.close_send()  # twice does nothing
            assert [r async for r in stream] == []
            with pytest.raises((trio.ClosedResourceError, ConnectError)):
                await stream.send(EchoRequest())


async def test_the_callers_deadline_ends_a_waiting_receive(
    echo_server: Server, echo_impl: EchoImpl, mode: str
) -> None:
    async with open_client(echo_server.url, interceptors=chain_for(mode)) as client:
        with trio.move_on_after(0.2) as scope:
            async with client.stub(ECHO).Bidi() as stream:
                await stream.send(EchoRequest(delay_ms=60_000))
                await stream.receive()  # the handler sleeps: only the deadline ends this
        assert scope.cancelled_caught
        with trio.fail_after(10):
            await echo_impl.cancelled.wait()
