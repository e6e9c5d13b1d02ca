"""One RPC as interceptors and handlers see it: method, metadata, message streams, attempts."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, Literal, final

import trio

from .._util import NoPublicConstructor
from ..protocol import Metadata
from ..transport import Peer
from ._messages import MessageReceiver, MessageSender, ResponseSlot, SingleMessage
from ._method import MethodInfo, Req, Res
from ._replay import DEFAULT_REPLAY_LIMIT, RequestRecorder

Side = Literal["client", "server"]

ATTEMPT_HEADER: Final = "trioplugin-attempt"
"""The request header that tells a server which attempt of a call it serves (sent from 2 on)."""


class _Attempts:
    """What every level of one logical call shares: how many attempts have started."""

    __slots__ = ("started",)

    def __init__(self, started: int) -> None:
        self.started = started


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

    **Attempts.** ``call_next`` may be called more than once: each run is one
    attempt of the rest of the chain, with its own copy of the request
    headers as they are when ``call_next`` is called, the request stream
    replayed from its first message, and its own response headers and
    trailers. When ``call_next`` returns or raises, the call holds what that
    attempt ended with: :attr:`attempt` (its number, from 1), the response
    metadata, :attr:`request_sent` and :attr:`responses_received`. Requests a
    client streams are replayed only while they fit :attr:`replay_limit`;
    :attr:`replayable` says whether another attempt can still start. A
    failure below that is not a :class:`~trioplugin.protocol.ConnectError`
    (a bug in a handler or an interceptor) reaches the interceptor as one
    with code ``internal``, the original as its ``__cause__``.
    """

    __slots__ = (
        "_attempts",
        "_commits",
        "_forked_at",
        "_passed",
        "_recorder",
        "_response_slot",
        "_running",
        "_send_headers",
        "_single_request",
        "attempt",
        "deadline",
        "http_method",
        "method",
        "peer",
        "query",
        "replay_limit",
        "request_headers",
        "request_sent",
        "requests",
        "response_headers",
        "response_trailers",
        "responses",
        "responses_received",
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
        attempt: int = 1,
        http_method: str = "POST",
        query: str = "",
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
        self.http_method = http_method
        """The HTTP method: ``POST``, or ``GET`` for a Connect GET.

        On a server, what the request used; on a client, what to send: a
        client sets ``GET`` for methods free of side effects when asked to
        (an interceptor may set it per call), and the wire falls back to
        ``POST`` for any other method or a URL that would be too long.
        """
        self.query = query
        """On a server, the request URL's query string (a GET's message is in it)."""
        self.attempt = attempt
        """The number of the attempt this call is (or last ran as), from 1."""
        self.request_sent = False
        """Whether the request may have reached the handler (False: surely not)."""
        self.responses_received = 0
        """Response messages received in the (last) attempt."""
        self.replay_limit = DEFAULT_REPLAY_LIMIT
        """Bytes of streamed requests kept so that another attempt can replay them.

        Read when ``call_next`` is first called; raise it before that to make
        a client- or bidi-streaming call retryable after its first messages.
        """
        self._single_request: SingleMessage[Req] | None = (
            requests if isinstance(requests, SingleMessage) else None
        )
        self._response_slot: ResponseSlot[Res] | None = (
            responses if isinstance(responses, ResponseSlot) else None
        )
        self._attempts = _Attempts(attempt)
        self._commits = 0
        self._forked_at = 0
        self._passed = False
        self._running = 0
        self._recorder: RequestRecorder[Req] | None = None
        self._send_headers: Callable[[Metadata], Awaitable[None]] | None = None

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

    @property
    def replayable(self) -> bool:
        """Whether ``call_next`` can start another attempt (its requests can be replayed)."""
        if self.requests is self._single_request:
            return True
        recorder = self._recorder
        return recorder is None or recorder.replayable

    def _fork(self) -> Call[Req, Res]:
        """The call one attempt of the rest of the chain runs with (see the class docs).

        Raises:
            RuntimeError: the requests cannot be replayed, or another attempt
                of a call that streams its requests is still running.
        """
        attempts = self._attempts
        if self._passed:
            attempts.started += 1
            number = attempts.started
        else:
            self._passed = True
            number = self.attempt
        single = self._single_request
        requests: MessageReceiver[Req]
        if single is not None and self.requests is single:
            requests = SingleMessage(single.message)
        else:
            requests = self._replay(number)
        child: Call[Req, Res] = Call.__new__(Call)
        child.method = self.method
        child.side = self.side
        child.requests = requests
        child.request_headers = self.request_headers.copy()
        child.response_headers = Metadata()
        child.response_trailers = Metadata()
        child.peer = self.peer
        child.deadline = self.deadline
        child.http_method = self.http_method
        child.query = self.query
        child.attempt = number
        child.request_sent = False
        child.responses_received = 0
        child.replay_limit = self.replay_limit
        child._single_request = requests if isinstance(requests, SingleMessage) else None
        slot = self._response_slot
        if slot is not None and self.responses is slot:
            child.responses = child._response_slot = ResponseSlot(self.method.procedure)
        else:
            child.responses = _AttemptSink(self.responses, self, child)
            child._response_slot = None
        child._attempts = attempts
        child._commits = 0
        child._forked_at = self._commits
        child._passed = False
        child._running = 0
        child._recorder = None
        child._send_headers = self._send_headers
        self._running += 1
        return child

    def may_run_unforked(self) -> bool:
        """Whether the next attempt may run on the call itself, without a fork.

        For interceptors that run attempts themselves and have nothing but the
        innermost end (the wire) below them, as the fused breaker + retry
        does: only a unary call's first attempt qualifies, with its own
        request and response slot, since the wire changes nothing a later
        attempt would see. Call :meth:`ran_unforked` after that attempt,
        however it ended.
        """
        return (
            not self._passed
            and self._single_request is not None
            and self.requests is self._single_request
            and self._response_slot is not None
            and self.responses is self._response_slot
        )

    def ran_unforked(self) -> None:
        """Count the attempt that ran on the call itself, as a fork's commit would.

        See :meth:`may_run_unforked`.
        """
        self._passed = True
        self._commits += 1
        slot = self._response_slot
        if slot is not None and slot.message is not None:
            self.responses_received = 1

    def _replay(self, number: int) -> MessageReceiver[Req]:
        recorder = self._recorder
        if recorder is None:
            recorder = self._recorder = RequestRecorder(self.requests, self.replay_limit)
        elif self._running:
            raise RuntimeError(
                f"attempt {number} of {self.method.procedure} cannot start while another "
                "runs: a call that streams its requests runs one attempt at a time"
            )
        elif not recorder.replayable:
            raise RuntimeError(
                f"attempt {number} of {self.method.procedure} cannot start: its requests "
                f"cannot be replayed (they outgrew the replay limit of {self.replay_limit} "
                "bytes, or the request stream failed); check call.replayable first"
            )
        return recorder.reader()

    def _end_attempt(self, child: Call[Req, Res], *, succeeded: bool) -> Res | None:
        """Take what attempt ``child`` ended with.

        A success always counts; a failure or cancellation only if no other
        attempt has been counted since it began (so a hedge that loses cannot
        overwrite the winner's response metadata). Returns a successful
        single response that must still be sent to :attr:`responses`, when
        an interceptor has replaced the response slot.
        """
        self._running -= 1
        if not succeeded and self._commits != child._forked_at:
            return None
        self._commits += 1
        self.attempt = child.attempt
        self.request_sent = child.request_sent
        self.response_headers = child.response_headers
        self.response_trailers = child.response_trailers
        self.responses_received = child.responses_received
        child_slot = child._response_slot
        if child_slot is None or child_slot.message is None:
            return None
        self.responses_received = max(1, child.responses_received)
        if not succeeded:
            return None
        slot = self._response_slot
        if slot is not None and self.responses is slot:
            slot.message = child_slot.message
            return None
        return child_slot.message

    def __repr__(self) -> str:
        attempt = f", attempt {self.attempt}" if self.attempt > 1 else ""
        return f"<Call {self.method.procedure} ({self.side}{attempt})>"


@final
class _AttemptSink(Generic[Res]):
    """An attempt's response stream: counts what it delivers, and hands the headers up first."""

    __slots__ = ("_child", "_inner", "_parent")

    def __init__(
        self, inner: MessageSender[Res], parent: Call[Any, Res], child: Call[Any, Res]
    ) -> None:
        self._inner = inner
        self._parent = parent
        self._child = child

    async def send(self, message: Res, /) -> None:
        self.count()
        await self._inner.send(message)

    def count(self) -> None:
        """One more response of the attempt (delivered here, or to the caller in place)."""
        child = self._child
        child.responses_received += 1
        if child.responses_received == 1:
            parent = self._parent
            parent.response_headers = child.response_headers
            parent.request_sent = child.request_sent


@final
class HandlerContext(metaclass=NoPublicConstructor):
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

    @property
    def attempt(self) -> int:
        """Which attempt of the client's call this is, from 1 (a retry says so on the wire)."""
        return self._call.attempt

    @property
    def http_method(self) -> str:
        """The request's HTTP method: ``POST``, or ``GET`` for a Connect GET."""
        return self._call.http_method

    @property
    def query(self) -> str:
        """The request URL's query string (for a GET, it carries the message)."""
        return self._call.query

    async def send_headers(self) -> None:
        """Send :attr:`response_headers` now, before the first response message.

        For streaming responses the client sees them at once; a unary
        response's headers always travel with it, so there this does nothing.
        Later changes to :attr:`response_headers` are not sent.
        """
        send = self._call._send_headers
        if send is None:
            await trio.lowlevel.checkpoint()
            return
        await send(self._call.response_headers)

    def time_remaining(self) -> float:
        """Seconds left before the deadline (``math.inf`` when there is none)."""
        return self._call.deadline - trio.current_time()
