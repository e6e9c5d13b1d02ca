"""One request and its response on a client HTTP/2 connection."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, final

import trio

from .._util import NoPublicConstructor
from ..protocol import Code, ConnectError, Metadata
from ._client_errors import copy_error, stream_reset, transport_closed
from ._http2 import ErrorCode
from ._types import Peer

if TYPE_CHECKING:
    from ._http2_client import HTTP2Transport
    from ._http2_client_connection import ClientConnection
    from ._http2_client_share import HTTP2TransportShare

_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
_current_task = trio.lowlevel.current_task
_reschedule = trio.lowlevel.reschedule
_wait_task_rescheduled = trio.lowlevel.wait_task_rescheduled
_ABORT_SUCCEEDED = trio.lowlevel.Abort.SUCCEEDED


def _metadata(fields: list[tuple[str, str]]) -> Metadata:
    """Response fields as Metadata: values that are not ASCII are read as UTF-8.

    The state machine has checked them (RFC 9113 §8.2) and decoded them as latin-1.
    """
    for _name, value in fields:
        if not value.isascii():
            fields = [
                (name, text.encode("latin-1").decode("utf-8", "replace")) for name, text in fields
            ]
            break
    return Metadata.from_parsed(fields)


@final
class HTTP2ClientExchange(metaclass=NoPublicConstructor):
    """One HTTP/2 request in flight and its response: an HTTP2Transport's ClientExchange.

    Obtained from :meth:`HTTP2Transport.exchange`; used as an async context
    manager. Leaving the context before the stream has finished in both
    directions resets it with RST_STREAM(CANCEL).
    """

    __slots__ = (
        "_body",
        "_chunks",
        "_conn",
        "_entered",
        "_error",
        "_head",
        "_headers",
        "_method",
        "_owner",
        "_path",
        "_peer",
        "_recv_task",
        "_request_ended",
        "_response_ended",
        "_send_closed",
        "_send_task",
        "_slot_held",
        "_transport",
        "stream_id",
        "trailers",
    )

    def __init__(
        self,
        transport: HTTP2Transport,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        owner: HTTP2TransportShare | None = None,
    ) -> None:
        self._transport = transport
        self._owner = owner
        self._method = method
        self._path = path
        self._headers = headers
        self._body = body
        self._conn: ClientConnection | None = None
        self._peer: Peer | None = None
        self._entered = False
        self._head: tuple[int, Metadata] | None = None
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._response_ended = False
        self._request_ended = False
        self._send_closed = False
        self._error: ConnectError | None = None
        self._slot_held = False
        self._recv_task: trio.lowlevel.Task | None = None
        self._send_task: trio.lowlevel.Task | None = None
        self.stream_id = 0
        """The HTTP/2 stream id, once the request has been started."""
        self.trailers: Metadata | None = None
        """HTTP trailers, if the response carried any (Connect itself does not use them)."""

    # -- the context ------------------------------------------------------------------

    async def __aenter__(self) -> HTTP2ClientExchange:
        if self._entered:
            raise RuntimeError("an exchange can be entered only once")
        self._entered = True
        owner = self._owner
        if owner is not None and owner.closed:
            raise transport_closed()
        conn = await self._transport._acquire()
        if owner is not None and owner.closed:  # closed while it waited for a connection
            conn.release_slot()
            raise transport_closed()
        try:
            self._open(conn)
            body = self._body
            if body is not None and not self._request_ended:
                self._body = None
                await self._send(body, end=True)
        except BaseException:
            self._finish()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish()

    def _open(self, conn: ClientConnection) -> None:
        """Start the stream on ``conn`` (which holds a slot for it); no awaiting."""
        h2conn = conn.h2
        try:
            headers = self._transport._request_headers(self._method, self._path, self._headers)
        except BaseException:
            conn.release_slot()
            raise
        self._headers = ()
        stream_id = h2conn.open_stream()
        self.stream_id = stream_id
        self._conn = conn
        self._peer = conn.peer
        self._slot_held = True
        conn.streams[stream_id] = self
        conn.note_stream_id(stream_id)
        body = self._body
        if body is not None and not body:
            h2conn.send_headers(stream_id, headers, end_stream=True)
            self._request_ended = True
            self._body = None
        else:
            h2conn.send_headers(stream_id, headers)
            if (
                body is not None
                and len(body) <= h2conn.max_outbound_frame_size
                and len(body) <= h2conn.send_window(stream_id)
            ):
                h2conn.send_data(stream_id, body, end_stream=True)
                self._request_ended = True
                self._body = None
        conn.wake_writer()

    def _finish(self) -> None:
        """Leave the exchange: reset the stream unless it is done; never awaits."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        if self._error is None and not self._response_ended:
            self._error = ConnectError(Code.CANCELED, "the exchange was closed")
        self._wake_recv()
        self.wake_send()
        conn.streams.pop(self.stream_id, None)
        conn.window_waiters.discard(self)
        leftover = 0
        for _data, size in self._chunks:
            leftover += size
        self._chunks.clear()
        if leftover and not conn.dead:
            conn.consumed(None, leftover)
        if not self._reset(conn) and not conn.usable and conn.active <= 0 and not conn.streams:
            conn.shutdown()

    def _reset(self, conn: ClientConnection) -> bool:
        """Reset the stream if it still holds its slot (and give the slot back); say if it did."""
        if not self._slot_held:
            return False
        self._slot_held = False
        if not conn.dead:
            conn.h2.reset_stream(self.stream_id, ErrorCode.CANCEL)
            conn.wake_writer()
        conn.release_slot()
        return True

    def abort(self, error: ConnectError) -> None:
        """End the exchange from outside its task: its waits raise ``error``, and so do later ones.

        A response that has already ended is still read to its end. The task
        using the exchange resets the stream when it leaves the context, as
        it would after any failure. Never awaits.
        """
        if self._error is None and not self._response_ended:
            self._error = error
        self._wake_recv()
        self.wake_send()

    # -- parking ----------------------------------------------------------------------

    def _abort_recv(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self._recv_task = None
        return _ABORT_SUCCEEDED

    def _abort_send(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self._send_task = None
        conn = self._conn
        if conn is not None:
            conn.window_waiters.discard(self)
        return _ABORT_SUCCEEDED

    async def _wait_recv(self) -> None:
        if self._recv_task is not None:
            raise trio.BusyResourceError("another task is already receiving on this exchange")
        self._recv_task = _current_task()
        await _wait_task_rescheduled(self._abort_recv)

    async def _wait_send(self, conn: ClientConnection) -> None:
        if self._send_task is not None:
            raise trio.BusyResourceError("another task is already sending on this exchange")
        self._send_task = _current_task()
        conn.window_waiters.add(self)
        await _wait_task_rescheduled(self._abort_send)

    def _wake_recv(self) -> None:
        task = self._recv_task
        if task is not None:
            self._recv_task = None
            _reschedule(task)

    def wake_send(self) -> None:
        """Wake the task waiting for send window, if any (called by the connection)."""
        task = self._send_task
        if task is not None:
            self._send_task = None
            conn = self._conn
            if conn is not None:
                conn.window_waiters.discard(self)
            _reschedule(task)

    # -- events from the connection ---------------------------------------------------

    def on_head(self, status: int, fields: list[tuple[str, str]]) -> None:
        """The response head arrived (checked by the state machine)."""
        self._head = (status, _metadata(fields))
        self._wake_recv()

    def on_data(self, data: bytes, flow_controlled_length: int) -> None:
        """A chunk of the response body arrived."""
        self._chunks.append((data, flow_controlled_length))
        self._wake_recv()

    def on_trailers(self, fields: list[tuple[str, str]]) -> None:
        """HTTP trailers arrived (the end of the response follows)."""
        self.trailers = _metadata(fields)

    def _address(self) -> str:
        conn = self._conn
        return conn.address if conn is not None else "the server"

    def on_end(self) -> None:
        """The response ended."""
        if self._error is not None:
            return
        self._response_ended = True
        self._wake_recv()
        if self._request_ended and self._slot_held and self._conn is not None:
            self._slot_held = False
            self._conn.release_slot()

    def on_reset(self, error_code: int, error: ConnectError | None = None) -> None:
        """The server reset the stream, or we did (``error``) because it broke the protocol."""
        self._send_closed = True
        if error is not None and self._error is None:
            self._error = error
        elif not self._response_ended and self._error is None:
            self._error = stream_reset(self._address(), error_code)
        if self._slot_held and self._conn is not None:
            self._slot_held = False
            self._conn.release_slot()
        self._wake_recv()
        self.wake_send()

    def on_unprocessed(self, error: ConnectError) -> None:
        """The server's GOAWAY says it never processed this stream."""
        self._send_closed = True
        if not self._response_ended and self._error is None:
            self._error = error
        if self._slot_held and self._conn is not None:
            self._slot_held = False
            self._conn.release_slot()
        self._wake_recv()
        self.wake_send()

    def on_connection_failed(self, error: ConnectError) -> None:
        """The connection died (the connection resets its own slot count)."""
        self._send_closed = True
        self._slot_held = False
        if not self._response_ended and self._error is None:
            self._error = error
        self._wake_recv()
        self.wake_send()

    # -- the request ------------------------------------------------------------------

    def _live_conn(self) -> ClientConnection:
        conn = self._conn
        if conn is None:
            if not self._entered:
                raise RuntimeError("use the exchange as an async context manager first")
            raise RuntimeError("the exchange has been closed")
        return conn

    async def _send(self, data: bytes, *, end: bool) -> None:
        conn = self._live_conn()
        h2conn = conn.h2
        stream_id = self.stream_id
        view = memoryview(data)
        remaining = len(view)
        while True:
            if self._error is not None:
                raise copy_error(self._error)
            if self._send_closed:
                return  # the server finished and closed the stream: the response tells all
            if not remaining:
                break
            window = h2conn.send_window(stream_id)
            if window <= 0:
                try:
                    await self._wait_send(conn)
                except trio.Cancelled:
                    if remaining < len(data):
                        self._cut_off(conn)
                    raise
                continue
            frame_size = h2conn.max_outbound_frame_size
            budget = min(window, remaining)
            while budget > 0:
                size = min(budget, frame_size)
                last = end and size == remaining
                h2conn.send_data(stream_id, view[:size].tobytes(), end_stream=last)
                view = view[size:]
                budget -= size
                remaining -= size
            conn.wake_writer()
        if end:
            if data:
                self._request_ended = True
            else:
                self._end_stream(conn)
            if self._response_ended and self._slot_held:
                self._slot_held = False
                conn.release_slot()
        await conn.wait_flushed()
        if self._error is not None:
            raise copy_error(self._error)

    def _cut_off(self, conn: ClientConnection) -> None:
        """A send was cancelled with part of its data out: reset the stream, never leave half."""
        if self._error is None:
            self._error = ConnectError(
                Code.CANCELED,
                "a send was cancelled after part of its data went out; the stream was reset "
                "so that the server never sees half a message",
            )
        self._send_closed = True
        self._reset(conn)
        self._wake_recv()

    def _end_stream(self, conn: ClientConnection) -> None:
        self._request_ended = True
        if not self._send_closed and not conn.dead:
            conn.h2.end_stream(self.stream_id)
            conn.wake_writer()

    async def send_data(self, data: bytes) -> None:
        """Write part of the request body; waits for flow-control window and the socket.

        Cancelled after part of ``data`` went out (waiting for window), it
        resets the stream: the server sees all of ``data`` or a reset.

        Raises:
            ConnectError: the stream or the connection failed.
            RuntimeError: the request has already ended.
        """
        conn = self._live_conn()
        if self._request_ended:
            raise RuntimeError("the request has already ended")
        await _checkpoint_if_cancelled()
        if data:
            await self._send(data, end=False)
        elif self._error is not None:
            raise copy_error(self._error)
        del conn

    async def end_request(self) -> None:
        """Finish the request body (END_STREAM). Ending it twice does nothing."""
        conn = self._live_conn()
        await _checkpoint_if_cancelled()
        if self._request_ended:
            return
        if self._error is not None:
            self._request_ended = True
            raise copy_error(self._error)
        self._end_stream(conn)
        if self._response_ended and self._slot_held:
            self._slot_held = False
            conn.release_slot()

    # -- the response -----------------------------------------------------------------

    async def receive_head(self) -> tuple[int, Metadata]:
        """The response status and headers, once they arrive.

        Raises:
            ConnectError: the stream was reset or the connection failed first.
        """
        self._live_conn()
        while True:
            head = self._head
            if head is not None:
                await _checkpoint_if_cancelled()
                return head
            if self._error is not None:
                raise copy_error(self._error)
            await self._wait_recv()

    async def receive_data(self) -> bytes:
        """The next chunk of the response body; ``b""`` once it has ended.

        Consuming data gives the server flow-control credit back, so a slow
        reader slows the server down instead of buffering without bound.

        Raises:
            ConnectError: the stream was reset or the connection failed before the end.
        """
        conn = self._live_conn()
        chunks = self._chunks
        while True:
            if chunks:
                data, size = chunks.popleft()
                if size:
                    conn.consumed(self, size)
                if data:
                    await _checkpoint_if_cancelled()
                    return data
                continue
            if self._response_ended:
                await _checkpoint_if_cancelled()
                return b""
            if self._error is not None:
                raise copy_error(self._error)
            await self._wait_recv()

    @property
    def peer(self) -> Peer | None:
        """The server: its address, HTTP/2, and the TLS session if any."""
        return self._peer
