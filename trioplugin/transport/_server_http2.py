"""One HTTP/2 connection of the server: a reader loop, a writer task, a task per stream.

Only the reader feeds the HTTP/2 state machine (``_http2``) received bytes; the reader and
the stream tasks mutate it synchronously and queue what it emits; only the
writer task writes to the socket. So writes never overlap, and a cancelled
stream task never leaves half a frame behind. Unsent bytes are bounded: above
:data:`_OUTBUF_HIGH` the reader stops reading and streams stop writing until
the writer catches up, which also bounds what a client that floods PINGs or
SETTINGS without reading the answers can make the server hold.
"""

from __future__ import annotations

import math
from typing import Final

import trio

from ..protocol import Metadata
from . import _http2 as h2
from ._http2 import ErrorCode
from ._server_context import MAX_RECEIVE, ServerContext, log_app_error, logger
from ._server_http2_stream import H2Exchange
from ._socket_io import SocketIO
from ._types import Peer

_OUTBUF_HIGH: Final = 256 * 1024
"""Unsent bytes above which reading and stream writes wait for the writer."""
_CLOSE_FLUSH_TIMEOUT: Final = 1.0
"""Seconds given to the last frames (GOAWAY) before a closing connection is cut."""
_FLOOD_WINDOW: Final = 10.0
"""The window, in seconds, over which the flood caps below count."""
_CONTROL_FRAME_LIMIT: Final = 1000
"""PING, SETTINGS, PRIORITY, unknown and empty DATA frames allowed per window."""
_RESET_LIMIT_FLOOR: Final = 400
"""Rapid reset: streams the client may reset (or get refused) per window before the
ratio below is looked at; at least this many, or four times ``max_concurrent_streams``."""
_RESET_RATIO: Final = 0.5
"""Beyond that floor, GOAWAY once more than this share of the window's new streams were reset
(a busy client whose calls time out now and then never gets near it; an attack resets all)."""
_STREAM_WINDOW: Final = h2.DEFAULT_WINDOW
"""The receive window of each stream (the HTTP/2 default): what one stream may buffer."""

_CONTROL_EVENTS: Final = (
    h2.PingReceived,
    h2.PingAcknowledged,
    h2.SettingsReceived,
    h2.SettingsAcknowledged,
    h2.OtherFrameReceived,
)


class _Meter:
    """Counts events in fixed windows of time; says when a window's count passes its limit."""

    __slots__ = ("_count", "_limit", "_window_end")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0
        self._window_end = -math.inf

    def exceeded(self) -> bool:
        now = trio.current_time()
        if now >= self._window_end:
            self._count = 0
            self._window_end = now + _FLOOD_WINDOW
        self._count += 1
        return self._count > self._limit


class _ResetMeter:
    """Counts new streams and resets per window: rapid reset is many resets, mostly."""

    __slots__ = ("_floor", "_opened", "_resets", "_window_end")

    def __init__(self, floor: int) -> None:
        self._floor = floor
        self._opened = self._resets = 0
        self._window_end = -math.inf

    def _roll(self) -> None:
        now = trio.current_time()
        if now >= self._window_end:
            self._opened = self._resets = 0
            self._window_end = now + _FLOOD_WINDOW

    def opened(self) -> None:
        self._roll()
        self._opened += 1

    def reset_exceeded(self) -> bool:
        self._roll()
        self._resets += 1
        return self._resets > self._floor and self._resets > _RESET_RATIO * self._opened


