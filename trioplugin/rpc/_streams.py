"""What a caller holds while a streaming call runs: response and bidi streams."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, Generic, final

import trio

from .._util import NoPublicConstructor
from ..protocol import Metadata
from ._call import Call
from ._method import MethodInfo, Req, Res
from ._stream_link import StreamLink
from ._wire_common import check_message_type


@final
class ResponseStream(Generic[Res], metaclass=NoPublicConstructor):
    """The responses of a server-streaming call: ``async for`` them, or :meth:`receive`.

    A failed call raises its :class:`~trioplugin.protocol.ConnectError` from
    the iteration once the messages before the failure have been read.
    :attr:`headers` holds the response headers once the first message (or
    the end) has arrived; :attr:`trailers` once the stream has ended.
    """

    __slots__ = ("_call", "_link")

    def __init__(self, call: Call[Any, Res], link: StreamLink[Any, Res]) -> None:
        self._call = call
        self._link = link

    @property
    def headers(self) -> Metadata:
        """The response headers."""
        return self._call.response_headers

    @property
    def trailers(self) -> Metadata:
        """The response trailers (complete once the stream has ended)."""
        return self._call.response_trailers

    @property
    def error(self) -> BaseException | None:
        """How the call failed, once it has (None while it runs and after a success)."""
        return self._link.error

    async def receive(self) -> Res:
        """The next response.

        Raises:
            trio.EndOfChannel: the stream ended successfully.
            ConnectError: the call failed.
        """
        return await self._link.receive_response()

    def __aiter__(self) -> AsyncIterator[Res]:
        return self

    async def __anext__(self) -> Res:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


@final
class BidiStream(Generic[Req, Res], metaclass=NoPublicConstructor):
    """Both halves of a bidi-streaming call: :meth:`send` and :meth:`receive` freely.

    Call :meth:`close_send` when done sending; iterate (or :meth:`receive`)
    for the responses. Leaving the ``async with`` ends the call, aborting it
    on the wire if it is still running.
    """

    __slots__ = ("_link", "_method", "_responses")

    def __init__(
        self,
        method: MethodInfo[Req, Res],
        link: StreamLink[Req, Res],
        responses: ResponseStream[Res],
    ) -> None:
        self._method = method
        self._link = link
        self._responses = responses

    @property
    def headers(self) -> Metadata:
        """The response headers."""
        return self._responses.headers

    @property
    def trailers(self) -> Metadata:
        """The response trailers (complete once the stream has ended)."""
        return self._responses.trailers

    @property
    def error(self) -> BaseException | None:
        """How the call failed, once it has (None while it runs and after a success)."""
        return self._link.error

    async def send(self, message: Req) -> None:
        """Send one request (waits until the transport takes it).

        A send cancelled after part of its message went out resets the
        stream, which then fails (``canceled``): the server never sees half
        a message.

        Raises:
            ConnectError: the call has already ended (its error if it failed),
                or the stream failed.
            trio.ClosedResourceError: :meth:`close_send` was called already.
        """
        check_message_type(message, self._method.input_type, f"a request of {self._method.name}")
        await self._link.send_request(message)

    async def close_send(self) -> None:
        """Tell the server no more requests are coming."""
        await self._link.close_requests()

    async def receive(self) -> Res:
        """The next response (see :meth:`ResponseStream.receive`)."""
        return await self._responses.receive()

    def __aiter__(self) -> AsyncIterator[Res]:
        return self._responses

    async def __anext__(self) -> Res:
        return await self._responses.__anext__()


@final
class IterableRequests(Generic[Req]):
    """Adapts a caller's iterable (sync or async) of requests into the call's request stream."""

    __slots__ = ("_iterator", "_method")

    def __init__(self, method: MethodInfo[Req, Any], requests: Iterable[Req] | AsyncIterable[Req]):
        self._method = method
        self._iterator: AsyncIterator[Req] = (
            aiter(requests) if isinstance(requests, AsyncIterable) else _async(requests)
        )

    async def receive(self) -> Req:
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            raise trio.EndOfChannel from None

    def __aiter__(self) -> AsyncIterator[Req]:
        return self

    async def __anext__(self) -> Req:
        message = await anext(self._iterator)
        check_message_type(message, self._method.input_type, f"a request of {self._method.name}")
        return message


async def _async(items: Iterable[Req]) -> AsyncIterator[Req]:
    for item in items:
        yield item
