"""What one call did, as the observability interceptors account for it: outcome, time, sizes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import trio
from google.protobuf.message import Message

from ..protocol import Code, ConnectError
from ..rpc import Call

SERVER_ERRORS: Final = frozenset(
    {
        Code.UNKNOWN,
        Code.DEADLINE_EXCEEDED,
        Code.UNIMPLEMENTED,
        Code.INTERNAL,
        Code.UNAVAILABLE,
        Code.DATA_LOSS,
    }
)
"""The codes that make a server's call an error (OpenTelemetry's Connect RPC conventions:
the others are the client's fault); a client's call is an error for every code."""


def is_error(call: Call[Any, Any], code: Code | None) -> bool:
    """Whether a call that ended with ``code`` (None: no call's outcome) failed, for its side."""
    return code is None or call.side == "client" or code in SERVER_ERRORS


class Counted:
    """Messages and bytes one direction of a streaming call carried."""

    __slots__ = ("bytes", "messages")

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    def count(self, message: Any) -> None:
        self.messages += 1
        if isinstance(message, Message):
            self.bytes += message.ByteSize()


class _CountingReceiver:
    __slots__ = ("_counted", "_inner")

    def __init__(self, inner: Any, counted: Counted) -> None:
        self._inner = inner
        self._counted = counted

    async def receive(self) -> Any:
        message = await self._inner.receive()
        self._counted.count(message)
        return message

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:  # ends: the stream's EndOfChannel
            try:
                yield await self.receive()
            except trio.EndOfChannel:
                return


class _CountingSender:
    __slots__ = ("_counted", "_inner")

    def __init__(self, inner: Any, counted: Counted) -> None:
        self._inner = inner
        self._counted = counted

    async def send(self, message: Any, /) -> None:
        self._counted.count(message)
        await self._inner.send(message)


def count_streams(call: Call[Any, Any]) -> tuple[Counted | None, Counted | None]:
    """Count the messages of the call's streamed directions (None for a single message)."""
    streaming = call.method.stream_type
    requests = responses = None  # one message each way, read off the call at the end
    if streaming.streams_requests:
        requests = Counted()
        call.requests = _CountingReceiver(call.requests, requests)
    if streaming.streams_responses:
        responses = Counted()
        call.responses = _CountingSender(call.responses, responses)
    return requests, responses


class Timed:
    """``with Timed(report): await call_next(call)``: then ``report(error, seconds)``.

    A plain context manager rather than a coroutine around ``call_next``:
    every suspension of a call passes back up through each frame of the
    chain, so a frame fewer is time saved at each one.
    """

    __slots__ = ("_report", "_started")

    def __init__(self, report: Callable[[BaseException | None, float], None]) -> None:
        self._report = report
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = trio.current_time()

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        self._report(error, trio.current_time() - self._started)


def code_of(error: BaseException, call: Call[Any, Any]) -> Code | None:
    """The Connect code a call that raised ``error`` ended with (None: no call's outcome)."""
    if isinstance(error, ConnectError):
        return error.code
    if isinstance(error, trio.Cancelled):
        # A deadline cancels the call's scope: the actor and the server answer
        # deadline_exceeded for it, and so do the records.
        if trio.current_time() >= call.deadline:
            return Code.DEADLINE_EXCEEDED
        return Code.CANCELED
    return None


def outcome(error: BaseException | None, call: Call[Any, Any]) -> tuple[Code | None, str, str]:
    """How the call ended: its code, the code's name, and the error's message.

    The code is None when it succeeded (named ``ok``) and for a failure that
    is no call's outcome (named ``internal``).
    """
    if error is None:
        return None, "ok", ""
    code = code_of(error, call)
    if isinstance(error, ConnectError):
        return code, error.code.value, error.message
    if code is Code.DEADLINE_EXCEEDED:
        return code, code.value, "the deadline passed"
    if code is Code.CANCELED:
        return code, code.value, "cancelled"
    return code, Code.INTERNAL.value, type(error).__name__


def error_type(error: BaseException | None, code: Code | None, call: Call[Any, Any]) -> str | None:
    """OpenTelemetry's ``error.type`` for a call that ended with ``error`` (its ``code``).

    None unless the call failed for its side (see :func:`is_error`); else the
    code, or the exception's qualified name when it was no call's outcome.
    """
    if error is None or not is_error(call, code):
        return None  # succeeded; or a server's invalid_argument, not_found...: the client's doing
    if code is not None:
        return code.value  # deadline_exceeded for a call its deadline cancelled
    return f"{type(error).__module__}.{type(error).__qualname__}"


def sizes(
    call: Call[Any, Any], requests: Counted | None, responses: Counted | None, *, ok: bool
) -> tuple[int, int, int, int]:
    """Request messages and bytes, response messages and bytes (protobuf-encoded sizes)."""
    if requests is None:  # one request message
        request = call.request
        request_count, request_bytes = 1, request.ByteSize() if isinstance(request, Message) else 0
    else:
        request_count, request_bytes = requests.messages, requests.bytes
    if responses is None:  # one response message, if it came
        response = call.response if ok else None
        response_count = 0 if response is None else 1
        response_bytes = response.ByteSize() if isinstance(response, Message) else 0
    else:
        response_count, response_bytes = responses.messages, responses.bytes
    return request_count, request_bytes, response_count, response_bytes
