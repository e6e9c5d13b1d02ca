"""One HTTP/1.1 connection of the server: keep-alive, streaming both ways, timeouts, EOF watching.

The connection task reads each request head, runs the app inline (no task
per request: requests on one connection run in turn) and finishes the cycle.
Its one helper, the supervisor task, enforces the timeouts and watches for
the client going away while a handler runs. Per request, the connection
task only stores deadlines in plain attributes; the supervisor wakes up
now and then, compares them with the clock and acts. Quick requests so pay
no cancel scope, no deadline change and no task switch for either.
"""

from __future__ import annotations

import contextlib
import math
from typing import Final

import trio

from ._errors import StreamClosed
from ._http1 import (
    END,
    NEED_DATA,
    NO_BODY_STATUSES,
    BodyFramer,
    H1ProtocolError,
    H1UsageError,
    MessageReader,
    RequestHead,
    response_head,
)
from ._server_context import MAX_RECEIVE, ServerContext, log_app_error, logger
from ._server_http1_exchange import DRAIN_MAX_BYTES, H11Exchange
from ._socket_io import SocketIO
from ._types import Peer

_WATCH_DELAY: Final = 0.05
"""Seconds a handler runs after its request body ended before the socket is watched for EOF."""
_DRAIN_TIMEOUT: Final = 5.0
"""Seconds allowed for that drain (capped by ``header_read_timeout``)."""
_LINGER_TIMEOUT: Final = 2.0
"""Seconds to keep reading (and dropping) a body the server will not drain before closing.

Closing a socket with unread data in its receive buffer sends a TCP reset,
which can destroy the response the client has not read yet (RFC 9112 §9.6
asks for a staged close); so the write side is shut first and the body read
to its end or until this runs out."""

_NEW, _IDLE, _HEAD, _APP, _DRAIN = range(5)
# _NEW: nothing of the first request yet; _IDLE: nothing of the next one yet.
_UNANSWERED, _ANSWERING, _ANSWERED = range(3)
# The response to the current request: not started, head sent, ended.
_INF: Final = math.inf
_CLOSE_HEADER: Final = ("connection", "close")
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