class H2Connection:
    """Serves HTTP/2 streams on one stream until it closes, idles out, or is shut down."""

    def __init__(self, stream: trio.abc.Stream, ctx: ServerContext, peer: Peer, received: bytes):
        self._stream = stream
        self._ctx = ctx
        self._peer = peer
        self._received = received
        limits = ctx.limits
        self._max_streams = limits.max_concurrent_streams
        # Each stream may buffer its own window; the connection window covers them all,
        # so one slow reader never starves the other streams. A stream beyond the
        # advertised limit is refused alone (RST_STREAM REFUSED_STREAM), below.
        self.h2 = h2.Connection(
            client=False,
            max_concurrent_streams=self._max_streams,
            stream_window=_STREAM_WINDOW,
            connection_window=max(
                min(self._max_streams * _STREAM_WINDOW, h2.MAX_WINDOW), h2.DEFAULT_WINDOW
            ),
            max_header_list_size=limits.max_header_size,
        )
        self.dead = False  # the peer is gone or the socket failed: nothing more can be sent
        self._streams: dict[int, H2Exchange] = {}
        self._outbuf: list[bytes] = []
        self._outbuf_size = 0
        self._io = SocketIO(stream)
        self._writer_lot = trio.lowlevel.ParkingLot()
        self._progress_lot = trio.lowlevel.ParkingLot()  # the writer sent something
        self._window_lot = trio.lowlevel.ParkingLot()  # some flow-control window opened
        self._goaway_sent = False
        self._last_stream_id = h2.STREAM_ID_MASK  # streams above it are refused after a GOAWAY
        self._remote_goaway = False
        self._wait_scope = trio.CancelScope(deadline=trio.current_time() + limits.idle_timeout)
        self._nursery: trio.Nursery | None = None
        self._resets = _ResetMeter(max(_RESET_LIMIT_FLOOR, 4 * self._max_streams))
        self._control_frames = _Meter(_CONTROL_FRAME_LIMIT)
        self.flush()

    # Lifecycle.

    def shutdown(self) -> None:
        """Send GOAWAY; close once the streams in flight are done."""
        if self._goaway_sent or self.dead:
            return
        self._goaway_sent = True
        self._last_stream_id = self.h2.highest_inbound_stream_id
        # Frames are still processed after it: the streams in flight finish.
        self.h2.goaway(ErrorCode.NO_ERROR, self._last_stream_id)
        self.flush()
        if not self._streams:
            self._wait_scope.cancel()

    async def run(self) -> None:
        """Serve until the connection is done; the caller closes the stream."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._write_loop)
            try:
                await self._read_loop()
                if not self.dead:
                    with trio.move_on_after(_CLOSE_FLUSH_TIMEOUT):
                        while self._outbuf_size and not self.dead:
                            await self._progress_lot.park()
                        await self._linger()
            finally:
                self.dead = True
                for exchange in list(self._streams.values()):
                    exchange.on_reset()
                nursery.cancel_scope.cancel()

    async def _read_loop(self) -> None:
        if self._received and not self._feed(self._received):
            return
        io = self._io
        with self._wait_scope:
            while True:
                while self._outbuf_size > _OUTBUF_HIGH and not self.dead:
                    await self._progress_lot.park()
                try:
                    data = await io.receive_some(MAX_RECEIVE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    self.dead = True
                    return
                if not self._feed(data):
                    return
        if self._goaway_sent or self._remote_goaway or self.dead:
            return  # drained after a GOAWAY, or a shutdown of an idle connection
        self._ctx.counters.closed_idle += 1
        logger.debug("closing an idle HTTP/2 connection from %s", self._peer.address)
        self.shutdown()

    async def _linger(self) -> None:
        """Half-close, then read to the client's EOF: unread bytes would RST our last frames."""
        stream = self._stream
        if self.dead or not isinstance(stream, trio.SocketStream):
            return  # TLS has no half-close: the GOAWAY has to do
        try:
            await stream.send_eof()
            while await stream.receive_some(MAX_RECEIVE):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    def _abort(self) -> None:
        self.dead = True
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # Writing: through the writer task, or straight to an idle plain socket.

    def _queue(self, data: bytes) -> None:
        if self._io.direct and self._writer_lot and not self._outbuf and not self.dead:
            # The writer parked with nothing queued: one non-blocking write from here
            # cannot interleave with it, and saves a task switch per response. It also
            # sends each response as it is ready: batching a scheduler pass's
            # responses into one write had the client idle while the server ran them
            # all, and the server idle while the client ran the next requests
            # (lock-step: 2,950 against 5,400 calls/s at c=64 on one run). What the
            # socket does not take (or an error) goes to the writer. (A parked writer
            # means run() is live: the socket is ours.)
            sent = self._io.send_now(data)
            if sent == len(data):
                return
            data = data[sent:]
        self._outbuf.append(data)
        self._outbuf_size += len(data)
        if self._writer_lot:
            self._writer_lot.unpark()

    def flush(self) -> None:
        """Queue whatever the HTTP/2 state machine has to send, and wake the writer."""
        data = self.h2.data_to_send()
        if data:
            self._queue(data)

    async def _write_loop(self) -> None:
        stream = self._stream
        while True:
            if not self._outbuf:
                await self._writer_lot.park()
                continue
            chunks, self._outbuf = self._outbuf, []
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            try:
                await stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                logger.debug("HTTP/2 connection to %s broke while writing", self._peer.address)
                self._abort()
                return
            self._outbuf_size -= len(data)
            if self._progress_lot:
                self._progress_lot.unpark_all()

    async def wait_output_room(self) -> None:
        """Wait while too much is queued for the socket (the client reads slowly)."""
        while self._outbuf_size > _OUTBUF_HIGH and not self.dead:
            await self._progress_lot.park()

    async def wait_window(self) -> None:
        """Wait for a flow-control window to open (any stream's, or the connection's)."""
        await self._window_lot.park()

    def acknowledge(self, stream_id: int, length: int) -> None:
        """The app read ``length`` flow-controlled bytes: let the client send more."""
        if length and not self.dead:
            self.h2.acknowledge(stream_id, length)
            self.flush()

    # Reading: h2 events.

    def _feed(self, data: bytes | bytearray) -> bool:
        """Hand received bytes to h2 and act on its events; False once the connection must end."""
        try:
            events = self.h2.receive(data)
        except h2.H2ConnectionError as exc:
            counters = self._ctx.counters
            if exc.abuse:
                counters.closed_limit += 1
            else:
                counters.closed_protocol_error += 1
            logger.info("HTTP/2 protocol error from %s: %s", self._peer.address, exc)
            self.flush()  # the GOAWAY
            return False
        ok = True
        for event in events:
            kind = type(event)
            if kind is h2.DataReceived:
                self._on_data(event)  # type: ignore[arg-type]
            elif kind is h2.HeadersReceived:
                ok = self._on_headers(event)  # type: ignore[arg-type]
            elif kind is h2.WindowUpdated:
                self._window_lot.unpark_all()
            elif kind is h2.StreamReset:
                ok = self._on_reset(event)  # type: ignore[arg-type]
            elif kind is h2.GoAwayReceived:
                self._remote_goaway = True
                if not self._streams:
                    self._wait_scope.cancel()
            elif kind in _CONTROL_EVENTS:
                if kind is h2.SettingsReceived:
                    self._window_lot.unpark_all()
                ok = self._count_control_frame()
            if not ok:
                break
        self.flush()
        return ok

    def _calm_down(self, why: str) -> bool:
        self._ctx.counters.closed_limit += 1
        logger.warning("closing HTTP/2 connection from %s: %s", self._peer.address, why)
        self.h2.goaway(ErrorCode.ENHANCE_YOUR_CALM)
        return False

    def _count_control_frame(self) -> bool:
        if self._control_frames.exceeded():
            return self._calm_down("too many control frames (PING/SETTINGS/PRIORITY flood)")
        return True

    def _on_data(self, event: h2.DataReceived) -> None:
        stream_id = event.stream_id
        length = event.flow_length
        exchange = self._streams.get(stream_id)
        if exchange is None or exchange.finished:
            # Nobody will read it: give the window back now.
            self.h2.acknowledge(stream_id, length)
            return
        if event.data:
            exchange.on_data(event.data, length)
        elif length:
            self.h2.acknowledge(stream_id, length)  # padding only
        if event.end_stream:
            exchange.on_end()

    def _on_headers(self, event: h2.HeadersReceived) -> bool:
        stream_id = event.stream_id
        if event.trailers:
            exchange = self._streams.get(stream_id)
            if exchange is not None:
                exchange.on_end()  # request trailers mean nothing to Connect
            return True
        self._resets.opened()
        if (
            len(self._streams) >= self._max_streams
            or stream_id > self._last_stream_id
            or self._remote_goaway
        ):
            self.h2.reset_stream(stream_id, ErrorCode.REFUSED_STREAM)
            if self._resets.reset_exceeded():
                return self._calm_down("too many streams reset or refused (rapid reset)")
            return True
        pseudo = event.pseudo
        exchange = H2Exchange(
            self,
            stream_id,
            pseudo[b":method"].decode("ascii"),
            pseudo.get(b":path", b"").decode("latin-1"),
            Metadata.from_parsed(event.fields),
            self._peer,
        )
        if event.end_stream:
            exchange.body_done = True
        self._streams[stream_id] = exchange
        self._wait_scope.deadline = math.inf
        assert self._nursery is not None
        self._nursery.start_soon(self._run_stream, exchange)
        return True

    def _on_reset(self, event: h2.StreamReset) -> bool:
        exchange = self._streams.get(event.stream_id)
        if exchange is not None:
            exchange.on_reset()
            self._window_lot.unpark_all()
        elif not event.remote:
            # A stream we reset for the client's fault before it reached the app (a
            # malformed request, mostly): it counts as a new stream reset, so a flood
            # of them is cut off like rapid reset.
            logger.info("reset a stream from %s: %s", self._peer.address, event.reason)
            self._resets.opened()
        if (event.remote or exchange is None) and self._resets.reset_exceeded():
            return self._calm_down("too many streams reset (rapid reset)")
        return True

    # The stream tasks.

    async def _run_stream(self, exchange: H2Exchange) -> None:
        counters = self._ctx.counters
        counters.requests_in_flight += 1
        try:
            with exchange.scope:
                try:
                    await self._ctx.app(exchange)
                except Exception as exc:
                    log_app_error(exc, exchange.method, exchange.path)
                    self._answer_failure(exchange)
                else:
                    self._complete(exchange)
        finally:
            counters.requests_in_flight -= 1
            counters.requests_served += 1
            self._finish(exchange)

    def _answer_failure(self, exchange: H2Exchange) -> None:
        """The app raised: a bare 500 if nothing was sent yet, else reset the stream."""
        if exchange.ended or self.dead:
            return
        stream_id = exchange.stream_id
        try:
            if exchange.head_sent:
                self.h2.reset_stream(stream_id, ErrorCode.INTERNAL_ERROR)
            else:
                block = [(b":status", b"500"), (b"content-length", b"0")]
                self.h2.send_headers(stream_id, block, end_stream=True)
        except h2.H2StreamClosed:
            return
        exchange.ended = True
        self.flush()

    def _complete(self, exchange: H2Exchange) -> None:
        """The app returned: end the response it left open (500 if it never started one)."""
        if exchange.ended or self.dead:
            return
        if not exchange.head_sent:
            logger.error("handler for %s %s sent no response", exchange.method, exchange.path)
            self._answer_failure(exchange)
            return
        try:
            self.h2.end_stream(exchange.stream_id)
        except h2.H2StreamClosed:
            return
        exchange.ended = True
        self.flush()

    def _finish(self, exchange: H2Exchange) -> None:
        exchange.finished = True
        stream_id = exchange.stream_id
        del self._streams[stream_id]
        if not self.dead:
            if not exchange.ended:
                # Cancelled with the response open: tell the client.
                self.h2.reset_stream(stream_id, ErrorCode.CANCEL)
            elif not exchange.body_done and not exchange.reset:
                # Answered before the request ended: the client may stop
                # sending (RFC 9113 §8.1).
                self.h2.reset_stream(stream_id, ErrorCode.NO_ERROR)
            self.h2.acknowledge(stream_id, exchange.unread())
            self.flush()
        if not self._streams:
            if self._goaway_sent or self._remote_goaway:
                self._wait_scope.cancel()
            else:
                self._wait_scope.deadline = trio.current_time() + self._ctx.limits.idle_timeout
