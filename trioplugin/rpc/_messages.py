"""The message streams of a call: what the inner end reads requests from and writes to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Generic, Protocol, TypeVar, final

import trio

from ..protocol import Code, ConnectError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)


class MessageReceiver(Protocol[T_co]):
    """Where the inner end of a call reads request messages from.

    ``receive`` raises :class:`trio.EndOfChannel` once the requests have
    ended; ``async for`` stops there.
    """

    async def receive(self) -> T_co:
        """The next message."""
        ...

    def __aiter__(self) -> AsyncIterator[T_co]:
        """Iterate until the stream ends."""
        ...


class MessageSender(Protocol[T_contra]):
    """Where the inner end of a call writes response messages to."""

    async def send(self, message: T_contra, /) -> None:
        """Deliver one message (waits while the reader is behind)."""
        ...


@final
class SingleMessage(Generic[T]):
    """A request stream of exactly one message, which can be read or replaced up front."""

    __slots__ = ("_taken", "message")

    def __init__(self, message: T) -> None:
        self.message = message
        self._taken = False

    async def receive(self) -> T:
        """The message, once; then :class:`trio.EndOfChannel`."""
        if self._taken:
            raise trio.EndOfChannel
        self._taken = True
        return self.message

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        if not self._taken:
            self._taken = True
            yield self.message


@final
class ResponseSlot(Generic[T]):
    """A response stream that must receive exactly one message (unary responses)."""

    __slots__ = ("_procedure", "message")

    def __init__(self, procedure: str) -> None:
        self.message: T | None = None
        self._procedure = procedure

    async def send(self, message: T, /) -> None:
        """Keep the one response; a second one is a bug in the handler or peer."""
        if self.message is not None:
            raise ConnectError(Code.INTERNAL, f"{self._procedure} produced more than one response")
        self.message = message