class H11Connection:
    """Serves HTTP/1.1 requests on one stream until it closes, times out or is shut down."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        ctx: ServerContext,
        peer: Peer,
        received: bytes,
        head_deadline: float,
    ) -> None:
        self._stream = stream
        self._io = SocketIO(stream)
        self._ctx = ctx
        self._peer = peer
        self._reader = MessageReader(client=False, max_head_size=ctx.limits.max_header_size)
        if received:
            self._reader.feed(received)
        self._request: RequestHead | None = None
        self._response = _UNANSWERED
        self._framer: BodyFramer | None = None  # of the response, once its head is sent
        self._awaiting_continue = False  # the client waits for a 100 before sending its body
        # The connection task runs in this scope; the supervisor cancels it
        # on a timeout or when the client goes away, a shutdown when idle.
        self._scope = trio.CancelScope()
        self._phase = _HEAD if received else _NEW
        self._deadline = head_deadline  # of the current phase (infinite while the app runs)
        self._armed_at = _INF  # when the running request's body ended (watch for EOF after)
        self._wake_at = head_deadline  # when the supervisor is due to wake up
        self._wake_scope = trio.CancelScope(deadline=head_deadline)
        self._timed_out = False
        self._closing = False
        self._linger = False  # close in stages: the client is still sending a body
        self._broken = False  # a write was cut short or failed: the stream is unusable
        self._eof = False
        self._pending = b""  # bytes the supervisor read while watching, not yet parsed
        self._watch_scope: trio.CancelScope | None = None
        self._watch_done = trio.Event()

    def shutdown(self) -> None:
        """Close now if idle; otherwise answer the request in flight with ``Connection: close``."""
        self._closing = True
        if self._phase == _IDLE or self._phase == _NEW:
            self._scope.cancel()

    async def run(self) -> None:
        """Serve requests until the connection is done; the caller closes the stream."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._supervise)
            try:
                with self._scope:
                    await self._serve()
            finally:
                nursery.cancel_scope.cancel()
        if self._linger:
            await self._linger_close()
        if self._timed_out:
            counters = self._ctx.counters
            if self._phase == _IDLE:
                counters.closed_idle += 1
                logger.debug("closing an idle HTTP/1.1 connection from %s", self._peer.address)
            elif self._phase == _HEAD or self._phase == _NEW:
                counters.closed_timeout += 1
                logger.info("closing %s: request head too slow", self._peer.address)

    # The supervisor.

    def _set_deadline(self, deadline: float) -> None:
        self._deadline = deadline
        if deadline < self._wake_at:
            self._wake_at = self._wake_scope.deadline = deadline

    def arm(self) -> None:
        """The request body has ended: watch for EOF if the app is still running after a while."""
        if self._phase == _APP:
            self._armed_at = now = trio.current_time()
            if now + _WATCH_DELAY < self._wake_at:
                self._wake_at = self._wake_scope.deadline = now + _WATCH_DELAY

    async def _supervise(self) -> None:
        while True:
            with self._wake_scope:
                await trio.sleep_forever()
            now = trio.current_time()
            if now >= self._deadline:
                self._timed_out = True
                self._scope.cancel()
                return
            if self._phase == _APP and now >= self._armed_at + _WATCH_DELAY:
                self._armed_at = _INF
                await self._watch()
            self._wake_at = wake = min(self._deadline, self._armed_at + _WATCH_DELAY)
            self._wake_scope = trio.CancelScope(deadline=wake)

    async def _watch(self) -> None:
        """Read while the app runs: EOF cancels it, bytes (a pipelined request) are kept."""
        self._watch_done = trio.Event()
        self._watch_scope = scope = trio.CancelScope()
        try:
            with scope:
                try:
                    data = await self._io.receive_some(MAX_RECEIVE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if data:
                    self._pending += data
                else:
                    self._eof = True
                    logger.debug("client %s went away: cancelling its handler", self._peer.address)
                    self._scope.cancel()
        finally:
            self._watch_scope = None
            self._watch_done.set()

    async def _stop_watching(self) -> None:
        self._armed_at = _INF
        if self._watch_scope is not None:
            self._watch_scope.cancel()
            await self._watch_done.wait()

    # The request cycle.

    async def _serve(self) -> None:
        reader = self._reader
        limits = self._ctx.limits
        while True:
            request = await self._read_head()
            if request is None:
                return
            self._phase = _APP
            self._deadline = _INF
            await self._handle(request)
            if not await self._finish_cycle():
                return
            reader.start_next()
            self._request = None
            self._response = _UNANSWERED
            if reader.buffered() or self._pending:
                self._phase = _HEAD
                self._set_deadline(trio.current_time() + limits.header_read_timeout)
            else:
                self._phase = _IDLE
                if self._closing:
                    return
                self._set_deadline(trio.current_time() + limits.idle_timeout)

    async def _read_head(self) -> RequestHead | None:
        reader = self._reader
        while True:
            try:
                event = reader.next_event()
            except H1ProtocolError as exc:
                await self._reject(exc)
                return None
            if event is NEED_DATA:
                data = await self._receive()
                if self._phase == _IDLE:
                    if not data:
                        return None
                    self._phase = _HEAD
                    self._set_deadline(trio.current_time() + self._ctx.limits.header_read_timeout)
                elif self._phase == _NEW:
                    self._phase = _HEAD  # still within the deadline set at the accept
                reader.feed(data)
                continue
            if type(event) is RequestHead:
                return event
            return None  # CLOSED

    async def _reject(self, exc: H1ProtocolError) -> None:
        """Answer a broken request head with a bare 4xx (or 505), then the connection closes."""
        status = exc.status
        counters = self._ctx.counters
        if status == 431:
            counters.closed_limit += 1
        else:
            counters.closed_protocol_error += 1
        logger.info("bad HTTP/1.1 request from %s: %s", self._peer.address, exc)
        if self._response != _UNANSWERED:
            return
        self._response = _ANSWERED
        data = response_head(status, [("content-length", "0"), _CLOSE_HEADER])
        with trio.move_on_after(1.0), contextlib.suppress(StreamClosed):
            await self.write(data)

    async def _receive(self) -> bytes:
        if self._pending:
            pending, self._pending = self._pending, b""
            return pending
        if self._eof:
            return b""
        try:
            data = await self._io.receive_some(MAX_RECEIVE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self._eof = True
        return data

    async def write(self, data: bytes) -> None:
        """Write to the socket; a write cut short (cancelled, failed) breaks the connection."""
        if self._broken:
            raise StreamClosed("the connection is closed")
        self._broken = True
        try:
            await self._io.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise StreamClosed("the client closed the connection") from exc
        self._broken = False

    async def read_body(self) -> tuple[bytes, bool]:
        """The next chunk of request body and whether the body has ended."""
        reader = self._reader
        while True:
            try:
                event = reader.next_event()
            except H1ProtocolError as exc:
                self._broken = True
                raise StreamClosed(f"the request body is broken: {exc}") from exc
            if event is NEED_DATA:
                if self._awaiting_continue:
                    self._awaiting_continue = False
                    await self.write(_CONTINUE)
                reader.feed(await self._receive())
                continue
            self._awaiting_continue = False
            if type(event) is bytes:
                return event, False
            if event is END:
                self.arm()
                return b"", True
            self._broken = True
            raise StreamClosed("the client closed the connection")

    def closing(self) -> bool:
        """Whether the response should carry ``Connection: close``."""
        return self._closing

    def close_after_response(self) -> None:
        """End the connection after this response (which then says ``Connection: close``)."""
        self._closing = True

    async def _linger_close(self) -> None:
        """Shut the write side, then drop what the client still sends, for a bounded time."""
        with trio.move_on_after(_LINGER_TIMEOUT):
            if isinstance(self._stream, trio.abc.HalfCloseableStream):
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._stream.send_eof()
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                while await self._stream.receive_some(MAX_RECEIVE):
                    pass

    async def _handle(self, request: RequestHead) -> None:
        self._request = request
        self._awaiting_continue = request.expects_continue
        if not request.keep_alive or request.version != "1.1":
            self._closing = True  # HTTP/1.0, or Connection: close (no 1.0 keep-alive)
        exchange = H11Exchange(self, request)
        # Pull what is already buffered (for a unary call: the whole body),
        # so the handler needs no I/O to read it.
        exchange.prefetch()
        counters = self._ctx.counters
        counters.requests_in_flight += 1
        if exchange.body_done:
            self.arm()
        try:
            # No cancel scope of its own: if the client goes away, the
            # supervisor cancels the whole connection, handler included.
            try:
                await self._ctx.app(exchange)
            except Exception as exc:
                log_app_error(exc, exchange.method, exchange.path)
                await self._answer_failure()
            else:
                await self._complete(exchange)
        finally:
            counters.requests_in_flight -= 1
            counters.requests_served += 1
            await self._stop_watching()

    async def _answer_failure(self) -> None:
        """The app raised: a bare 500 if nothing was sent yet, else cut the response short."""
        if self._response != _UNANSWERED or self._broken or self._eof:
            self._broken = True
            return
        self._response = _ANSWERED
        head = [("content-length", "0")]
        if self._closing:
            head.append(_CLOSE_HEADER)
        with contextlib.suppress(StreamClosed):
            await self.write(response_head(500, head))

    async def _complete(self, exchange: H11Exchange) -> None:
        """The app returned: end the response it left open (500 if it never started one)."""
        if self._response == _ANSWERING:
            try:
                await exchange.end()
            except (StreamClosed, H1UsageError):
                self._broken = True
        elif self._response == _UNANSWERED:
            logger.error("handler for %s %s sent no response", exchange.method, exchange.path)
            await self._answer_failure()

    async def _finish_cycle(self) -> bool:
        """After a request: whether the connection can carry the next one."""
        if self._broken or self._eof or self._response != _ANSWERED:
            return False
        keep = not self._closing
        if not self._reader.message_ended and (not keep or not await self._drain()):
            self._linger = not self._eof  # the client is still sending: close in stages
            return False
        return keep

    async def _drain(self) -> bool:
        """Read and drop the request body the app left unread, within bounds."""
        self._phase = _DRAIN
        limit = min(self._ctx.limits.header_read_timeout, _DRAIN_TIMEOUT)
        self._set_deadline(trio.current_time() + limit)
        reader = self._reader
        drained = 0
        while True:
            try:
                event = reader.next_event()
            except H1ProtocolError:
                return False
            if event is NEED_DATA:
                data = await self._receive()
                drained += len(data)
                if not data or drained > DRAIN_MAX_BYTES:
                    return False
                reader.feed(data)
            elif event is END:
                return True
            elif type(event) is not bytes:
                return False

    def start_response(self, status: int, lines: bytes, length: int | None) -> bytes:
        """The response head: ``lines`` (status line, fields) and the framing; a body may follow."""
        if self._response != _UNANSWERED:
            raise RuntimeError("the response has already started")
        request = self._request
        assert request is not None
        # Without a length: chunks for HTTP/1.1; for HTTP/1.0 the body ends
        # when we close (_handle has set _closing for every 1.0 request).
        chunked = length is None and request.version == "1.1"
        parts = [lines]
        if length is not None:
            parts.append(b"content-length: %d\r\n" % length)
        elif chunked:
            parts.append(b"transfer-encoding: chunked\r\n")
        if self._closing:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        head = b"".join(parts)
        if request.method == "HEAD" or status in NO_BODY_STATUSES:
            length, chunked = 0, False  # the head may tell a length; no body follows it
        self._framer = BodyFramer(length, chunked=chunked)
        self._response = _ANSWERING
        self._awaiting_continue = False
        return head

    def body_framer(self) -> BodyFramer:
        """The framing of the response body under way."""
        if self._response != _ANSWERING or self._framer is None:
            raise RuntimeError("send_head() must come first, and end() last")
        return self._framer

    def response_ended(self) -> None:
        """The response's last byte is going out."""
        self._response = _ANSWERED
