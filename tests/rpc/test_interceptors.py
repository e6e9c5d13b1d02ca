"""One interceptor protocol: client and server, every call kind, list order outermost first."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from trioplugin import ClientOptions
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import (
    Call,
    CallNext,
    ConnectApp,
    HandlerContext,
    open_client,
    open_connect_server,
)
from trioplugin.transport import HTTPVersion

PRINCIPAL: contextvars.ContextVar[str] = contextvars.ContextVar("principal", default="nobody")


class Recorder:
    """Appends ``name>`` before and ``<name`` after the rest of the chain."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        self.log.append(f"{self.name}>{call.side}:{call.method.name}")
        try:
            await call_next(call)
        finally:
            self.log.append(f"<{self.name}")


class CountResponses:
    """Wraps the response stream to count every message that passes."""

    def __init__(self) -> None:
        self.count = 0

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        inner = call.responses
        outer = self

        class Counting:
            async def send(self, message: Any) -> None:
                outer.count += 1
                await inner.send(message)

        call.responses = Counting()
        await call_next(call)


class Authenticate:
    """Server side: rejects calls without x-user, sets a contextvar the handler reads."""

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        user = call.request_headers.first("x-user")
        if user is None:
            raise ConnectError(Code.UNAUTHENTICATED, "who are you?")
        token = PRINCIPAL.set(user)
        try:
            await call_next(call)
        finally:
            PRINCIPAL.reset(token)


class AddUser:
    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        call.request_headers["x-user"] = "ada"
        await call_next(call)


class RewriteUnary:
    """Changes the request before and the response after, for unary calls."""

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        if call.method.name == "Echo":
            call.request = EchoRequest(text=call.request.text.upper())
        await call_next(call)
        if call.method.name == "Echo":
            assert call.response is not None
            call.response = EchoResponse(text=call.response.text + "!")


class WhoAmI(EchoImpl):
    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        return EchoResponse(text=PRINCIPAL.get())


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_order_is_list_order_first_outermost_on_both_sides(
    http_version: HTTPVersion,
) -> None:
    log: list[str] = []
    server_side = [Recorder("s1", log), Recorder("s2", log)]
    client_side = [Recorder("c1", log), Recorder("c2", log)]
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=server_side) as server:
        async with open_client(
            server.url,
            ClientOptions(http_version=http_version),
            interceptors=client_side,
        ) as client:
            echo = client.stub(ECHO)
            await echo.Echo(EchoRequest())
            expected_unary = [
                "c1>client:Echo", "c2>client:Echo", "s1>server:Echo", "s2>server:Echo",
                "<s2", "<s1", "<c2", "<c1",
            ]  # fmt: skip
            assert log == expected_unary
            log.clear()
            async with echo.ServerStream(EchoRequest(repeat=2)) as responses:
                assert len([r async for r in responses]) == 2
            assert log == [entry.replace("Echo", "ServerStream") for entry in expected_unary]
            log.clear()
            await echo.ClientStream([EchoRequest()])
            assert log == [entry.replace("Echo", "ClientStream") for entry in expected_unary]


async def test_bidi_goes_through_the_chain() -> None:
    log: list[str] = []
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=[Recorder("s", log)]) as server:
        async with open_client(server.url, interceptors=[Recorder("c", log)]) as client:
            async with client.stub(ECHO).Bidi() as stream:
                await stream.send(EchoRequest(text="x"))
                assert (await stream.receive()).text == "x"
                await stream.close_send()
                assert [r async for r in stream] == []
    assert log == ["c>client:Bidi", "s>server:Bidi", "<s", "<c"]


async def test_server_interceptor_rejects_and_sets_context_for_the_handler() -> None:
    async with open_connect_server({ECHO: WhoAmI()}, interceptors=[Authenticate()]) as server:
        async with open_client(server.url) as anonymous:
            with pytest.raises(ConnectError) as caught:
                await anonymous.stub(ECHO).Echo(EchoRequest())
            assert caught.value.code is Code.UNAUTHENTICATED
        async with open_client(server.url, interceptors=[AddUser()]) as client:
            assert (await client.stub(ECHO).Echo(EchoRequest())).text == "ada"


async def test_a_service_added_with_interceptors_of_its_own_runs_without_the_apps() -> None:
    # How a plugin serves its health and control services outside its own authentication.
    app = ConnectApp(interceptors=[Authenticate()])
    app.add_service(ECHO, EchoImpl(), interceptors=())
    async with open_connect_server(app) as server, open_client(server.url) as anonymous:
        assert (await anonymous.stub(ECHO).Echo(EchoRequest(text="in"))).text == "in"


async def test_a_prepared_app_takes_no_interceptors_when_served() -> None:
    with pytest.raises(TypeError, match="give a ConnectApp its interceptors when you make it"):
        async with open_connect_server(ConnectApp(), interceptors=[Authenticate()]):
            pass


async def test_interceptors_can_rewrite_unary_requests_and_responses() -> None:
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=[RewriteUnary()]) as server:
        async with open_client(server.url, interceptors=[RewriteUnary()]) as client:
            # Upper-cased twice (no-op the second time), "!" added by each side.
            assert (await client.stub(ECHO).Echo(EchoRequest(text="hi"))).text == "HI!!"


async def test_interceptors_can_wrap_message_streams() -> None:
    server_count, client_count = CountResponses(), CountResponses()
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=[server_count]) as server:
        async with open_client(server.url, interceptors=[client_count]) as client:
            async with client.stub(ECHO).ServerStream(EchoRequest(repeat=4)) as responses:
                assert len([r async for r in responses]) == 4
    assert (server_count.count, client_count.count) == (4, 4)


async def test_a_client_interceptor_error_stops_the_call_before_the_wire() -> None:
    class Refuse:
        async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
            raise ConnectError(Code.PERMISSION_DENIED, "not from here")

    impl = EchoImpl()
    async with open_connect_server({ECHO: impl}) as server:
        async with open_client(server.url, interceptors=[Refuse()]) as client:
            with pytest.raises(ConnectError) as caught:
                await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.PERMISSION_DENIED
    assert impl.calls == 0


async def test_streaming_call_context_reaches_the_interceptor_task() -> None:
    seen: list[str] = []

    class ReadVar:
        async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
            seen.append(PRINCIPAL.get())
            await call_next(call)

    async with open_connect_server({ECHO: EchoImpl()}) as server:
        async with open_client(server.url, interceptors=[ReadVar()]) as client:
            token = PRINCIPAL.set("caller")
            try:
                async with client.stub(ECHO).ServerStream(EchoRequest(repeat=1)) as responses:
                    async for _ in responses:
                        pass
            finally:
                PRINCIPAL.reset(token)
    assert seen == ["caller"]
