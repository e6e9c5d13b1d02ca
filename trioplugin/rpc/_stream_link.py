"""Where a streaming call's caller meets the call: messages relayed, or read and written in place.

A streaming call runs its interceptor chain in a task of its own (every
interceptor sees the whole stream as one ``call_next``). The caller's
:class:`~trioplugin.rpc.ResponseStream` or :class:`~trioplugin.rpc.BidiStream`
and that task meet at a :class:`StreamLink`, which works one of two ways,
settled when the call reaches its innermost end:

- **direct**: no interceptor wrapped the call's message streams, so the
  wire hands the exchange to the caller (see :func:`direct_link`): the
  caller's own task writes each request and reads each response, and the
  call's task only waits for the end. A round trip then costs one task
  switch (the connection's reader waking the caller) instead of three.
- **relayed**: an interceptor wrapped :attr:`Call.requests` or
  :attr:`Call.responses` (to watch or replay the messages), so the messages
  pass through them: the caller's sends and receives meet the call's task
  on zero-capacity channels, as they pass through every wrapper.

Either way the caller sees the call's end as the chain ended it: after the
last response, :meth:`StreamLink.receive_response` waits for the call's task
and raises the error the outermost interceptor raised (or ends cleanly).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Any, Generic, Protocol, final

import trio

from ..protocol import Code, ConnectError
from ._call import Call, _AttemptSink
from ._messages import MessageReceiver, SingleMessage
from ._method import Req, Res
from ._replay import ReplayReader


class StreamOver(Exception):
    """Raised by a direct stream's receive once the response has ended (the chain says how)."""


class DirectIO(Protocol):
    """What the wire hands a link in direct mode: the exchange, as the caller's tasks use it."""

    async def send(self, message: Any) -> None:
        """Write one request."""
        ...

    async def close_send(self) -> None:
        """End the request stream."""
        ...

    async def receive(self) -> Any:
        """Read the next response; :class:`StreamOver` once the response has ended."""
        ...


class _Mode(enum.Enum):
    PENDING = "pending"
    DIRECT = "direct"
    RELAYED = "relayed"
    OVER = "over"


@final
class StreamLink(Generic[Req, Res]):
    """A streaming call's meeting point: the caller's stream on one side, the call on the other.

    ``requests`` is given for a call whose request is one message (a server
    stream); None makes the caller stream them (bidi). :attr:`requests` and
    :attr:`responses` are what the call gets as its message streams.
    """

    __slots__ = (
        "_io",
        "_mode",
        "_procedure",
        "_ready",
        "_request_receive",
        "_request_send",
        "_response_receive",
        "_response_send",
        "error",
        "requests",
        "responses",
        "streams_requests",
    )

    def __init__(self, procedure: str, requests: MessageReceiver[Req] | None = None) -> None:
        self._procedure = procedure
        self.streams_requests = requests is None
        """Whether the caller streams the requests (bidi), not one request (a server stream)."""
        self._mode = _Mode.PENDING
        self._io: DirectIO | None = None
        self._ready = trio.Event()  # the mode is settled (OVER once the call's task has ended)
        self._request_send: trio.MemorySendChannel[Req] | None = None
        self._request_receive: trio.MemoryReceiveChannel[Req] | None = None
        self._response_send: trio.MemorySendChannel[Res] | None = None
        self._response_receive: trio.MemoryReceiveChannel[Res] | None = None
        self.error: BaseException | None = None
        """How the call failed, once its task has ended (None while it runs and after a success)."""
        self.requests: MessageReceiver[Req] = (
            requests if requests is not None else _LinkRequests(self)
        )
        """The call's request stream."""
        self.responses = _LinkResponses(self)
        """The call's response stream."""

    # -- the call's side ----------------------------------------------------------------

    def attach(self, io: DirectIO) -> None:
        """Go direct for one attempt: the caller's tasks use ``io`` (see :func:`direct_link`)."""
        assert self._mode is _Mode.PENDING
        self._mode = _Mode.DIRECT
        self._io = io
        self._ready.set()

    def detach(self, io: DirectIO) -> None:
        """The attempt ``io`` served is over: the next one (or the call's end) settles anew."""
        if self._io is io and self._mode is _Mode.DIRECT:
            self._io = None
            self._mode = _Mode.PENDING
            self._ready = trio.Event()

    def relay(self) -> None:
        """Go relayed, unless the mode is settled (the call reads or writes its message streams)."""
        if self._mode is not _Mode.PENDING:
            return
        self._request_send, self._request_receive = trio.open_memory_channel[Req](0)
        self._response_send, self._response_receive = trio.open_memory_channel[Res](0)
        self._mode = _Mode.RELAYED
        self._ready.set()

    def close(self, error: BaseException | None) -> None:
        """The call's task has ended, with ``error`` (None: cleanly); wakes the caller."""
        self.error = error
        self._mode = _Mode.OVER
        self._io = None
        for channel in (self._response_send, self._request_receive):
            if channel is not None:
                channel.close()
        self._ready.set()

    # -- the caller's side --------------------------------------------------------------

    async def send_request(self, message: Req) -> None:
        """Send one request: in place, or to the call's task (waits until it is taken)."""
        while (mode := self._mode) is _Mode.PENDING:
            await self._ready.wait()
        if mode is _Mode.DIRECT:
            assert self._io is not None
            try:
                await self._io.send(message)
            except (ConnectError, RuntimeError):
                if self._mode is _Mode.OVER:  # the call ended meanwhile
                    raise self._no_more_requests() from None
                raise
        elif mode is _Mode.RELAYED:
            assert self._request_send is not None
            try:
                await self._request_send.send(message)
            except trio.BrokenResourceError:
                raise self._no_more_requests() from None
        else:
            await trio.lowlevel.checkpoint()
            raise self._no_more_requests()

    async def close_requests(self) -> None:
        """No more requests."""
        while (mode := self._mode) is _Mode.PENDING:
            await self._ready.wait()
        if mode is _Mode.DIRECT:
            assert self._io is not None
            await self._io.close_send()
        elif self._request_send is not None:
            await self._request_send.aclose()
        else:
            await trio.lowlevel.checkpoint()

    async def receive_response(self) -> Res:
        """The next response.

        Raises:
            trio.EndOfChannel: the stream ended successfully.
            ConnectError: the call failed (as its chain ended it).
        """
        while True:
            mode = self._mode
            if mode is _Mode.PENDING:
                await self._ready.wait()
            elif mode is _Mode.DIRECT:
                io = self._io
                assert io is not None
                try:
                    return await io.receive()  # type: ignore[no-any-return]
                except StreamOver:
                    # The attempt is over; another may follow, or the chain's end
                    # (as the outermost interceptor made it).
                    self.detach(io)
            elif mode is _Mode.RELAYED:
                assert self._response_receive is not None
                try:
                    return await self._response_receive.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    break
            else:
                await trio.lowlevel.checkpoint()
                break
        if self.error is not None:
            raise self.error
        raise trio.EndOfChannel

    def _no_more_requests(self) -> BaseException:
        if self.error is not None:
            return self.error
        return ConnectError(
            Code.FAILED_PRECONDITION,
            f"{self._procedure} has already ended; the server takes no more requests",
        )

    def __repr__(self) -> str:
        return f"<StreamLink {self._procedure} {self._mode.value}>"


