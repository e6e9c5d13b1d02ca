"""call_next may run more than once: each run is one attempt, with its own streams and metadata."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho, fail, ok
from trioplugin import ClientOptions
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import (
    ATTEMPT_HEADER,
    Call,
    CallNext,
    ConnectApp,
    open_client,
    open_connect_server,
)
from trioplugin.transport import HTTPVersion, Server, UnprocessedError


class Twice:
    """Runs a failed call once more, recording what each attempt left on the call."""

    def __init__(self) -> None:
        self.after: list[dict[str, Any]] = []

    def _note(self, call: Call[Any, Any], error: BaseException | None) -> None:
        self.after.append(
            {
                "attempt": call.attempt,
                "sent": call.request_sent,
                "received": call.responses_received,
                "headers": call.response_headers.get_all("x-attempt"),
                "error": error,
            }
        )

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        try:
            await call_next(call)
        except ConnectError as error:
            self._note(call, error)
            await call_next(call)
        self._note(call, None)


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_a_unary_call_runs_again_with_fresh_metadata_and_a_new_number(
    flaky_server: Server, flaky: FlakyEcho, http_version: HTTPVersion
) -> None:
    flaky.script(fail(headers={"x-first": "yes"}, trailers={"x-t": "1"}), ok(trailers={"x-t": "2"}))
    twice = Twice()
    async with open_client(
        flaky_server.url,
        ClientOptions(http_version=http_version),
        interceptors=[twice],
    ) as client:
        reply = await client.unary(ECHO.methods["Echo"], EchoRequest(text="hi"))
    assert reply.message.index == 2  # the handler saw attempt 2
    assert flaky.attempts == [1, 2]
    # The call ends up with the metadata of the attempt that answered, not a pile-up.
    assert reply.headers.get_all("x-attempt") == ["2"]
    assert reply.headers.get_all("content-type") == ["application/proto"]
    assert "x-first" not in reply.headers
    assert reply.trailers.get_all("x-t") == ["2"]
    first, second = twice.after
    assert (first["attempt"], first["sent"], first["headers"]) == (1, True, ["1"])
    assert first["error"].code is Code.UNAVAILABLE
    assert (second["attempt"], second["sent"], second["received"]) == (2, True, 1)


async def test_each_attempt_starts_from_the_headers_as_the_retrier_passed_them(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.script(fail())
    sent: list[list[str]] = []

    async def add_a_header(call: Call[Any, Any], call_next: CallNext) -> None:
        call.request_headers.add("x-added", str(call.attempt))
        sent.append(call.request_headers.get_all("x-added"))
        await call_next(call)

    async with open_client(flaky_server.url, interceptors=[Twice(), add_a_header]) as client:
        await client.stub(ECHO).Echo(EchoRequest())
    assert sent == [["1"], ["2"]]


async def test_the_wire_carries_the_attempt_number_from_the_second_on(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.script(fail(), fail())
    headers: list[str | None] = []

    async def three(call: Call[Any, Any], call_next: CallNext) -> None:
        for _ in range(2):
            try:
                await call_next(call)
            except ConnectError:
                headers.append(call.request_headers.first(ATTEMPT_HEADER))
        await call_next(call)

    async with open_client(flaky_server.url, interceptors=[three]) as client:
        await client.stub(ECHO).Echo(EchoRequest())
    assert flaky.attempts == [1, 2, 3]
    assert headers == [None, None]  # the header is the wire's, not the call's metadata


async def test_a_server_stream_runs_again_before_its_first_message(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.script(fail(messages=0))
    twice = Twice()
    async with open_client(flaky_server.url, interceptors=[twice]) as client:
        async with client.stub(ECHO).ServerStream(EchoRequest(text="s", repeat=3)) as stream:
            assert [r.index async for r in stream] == [0, 1, 2]
            assert stream.headers.get_all("x-attempt") == ["2"]
    assert flaky.attempts == [1, 2]
    assert twice.after[0]["received"] == 0
    assert twice.after[1]["received"] == 3


async def test_an_interceptor_sees_how_many_messages_an_attempt_delivered(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.script(fail(messages=2))
    seen: list[int] = []

    async def note(call: Call[Any, Any], call_next: CallNext) -> None:
        try:
            await call_next(call)
        finally:
            seen.append(call.responses_received)

    async with open_client(flaky_server.url, interceptors=[note]) as client:
        async with client.stub(ECHO).ServerStream(EchoRequest(repeat=3)) as stream:
            got = []
            with pytest.raises(ConnectError) as caught:
                async for response in stream:
                    got.append(response.index)
    assert got == [0, 1]
    assert caught.value.code is Code.UNAVAILABLE
    assert seen == [2]


async def requests(*texts: str) -> AsyncIterator[EchoRequest]:
    for text in texts:
        yield EchoRequest(text=text)


async def test_client_stream_requests_are_replayed_within_the_replay_limit(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.script(fail())

    async def keep_and_retry(call: Call[Any, Any], call_next: CallNext) -> None:
        call.replay_limit = 1024
        try:
            await call_next(call)
        except ConnectError:
            assert call.replayable
            await call_next(call)

    async with open_client(flaky_server.url, interceptors=[keep_and_retry]) as client:
        reply = await client.stub(ECHO).ClientStream(requests("a", "b", "c"))
    assert reply.text == "a,b,c"
    assert [seen.text for seen in flaky.seen] == ["a,b,c", "a,b,c"]


async def test_streamed_requests_past_the_replay_limit_make_the_call_unreplayable(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.script(fail())
    outcome: dict[str, object] = {}

    async def try_again(call: Call[Any, Any], call_next: CallNext) -> None:
        call.replay_limit = 100
        try:
            await call_next(call)
        except ConnectError:
            outcome["replayable"] = call.replayable
            try:
                await call_next(call)
            except RuntimeError as exc:
                outcome["refusal"] = str(exc)
            raise

    async with open_client(flaky_server.url, interceptors=[try_again]) as client:
        with pytest.raises(ConnectError):
            await client.stub(ECHO).ClientStream(requests("x" * 60, "y" * 60))
    assert outcome["replayable"] is False
    assert "replay limit of 100 bytes" in str(outcome["refusal"])
    assert len(flaky.seen) == 1


async def test_without_a_replay_limit_a_stream_replays_only_before_its_first_request(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.script(fail())
    replayable: list[bool] = []

    async def note(call: Call[Any, Any], call_next: CallNext) -> None:
        replayable.append(call.replayable)
        try:
            await call_next(call)
        finally:
            replayable.append(call.replayable)

    async with open_client(flaky_server.url, interceptors=[note]) as client:
        with pytest.raises(ConnectError):
            await client.stub(ECHO).ClientStream(requests("a"))
    assert replayable == [True, False]


async def test_bidi_requests_sent_so_far_are_replayed(
    flaky_server: Server, flaky: FlakyEcho
) -> None:
    flaky.script(fail(messages=0))

    async def retry_once(call: Call[Any, Any], call_next: CallNext) -> None:
        call.replay_limit = 1024
        try:
            await call_next(call)
        except ConnectError:
            await call_next(call)

    async with open_client(flaky_server.url, interceptors=[retry_once]) as client:
        async with client.stub(ECHO).Bidi() as stream:
            await stream.send(EchoRequest(text="a"))
            first = await stream.receive()
            await stream.send(EchoRequest(text="b"))
            second = await stream.receive()
            await stream.close_send()
            assert [r async for r in stream] == []
    assert (first.text, first.index, second.text, second.index) == ("a", 2, "b", 2)
    assert [seen.attempt for seen in flaky.seen] == [1, 2]


async def test_a_failure_that_is_not_a_connect_error_reaches_interceptors_as_internal(
    flaky_server: Server,
) -> None:
    caught: list[ConnectError] = []

    async def outer(call: Call[Any, Any], call_next: CallNext) -> None:
        try:
            await call_next(call)
        except ConnectError as error:
            caught.append(error)
            raise

    async def buggy(call: Call[Any, Any], call_next: CallNext) -> None:
        raise ValueError("oops")

    async with open_client(flaky_server.url, interceptors=[outer, buggy]) as client:
        with pytest.raises(ConnectError) as final:
            await client.stub(ECHO).Echo(EchoRequest())
    assert caught[0].code is Code.INTERNAL
    assert isinstance(caught[0].__cause__, ValueError)
    assert "ValueError: oops" in caught[0].message
    assert final.value is caught[0]


async def test_even_the_outermost_interceptors_bug_comes_out_as_a_connect_error(
    flaky_server: Server,
) -> None:
    async def buggy(call: Call[Any, Any], call_next: CallNext) -> None:
        raise KeyError("k")

    async with open_client(flaky_server.url, interceptors=[buggy]) as client:
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.INTERNAL
    assert isinstance(caught.value.__cause__, KeyError)


class Broken:
    async def Echo(self, request: EchoRequest, ctx: object) -> Any:
        raise RuntimeError("secret detail")


async def test_a_handler_bug_reaches_server_interceptors_as_internal_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[BaseException] = []

    async def server_side(call: Call[Any, Any], call_next: CallNext) -> None:
        try:
            await call_next(call)
        except BaseException as exc:
            seen.append(exc)
            raise

    caplog.set_level(logging.ERROR, "trioplugin")
    async with open_connect_server({ECHO: Broken()}, interceptors=[server_side]) as server:
        async with open_client(server.url) as client:
            with pytest.raises(ConnectError) as caught:
                await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.INTERNAL
    assert "secret" not in caught.value.message
    assert isinstance(seen[0], ConnectError)
    assert seen[0].code is Code.INTERNAL
    assert isinstance(seen[0].__cause__, RuntimeError)
    assert [r.getMessage() for r in caplog.records] == [
        "/trioplugin.test.v1.EchoService/Echo failed with an unexpected exception"
    ]


async def test_request_sent_is_false_when_no_connection_could_be_made(refused_url: str) -> None:
    notes: list[tuple[bool, type[BaseException]]] = []

    async def note(call: Call[Any, Any], call_next: CallNext) -> None:
        try:
            await call_next(call)
        except ConnectError as error:
            notes.append((call.request_sent, type(error)))
            raise

    for version in ("1.1", "2"):
        async with open_client(
            refused_url, ClientOptions(http_version=version), interceptors=[note]
        ) as client:
            with pytest.raises(ConnectError):
                await client.stub(ECHO).Echo(EchoRequest())
    assert notes == [(False, UnprocessedError), (False, UnprocessedError)]


async def test_interceptor_functions_are_interceptors(flaky_server: Server) -> None:
    log: list[str] = []

    async def first(call: Call[Any, Any], call_next: CallNext) -> None:
        log.append("first")
        await call_next(call)

    class Second:
        async def __call__(self, call: Call[Any, Any], call_next: CallNext) -> None:
            log.append("second")
            await call_next(call)

    async with open_client(flaky_server.url, interceptors=[first, Second()]) as client:
        await client.stub(ECHO).Echo(EchoRequest())
    assert log == ["first", "second"]


class NotAsync:
    def intercept(self, call: object, call_next: object) -> None:
        pass


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (42, "it has no intercept method and is not callable"),
        (lambda call, call_next: None, "it is callable but not an async def"),
        (NotAsync(), "its intercept method is not an async def"),
        (Twice, "is a class; give an instance"),
    ],
)
async def test_what_is_not_an_interceptor_is_refused_up_front(
    flaky_server: Server, candidate: object, reason: str
) -> None:
    with pytest.raises(TypeError, match=reason):
        async with open_client(flaky_server.url, interceptors=[candidate]):  # type: ignore[list-item]
            pass
    with pytest.raises(TypeError, match=reason):
        ConnectApp({ECHO: FlakyEcho()}, interceptors=[candidate])  # type: ignore[list-item]
