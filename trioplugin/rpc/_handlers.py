"""Adapters from a user's implementation object to the innermost end of a server call."""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from ..protocol import Code, ConnectError
from ._call import Call, HandlerContext
from ._interceptor import CallNext
from ._method import MethodInfo, StreamType
from ._wire_common import check_message_type

_SIGNATURES = {
    StreamType.UNARY: "async def {name}(self, request, ctx) -> {out}",
    StreamType.CLIENT_STREAM: "async def {name}(self, requests, ctx) -> {out}",
    StreamType.SERVER_STREAM: "async def {name}(self, request, ctx) -> AsyncIterator[{out}]"
    " (an async generator)",
    StreamType.BIDI_STREAM: "async def {name}(self, requests, ctx) -> AsyncIterator[{out}]"
    " (an async generator)",
}


def handler_for(method: MethodInfo[Any, Any], implementation: object) -> CallNext:
    """The innermost ``call_next`` that runs ``implementation``'s method for ``method``.

    A missing method is served as ``unimplemented``.

    Raises:
        TypeError: the attribute exists but is not the kind of callable the
            method's stream type needs (the message shows the signature).
    """
    function = getattr(implementation, method.name, None)
    if function is None:
        return _unimplemented(method)
    streams_out = method.stream_type.streams_responses
    ok = inspect.isasyncgenfunction(function) if streams_out else _is_coroutine(function)
    if not ok:
        signature = _SIGNATURES[method.stream_type].format(
            name=method.name, out=method.output_type.DESCRIPTOR.name
        )
        raise TypeError(
            f"{type(implementation).__qualname__}.{method.name} cannot serve "
            f"{method.procedure}: it must be `{signature}`"
        )
    output_type = method.output_type
    what = f"the response of {method.procedure}"

    if method.stream_type is StreamType.UNARY:

        async def unary(call: Call[Any, Any]) -> None:
            response = await function(call.request, HandlerContext._create(call))
            check_message_type(response, output_type, what)
            await call.responses.send(response)

        return unary

    if method.stream_type is StreamType.CLIENT_STREAM:

        async def client_stream(call: Call[Any, Any]) -> None:
            response = await function(call.requests, HandlerContext._create(call))
            check_message_type(response, output_type, what)
            await call.responses.send(response)

        return client_stream

    takes_stream = method.stream_type is StreamType.BIDI_STREAM

    async def streaming(call: Call[Any, Any]) -> None:
        argument = call.requests if takes_stream else call.request
        responses: AsyncGenerator[Any, None] = function(argument, HandlerContext._create(call))
        async with aclosing(responses):
            async for response in responses:
                check_message_type(response, output_type, what)
                await call.responses.send(response)

    return streaming


def _is_coroutine(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


def _unimplemented(method: MethodInfo[Any, Any]) -> CallNext:
    async def unimplemented(call: Call[Any, Any]) -> None:
        raise ConnectError(Code.UNIMPLEMENTED, f"{method.procedure} is not implemented")

    return unimplemented
