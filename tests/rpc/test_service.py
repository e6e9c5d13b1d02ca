"""Services from descriptors, and clear errors when an implementation does not fit."""

from __future__ import annotations

import pytest

from tests import echo_pb2
from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from trioplugin.rpc import ConnectApp, HandlerContext, Idempotency, Service, StreamType


def test_methods_come_from_the_descriptor() -> None:
    methods = ECHO.methods
    assert ECHO.name == "trioplugin.test.v1.EchoService"
    assert list(methods) == ["Echo", "Put", "ServerStream", "ClientStream", "Bidi"]
    assert methods["Echo"].procedure == "/trioplugin.test.v1.EchoService/Echo"
    assert methods["Echo"].idempotency is Idempotency.NO_SIDE_EFFECTS
    assert methods["Put"].idempotency is Idempotency.UNKNOWN
    assert [m.stream_type for m in methods.values()] == [
        StreamType.UNARY,
        StreamType.UNARY,
        StreamType.SERVER_STREAM,
        StreamType.CLIENT_STREAM,
        StreamType.BIDI_STREAM,
    ]
    assert methods["Echo"].input_type is EchoRequest
    assert methods["Echo"].output_type is EchoResponse


def test_from_module_errors_name_what_exists() -> None:
    with pytest.raises(LookupError, match="EchoService"):
        Service.from_module(echo_pb2, "Nope")
    assert Service.from_module(echo_pb2).name == ECHO.name


def test_unknown_method_lists_the_methods() -> None:
    with pytest.raises(AttributeError, match="Echo, Put"):
        ECHO.method("Missing")


def test_a_unary_method_must_be_a_coroutine_function() -> None:
    class Sync(EchoImpl):
        def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:  # type: ignore[override]
            return EchoResponse()

    with pytest.raises(TypeError, match=r"Sync\.Echo cannot serve .*async def Echo"):
        ConnectApp({ECHO: Sync()})


def test_a_streaming_method_must_be_an_async_generator() -> None:
    class NotAGenerator(EchoImpl):
        async def ServerStream(  # type: ignore[override]
            self, request: EchoRequest, ctx: HandlerContext
        ) -> list[EchoResponse]:
            return []

    with pytest.raises(TypeError, match="an async generator"):
        ConnectApp({ECHO: NotAGenerator()})


def test_missing_methods_are_served_as_unimplemented() -> None:
    class OnlyEcho:
        async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
            return EchoResponse()

    app = ConnectApp({ECHO: OnlyEcho()})
    assert "/trioplugin.test.v1.EchoService/Bidi" in app.procedures


def test_a_service_is_served_once() -> None:
    app = ConnectApp({ECHO: EchoImpl()})
    with pytest.raises(ValueError, match="already served"):
        app.add_service(ECHO, EchoImpl())
