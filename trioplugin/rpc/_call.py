"""One RPC as interceptors and handlers see it: method, metadata and message streams."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any, Generic, Literal, Protocol, TypeVar, final

import trio

from ..protocol import Code, ConnectError, Metadata
from ..transport import Peer
from ._method import MethodInfo, Req, Res

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)

Side = Literal["client", "server"]


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


@final
class Call(Generic[Req, Res]):
    """One RPC in flight, on the client or the server.

    Interceptors get the call and a ``call_next`` to run the rest of the
    chain; the innermost end (the wire on a client, the handler on a server)
    reads :attr:`requests` and writes :attr:`responses`. An interceptor may
    change headers before ``call_next`` and read the response headers and
    trailers after it, and may wrap :attr:`requests` or :attr:`responses` to
    see each message. For unary and server-streaming calls :attr:`request` is
    the request message; for unary and client-streaming calls
    :attr:`response` is the response once ``call_next`` has returned.
    """

    __slots__ = (
        "_response_slot",
        "_single_request",
        "deadline",
        "method",
        "peer",
        "request_headers",
        "requests",
        "response_headers",
        "response_trailers",
        "responses",
        "side",
    )

    def __init__(
        self,
        method: MethodInfo[Req, Res],
        *,
        side: Side,
        requests: MessageReceiver[Req],
        responses: MessageSender[Res],
        request_headers: Metadata | None = None,
        peer: Peer | None = None,
        deadline: float = math.inf,
    ) -> None:
        self.method = method
        self.side: Side = side
        self.requests = requests
        self.responses = responses
        self.request_headers = request_headers if request_headers is not None else Metadata()
        self.response_headers = Metadata()
        self.response_trailers = Metadata()
        self.peer = peer
        self.deadline = deadline
        self._single_request: SingleMessage[Req] | None = (
            requests if isinstance(requests, SingleMessage) else None
        )
        self._response_slot: ResponseSlot[Res] | None = (
            responses if isinstance(responses, ResponseSlot) else None
        )

    @property
    def is_client(self) -> bool:
        """Whether this end sends the request (the interceptor runs in a client)."""
        return self.side == "client"

    @property
    def request(self) -> Req:
        """The request of a unary or server-streaming call.

        Raises:
            TypeError: the client streams its requests; read :attr:`requests`.
        """
        if self._single_request is None:
            raise TypeError(
                f"{self.method.procedure} streams its requests; read call.requests instead"
            )
        return self._single_request.message

    @request.setter
    def request(self, message: Req) -> None:
        if self._single_request is None:
            raise TypeError(f"{self.method.procedure} streams its requests; wrap call.requests")
        self._single_request.message = message

    @property
    def response(self) -> Res | None:
        """The response of a unary or client-streaming call, once there is one.

        Raises:
            TypeError: the server streams its responses; wrap :attr:`responses`.
        """
        if self._response_slot is None:
            raise TypeError(
                f"{self.method.procedure} streams its responses; wrap call.responses instead"
            )
        return self._response_slot.message

    @response.setter
    def response(self, message: Res) -> None:
        if self._response_slot is None:
            raise TypeError(f"{self.method.procedure} streams its responses; wrap call.responses")
        self._response_slot.message = message

    def __repr__(self) -> str:
        return f"<Call {self.method.procedure} ({self.side})>"


@final
class HandlerContext:
    """What a server handler knows of its call besides the request messages.

    Set :attr:`response_headers` and :attr:`response_trailers` to send
    metadata back; :attr:`deadline` is the trio deadline the client's
    ``Connect-Timeout-Ms`` set (``math.inf`` if none), which the handler
    already runs under.
    """

    __slots__ = ("_call",)

    def __init__(self, call: Call[Any, Any]) -> None:
        self._call = call

    @property
    def method(self) -> MethodInfo[Any, Any]:
        """The method being served."""
        return self._call.method

    @property
    def request_headers(self) -> Metadata:
        """The headers the client sent."""
        return self._call.request_headers

    @property
    def response_headers(self) -> Metadata:
        """Headers to send back (before the first response message)."""
        return self._call.response_headers

    @property
    def response_trailers(self) -> Metadata:
        """Trailers to send back when the call ends."""
        return self._call.response_trailers

    @property
    def peer(self) -> Peer | None:
        """The client: address, HTTP version, and TLS session with its certificate."""
        return self._call.peer

    @property
    def deadline(self) -> float:
        """The call's trio deadline (``math.inf`` when the client set none)."""
        return self._call.deadline

    def time_remaining(self) -> float:
        """Seconds left before the deadline (``math.inf`` when there is none)."""
        return self._call.deadline - trio.current_time()
