"""Stubs: one callable attribute per method of a service, bound to a Caller."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, final

from ._caller import Caller, Headers, UnaryResponse
from ._method import MethodInfo, Req, Res, StreamType
from ._service import Service
from ._streams import BidiStream, ResponseStream


@final
class Stub:
    """Callable attributes for each method of a service, bound to a :class:`Caller`.

    The caller is a :class:`Client`, or a plugin handle.

    - unary: ``reply = await stub.Get(request)`` (``await stub.Get.call(request)``
      for headers and trailers too);
    - server-streaming: ``async with stub.Watch(request) as responses: async for ...``;
    - client-streaming: ``reply = await stub.Upload(requests)`` (any iterable);
    - bidi: ``async with stub.Chat() as stream: await stream.send(...)``.

    Every call takes ``headers=`` for request metadata.
    """

    __slots__ = ("_methods", "_service")

    def __init__(self, caller: Caller, service: Service) -> None:
        self._service = service
        self._methods: dict[str, Any] = {
            name: _METHOD_KINDS[method.stream_type](caller, method)
            for name, method in service.methods.items()
        }

    @property
    def service(self) -> Service:
        """The service this stub calls."""
        return self._service

    def __getattr__(self, name: str) -> Any:
        try:
            return self._methods[name]
        except KeyError:
            self._service.method(name)  # raises an AttributeError listing the methods
            raise

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self._methods]

    def __repr__(self) -> str:
        return f"<Stub {self._service.name}>"


@final
class UnaryMethod(Generic[Req, Res]):
    """A unary method of a stub: ``await stub.Get(request)``."""

    __slots__ = ("_caller", "method")

    def __init__(self, caller: Caller, method: MethodInfo[Req, Res]) -> None:
        self._caller = caller
        self.method = method

    async def __call__(self, request: Req, *, headers: Headers | None = None) -> Res:
        """Call the method; returns the response message."""
        return (await self._caller.unary(self.method, request, headers=headers)).message

    async def call(self, request: Req, *, headers: Headers | None = None) -> UnaryResponse[Res]:
        """Call the method; returns the response with its headers and trailers."""
        return await self._caller.unary(self.method, request, headers=headers)


@final
class ClientStreamMethod(Generic[Req, Res]):
    """A client-streaming method of a stub: ``await stub.Upload(requests)``."""

    __slots__ = ("_caller", "method")

    def __init__(self, caller: Caller, method: MethodInfo[Req, Res]) -> None:
        self._caller = caller
        self.method = method

    async def __call__(
        self, requests: Iterable[Req] | AsyncIterable[Req], *, headers: Headers | None = None
    ) -> Res:
        """Send every request; returns the response message."""
        response = await self._caller.client_stream(self.method, requests, headers=headers)
        return response.message

    async def call(
        self, requests: Iterable[Req] | AsyncIterable[Req], *, headers: Headers | None = None
    ) -> UnaryResponse[Res]:
        """Send every request; returns the response with its headers and trailers."""
        return await self._caller.client_stream(self.method, requests, headers=headers)


@final
class ServerStreamMethod(Generic[Req, Res]):
    """A server-streaming method: ``async with stub.Watch(request) as responses``."""

    __slots__ = ("_caller", "method")

    def __init__(self, caller: Caller, method: MethodInfo[Req, Res]) -> None:
        self._caller = caller
        self.method = method

    def __call__(
        self, request: Req, *, headers: Headers | None = None
    ) -> AbstractAsyncContextManager[ResponseStream[Res]]:
        """Start the call; use the result with ``async with``."""
        return self._caller.server_stream(self.method, request, headers=headers)


@final
class BidiStreamMethod(Generic[Req, Res]):
    """A bidi-streaming method: ``async with stub.Chat() as stream``."""

    __slots__ = ("_caller", "method")

    def __init__(self, caller: Caller, method: MethodInfo[Req, Res]) -> None:
        self._caller = caller
        self.method = method

    def __call__(
        self, *, headers: Headers | None = None
    ) -> AbstractAsyncContextManager[BidiStream[Req, Res]]:
        """Start the call; use the result with ``async with``."""
        return self._caller.bidi_stream(self.method, headers=headers)


_METHOD_KINDS: dict[StreamType, Any] = {
    StreamType.UNARY: UnaryMethod,
    StreamType.CLIENT_STREAM: ClientStreamMethod,
    StreamType.SERVER_STREAM: ServerStreamMethod,
    StreamType.BIDI_STREAM: BidiStreamMethod,
}