@final
class DirectRoute:
    """A stream the wire may hand over, and the attempts' wrappers its messages pass over.

    Forked attempts wrap the call's message streams to count responses
    (:class:`~trioplugin.rpc._call._AttemptSink`) and to record requests
    for replay (:class:`~trioplugin.rpc._replay.ReplayReader`); a message
    written or read in place is accounted to each, as if it had passed.
    """

    __slots__ = ("link", "readers", "sinks")

    def __init__(
        self,
        link: StreamLink[Any, Any],
        sinks: tuple[_AttemptSink[Any], ...],
        readers: tuple[ReplayReader[Any], ...],
    ) -> None:
        self.link = link
        self.sinks = sinks
        """Innermost first, as a message passing through them meets them."""
        self.readers = readers
        """Innermost first."""


def direct_link(call: Call[Any, Any]) -> DirectRoute | None:
    """The call's stream, if its messages may be written and read in the caller's own tasks.

    Only while its message streams are the link's own, or an attempt's
    wrappers of them (no interceptor put its own in between), no request
    is left to replay, and the mode is not settled yet.
    """
    responses = call.responses
    sinks: list[_AttemptSink[Any]] = []
    while type(responses) is _AttemptSink:
        sinks.append(responses)
        responses = responses._inner
    if type(responses) is not _LinkResponses:
        return None
    link: StreamLink[Any, Any] = responses._link
    if link._mode is not _Mode.PENDING:
        return None
    requests = call.requests
    readers: list[ReplayReader[Any]] = []
    if link.streams_requests:
        while type(requests) is ReplayReader:
            if not requests.live:
                return None
            readers.append(requests)
            requests = requests._recorder._source
        if requests is not link.requests:
            return None
    elif type(requests) is not SingleMessage:
        return None
    return DirectRoute(link, tuple(sinks), tuple(readers))


@final
class _LinkRequests(Generic[Req]):
    """The call's request stream of a bidi call: what the caller sends (relayed)."""

    __slots__ = ("_link",)

    def __init__(self, link: StreamLink[Req, Any]) -> None:
        self._link = link

    async def receive(self) -> Req:
        link = self._link
        link.relay()
        channel = link._request_receive
        if channel is None:
            raise RuntimeError(f"{link._procedure}'s requests are read by the caller's task")
        return await channel.receive()

    def __aiter__(self) -> AsyncIterator[Req]:
        return self

    async def __anext__(self) -> Req:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


@final
class _LinkResponses(Generic[Res]):
    """The call's response stream: what the caller receives (relayed)."""

    __slots__ = ("_link",)

    def __init__(self, link: StreamLink[Any, Res]) -> None:
        self._link = link

    async def send(self, message: Res, /) -> None:
        link = self._link
        link.relay()
        channel = link._response_send
        if channel is None:
            raise RuntimeError(f"{link._procedure}'s responses are read by the caller's task")
        await channel.send(message)
