"""One client HTTP/2 connection on trio: a reader task, a writer task, one shared state machine.

Callers (the exchanges) only ever mutate the HTTP/2 state machine (``_http2``) synchronously
and then wake the writer or park until the reader wakes them: no caller
awaits socket I/O, so a caller cancelled at any point never leaves half a
frame on the wire, and writes never run concurrently on the socket.

The reader feeds received bytes to the state machine and dispatches its events
to the streams; the writer sends whatever is queued, coalescing the frames of
every caller that queued something since its last write.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, final

import trio

from ..protocol import Code, ConnectError
from . import _http2 as h2
from ._client_errors import (
    connection_lost,
    frame_too_large,
    goaway_unprocessed,
    malformed_stream,
    protocol_error,
)
from ._http2_client_keepalive import Keepalive
from ._socket_io import SocketIO
from ._types import Peer

if TYPE_CHECKING:
    from ._http2_client_exchange import HTTP2ClientExchange

_RECEIVE_SIZE: Final = 256 * 1024
GOAWAY_GRACE: Final = 1.0
"""Seconds a connection ended by the server's error gets to send its GOAWAY (best effort)."""

# Stop opening streams on a connection this close to the end of the stream-id
# space; the next exchange opens a fresh connection.
_LAST_USABLE_STREAM_ID: Final = 2**31 - 1 - 2 * 1024


@final
class SlotWaiter:
    """A task waiting for a free stream slot on a connection (MAX_CONCURRENT_STREAMS)."""

    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.granted = False


