"""Request streams that can be read again: what lets one call run as several attempts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final, Generic, TypeVar, final

import trio

from ._messages import MessageReceiver

T = TypeVar("T")

DEFAULT_REPLAY_LIMIT: Final = 0
"""Bytes of streamed requests a call keeps for replay unless an interceptor asks for more.

Zero keeps nothing: a call that streams its requests can then be attempted
again only while none of them has been read. The retry interceptor raises it
to its policy's ``max_replay_bytes``.
"""


@final
class RequestRecorder(Generic[T]):
    """Reads a request stream once and keeps what it read, so later attempts can replay it.

    Messages are kept (as references, not copies) while their encoded size
    stays within ``limit`` bytes; past it, the recording is dropped and only
    the count of messages read goes on. How the stream ended, or the error it
    raised, is kept too, so every replay ends the same way.
    """

    __slots__ = ("_error", "_kept", "_limit", "_size", "_source", "drawn", "overflowed")

    def __init__(self, source: MessageReceiver[T], limit: int) -> None:
        self._source = source
        self._limit = limit
        self._kept: list[T] = []
        self._size = 0
        self._error: BaseException | None = None
        self.drawn = 0
        """Messages read from the source so far."""
        self.overflowed = False
        """Whether the messages read outgrew the limit (they are no longer kept)."""

    @property
    def replayable(self) -> bool:
        """Whether a new reader would see every message from the first one on."""
        if self._error is not None and not isinstance(self._error, trio.EndOfChannel):
            return False
        return not self.overflowed or self.drawn == 0

    def reader(self) -> ReplayReader[T]:
        """A reader from the first message on (check :attr:`replayable` first)."""
        return ReplayReader(self)

    def kept(self, index: int) -> T | None:
        """The message at ``index`` if it has been read and kept, else None."""
        return self._kept[index] if index < len(self._kept) else None

    async def draw(self) -> T:
        """Read the next message from the source and keep it if it fits."""
        if self._error is not None:
            raise self._error
        try:
            message = await self._source.receive()
        except Exception as exc:  # EndOfChannel included: every replay ends the same way
            self._error = exc
            raise
        self.keep(message)
        return message

    def keep(self, message: T) -> None:
        """Count ``message`` as read from the source (it was sent in place); keep it if it fits."""
        self.drawn += 1
        if not self.overflowed:
            self._size += _size_of(message) if self._limit > 0 else 1
            if self._size > self._limit:
                self.overflowed = True
                self._kept.clear()
            else:
                self._kept.append(message)

    def end(self) -> None:
        """The source has ended (told in place of reading its end): replays end there too."""
        if self._error is None:
            self._error = trio.EndOfChannel()


@final
class ReplayReader(Generic[T]):
    """One attempt's view of a recorded request stream: the kept messages, then the live ones."""

    __slots__ = ("_position", "_recorder")

    def __init__(self, recorder: RequestRecorder[T]) -> None:
        self._recorder = recorder
        self._position = 0

    async def receive(self) -> T:
        """The next request; :class:`trio.EndOfChannel` once the stream has ended."""
        recorder = self._recorder
        position = self._position
        self._position = position + 1
        if position < recorder.drawn:
            message = recorder.kept(position)
            if message is None:  # pragma: no cover - replay is refused before this can happen
                raise RuntimeError("the request stream outgrew its replay buffer")
            return message
        return await recorder.draw()

    @property
    def live(self) -> bool:
        """Whether the next message is read from the source (nothing is left to replay)."""
        return self._position == self._recorder.drawn and self._recorder._error is None

    def sent_in_place(self, message: T) -> None:
        """``message`` went out without being read here (a stream sent in place): count it."""
        self._recorder.keep(message)
        self._position += 1

    def ended_in_place(self) -> None:
        """The requests ended without their end being read here."""
        self._recorder.end()

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


def _size_of(message: Any) -> int:
    byte_size = getattr(message, "ByteSize", None)
    return int(byte_size()) if byte_size is not None else 0