@final
class ClientConnection:
    """An HTTP/2 connection to one server, shared by many exchanges."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        conn: h2.Connection,
        *,
        address: str,
        peer: Peer,
        on_retire: Callable[[ClientConnection], None],
        keepalive: Keepalive | None = None,
    ) -> None:
        self.stream = stream
        self.h2 = conn
        self.last_frame = trio.current_time()
        """When a frame last arrived whole: the keepalive's idle clock. A server that
        trickles bytes into a frame it never finishes does not move it."""
        self._keepalive = keepalive
        self._goaway = b""
        self.address = address
        self.peer = peer
        self.streams: dict[int, HTTP2ClientExchange] = {}
        self.active = 0
        """Streams h2 considers open (not closed in both directions, not reset)."""
        self.usable = True
        """Whether new streams may be opened here (false after GOAWAY, failure, close)."""
        self.dead = False
        self.done = trio.Event()
        self._on_retire = on_retire
        self._carry = b""
        self._writer_event = trio.Event()
        self._writer_idle = False
        self._flushed: trio.Event | None = None
        self._closing = False
        self._slot_waiters: deque[SlotWaiter] = deque()
        self.window_waiters: set[HTTP2ClientExchange] = set()
        self._cancel_scope: trio.CancelScope | None = None
        # A plain socket is written to directly when the writer is idle (see wake_writer).
        self._io = SocketIO(stream)

    # -- slots (SETTINGS_MAX_CONCURRENT_STREAMS) --------------------------------------

    def take_slot(self) -> bool:
        """Claim a stream slot if one is free and nobody is queued for one."""
        if self.active < self.h2.remote_max_concurrent_streams and not self._slot_waiters:
            self.active += 1
            return True
        return False

    async def wait_slot(self) -> bool:
        """Queue for a slot; true if one was handed over, false if the connection retired."""
        waiter = SlotWaiter()
        self._slot_waiters.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:
                self.release_slot()
            elif waiter in self._slot_waiters:
                self._slot_waiters.remove(waiter)
            raise
        return waiter.granted

    def release_slot(self) -> None:
        """A stream closed: free its slot (or hand it to the next waiter)."""
        self.active -= 1
        self._wake_slot_waiters()
        if not self.usable and self.active <= 0 and not self.streams:
            self.shutdown()

    def _wake_slot_waiters(self) -> None:
        """The limit rose or the connection retired: let waiters look again."""
        if not self.usable:
            while self._slot_waiters:
                self._slot_waiters.popleft().event.set()
            return
        limit = self.h2.remote_max_concurrent_streams
        while self._slot_waiters and self.active < limit:
            waiter = self._slot_waiters.popleft()
            self.active += 1
            waiter.granted = True
            waiter.event.set()

    def note_stream_id(self, stream_id: int) -> None:
        """Retire the connection once stream ids run out."""
        if stream_id >= _LAST_USABLE_STREAM_ID:
            self.retire()

    # -- writing ----------------------------------------------------------------------

    def wake_writer(self) -> None:
        """Frames were queued on the h2 state: send them now, or have the writer send them.

        When the writer is idle, the connection is a plain socket and at most
        one stream is open, the frames are written at once with one
        non-blocking ``write``: it cannot be interrupted half-way (nothing is
        awaited) and saves a task switch; whatever the socket does not take
        goes to the writer task. With more streams, the writer's one write of
        every caller's frames queued in a scheduler pass is worth more than
        the switch (fewer system calls here, fewer reads at the server).
        """
        if not self._writer_idle or not (self._carry or self.h2.has_output):
            return
        if self._io.direct and not self.dead and len(self.streams) <= 1:
            data = self._take_output()
            sent = self._io.send_now(data)  # full or broken (0): the writer finds out
            if sent == len(data):
                flushed = self._flushed
                if flushed is not None:
                    self._flushed = None
                    flushed.set()
                return
            self._carry = data[sent:]
        self._writer_idle = False
        self._writer_event.set()

    async def wait_flushed(self) -> None:
        """Wait until everything queued so far has been handed to the socket."""
        self.wake_writer()
        if self.dead or self._writer_idle:  # idle after a wake: nothing is left to write
            await trio.lowlevel.checkpoint()
            return
        flushed = self._flushed
        if flushed is None:
            flushed = self._flushed = trio.Event()
        await flushed.wait()

    def _take_output(self) -> bytes:
        data = self.h2.data_to_send()
        if self._carry:
            data = self._carry + data
            self._carry = b""
        return data

    async def _writer(self) -> None:
        io = self._io
        try:
            while True:
                data = self._take_output()
                if data:
                    flushed, self._flushed = self._flushed, None
                    await io.send_all(data)
                    if flushed is not None:
                        flushed.set()
                    continue
                if self._flushed is not None:
                    self._flushed.set()
                    self._flushed = None
                if self._closing:
                    break
                self._writer_event = trio.Event()
                self._writer_idle = True
                await self._writer_event.wait()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.fail(connection_lost(self.address, exc))
            return
        self.fail(connection_lost(self.address, "the client closed the connection"))

    # -- reading ----------------------------------------------------------------------

    async def _reader(self) -> None:
        h2conn = self.h2
        io = self._io
        while True:
            try:
                data = await io.receive_some(_RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                self.fail(connection_lost(self.address, exc))
                return
            if not data:
                self.fail(connection_lost(self.address))
                return
            frames = h2conn.frames_received
            try:
                events = h2conn.receive(data)
            except h2.H2ConnectionError as exc:
                if exc.frame_length:
                    limit = h2.DEFAULT_MAX_FRAME_SIZE
                    error = frame_too_large(self.address, exc.frame_length, limit, handshake=False)
                else:
                    error = protocol_error(self.address, exc)
                self.abort(error)  # the GOAWAY is queued
                return
            if h2conn.frames_received != frames:
                self.last_frame = trio.current_time()
            self.wake_writer()  # SETTINGS and PING acks, WINDOW_UPDATEs
            self.dispatch(events)

    def dispatch(self, events: list[h2.Event]) -> None:
        """Hand the state machine's events to the streams they concern."""
        streams = self.streams
        for event in events:
            if isinstance(event, h2.DataReceived):
                target = streams.get(event.stream_id)
                if target is None:
                    self.consumed(None, event.flow_length)
                    continue
                if event.data or event.flow_length:
                    target.on_data(event.data, event.flow_length)
                if event.end_stream:
                    target.on_end()
            elif isinstance(event, h2.HeadersReceived):
                target = streams.get(event.stream_id)
                if target is None:
                    continue
                if event.trailers:
                    target.on_trailers(event.fields)
                else:
                    status = event.pseudo[b":status"]
                    if status[:1] == b"1":
                        continue  # informational: the real head follows
                    target.on_head(int(status), event.fields)
                if event.end_stream:
                    target.on_end()
            elif isinstance(event, h2.WindowUpdated):
                if not event.stream_id:
                    self._wake_window_waiters()
                else:
                    target = streams.get(event.stream_id)
                    if target is not None:
                        target.wake_send()
            elif isinstance(event, h2.StreamReset):
                target = streams.get(event.stream_id)
                if target is not None:
                    error = None if event.remote else malformed_stream(self.address, event)
                    target.on_reset(event.code, error)
            elif isinstance(event, h2.SettingsReceived):
                self._wake_window_waiters()
                self._wake_slot_waiters()
            elif isinstance(event, h2.GoAwayReceived):
                self._on_goaway(event.code, event.last_stream_id)
            elif isinstance(event, h2.PingAcknowledged) and self._keepalive is not None:
                self._keepalive.on_ack(event.payload)
            # Everything else (settings acks, pings, priority) needs no action.

    def _wake_window_waiters(self) -> None:
        if self.window_waiters:
            for waiter in list(self.window_waiters):
                waiter.wake_send()

    def consumed(self, stream: HTTP2ClientExchange | None, size: int) -> None:
        """The caller took ``size`` flow-controlled bytes: give the server credit back."""
        if self.dead or not size:
            return
        self.h2.acknowledge(0 if stream is None else stream.stream_id, size)
        self.wake_writer()

    def send_ping(self, payload: bytes) -> bool:
        """Queue a PING with ``payload`` and wake the writer; false if the connection is ending."""
        if self.dead or self._closing:
            return False
        self.h2.ping(payload)
        self.wake_writer()
        return True

    # -- life cycle -------------------------------------------------------------------

    def _on_goaway(self, error_code: int, last_stream_id: int) -> None:
        self.retire()
        for stream_id, stream in list(self.streams.items()):
            if stream_id > last_stream_id:
                stream.on_unprocessed(goaway_unprocessed(self.address, error_code))
        if self.active <= 0:
            self.shutdown()

    def retire(self) -> None:
        """Open no new streams here; the live ones finish. The transport forgets us."""
        if self.usable:
            self.usable = False
            self._on_retire(self)
            self._wake_slot_waiters()

    def shutdown(self) -> None:
        """Close gracefully: send GOAWAY after what is queued, then close the socket."""
        self.retire()
        if self._closing or self.dead:
            return
        self._closing = True
        if not self.h2.closed:
            self.h2.goaway()
        self.wake_writer()
        if self._writer_idle:  # the GOAWAY went out at once: the writer still has to finish
            self._writer_idle = False
            self._writer_event.set()

    def close(self, error: ConnectError) -> None:
        """Fail every unfinished stream with ``error`` and shut the connection down."""
        self.retire()
        for stream in list(self.streams.values()):
            stream.on_connection_failed(error)
        self.active = 0
        self.shutdown()

    def fail(self, error: ConnectError) -> None:
        """The connection is gone: fail every unfinished stream at once."""
        if self.dead:
            return
        self.retire()
        self.dead = True
        for stream in list(self.streams.values()):
            stream.on_connection_failed(error)
        self.active = 0
        self.window_waiters.clear()
        if self._flushed is not None:
            self._flushed.set()
            self._flushed = None
        self._closing = True
        self.wake_writer()
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    def abort(self, error: ConnectError, goaway_code: int | None = None) -> None:
        """The server broke the protocol: fail everything at once, GOAWAY best effort.

        With ``goaway_code`` a GOAWAY with that code is queued (otherwise only
        what the state machine queued itself goes out). It is sent after the streams have
        failed, in the closing connection's own time, and only if the writer
        was between writes: half a frame on the wire would garble it.
        """
        clean = self._writer_idle and not self.dead
        self.fail(error)
        if not clean:
            return
        if goaway_code is not None:
            self.h2.goaway(goaway_code)
        self._goaway = self._take_output()

    async def _send_goaway(self) -> None:
        goaway, self._goaway = self._goaway, b""
        if goaway:
            with (
                trio.move_on_after(GOAWAY_GRACE),
                contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError),
            ):
                await self.stream.send_all(goaway)

    async def run(self) -> None:
        """Run the reader, the writer and the keepalive until the connection ends; then close."""
        try:
            async with trio.open_nursery() as nursery:
                self._cancel_scope = nursery.cancel_scope
                if self.dead:
                    nursery.cancel_scope.cancel()
                nursery.start_soon(self._writer)
                if self._keepalive is not None:
                    nursery.start_soon(self._keepalive.run, self)
                await self._reader()
                nursery.cancel_scope.cancel()
        except Exception as exc:  # a bug here must not take the host down
            error = ConnectError(Code.INTERNAL, f"client transport error: {exc!r}")
            error.__cause__ = exc
            self.fail(error)
        finally:
            self.fail(connection_lost(self.address, "the client closed the connection"))
            try:
                await self._send_goaway()
            finally:
                try:
                    await trio.aclose_forcefully(self.stream)
                finally:  # a cancelled run gets Cancelled out of the close: still done
                    self.done.set()
