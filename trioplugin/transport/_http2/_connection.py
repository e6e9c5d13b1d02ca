"""One HTTP/2 connection as a sans-IO state machine (RFC 9113), for either side.

Fed received bytes by :meth:`Connection.receive`, it returns events; told
to send headers, data, resets and control frames, it queues their bytes for
:meth:`Connection.data_to_send`. It does no I/O and keeps no clock, like h2,
and covers what Connect needs: streams, both levels of flow control,
SETTINGS, PING, GOAWAY, header blocks split over CONTINUATION frames, and
the rules a peer can break — each answered as RFC 9113 says, as a stream
error (RST_STREAM, the connection lives on) or a connection error (GOAWAY,
then :class:`H2ConnectionError`). A frame longer than we allow is refused
from its 9-byte header, before its payload is buffered, and a header block
may not grow past a bound however many CONTINUATION frames carry it.

Flood limits that need time (PING/SETTINGS floods, rapid reset) stay with
the I/O shell, which counts the events this machine reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, NoReturn, final

from . import _frames as f
from ._errors import H2ConnectionError, H2StreamClosed, H2UsageError
from ._events import (
    DataReceived,
    Event,
    GoAwayReceived,
    HeadersReceived,
    OtherFrameReceived,
    PingAcknowledged,
    PingReceived,
    SettingsAcknowledged,
    SettingsReceived,
    StreamReset,
    WindowUpdated,
)
from ._fields import Malformed
from ._header_blocks import REQUEST, RESPONSE, TRAILERS, BlockRefused, HeaderBlocks
from ._hpack import StatelessHpackEncoder
from ._stream import StreamState

_E = f.ErrorCode
_UNLIMITED: Final = 2**31 - 1
_SKIPPED_LIMIT: Final = 64
"""Ranges of stream ids the peer skipped that are remembered (clients rarely skip any)."""


@final
class Connection:
    """The state of one HTTP/2 connection; ``client`` says which side we are."""

    def __init__(
        self,
        *,
        client: bool,
        max_concurrent_streams: int = 100,
        stream_window: int = f.DEFAULT_WINDOW,
        connection_window: int = f.DEFAULT_WINDOW,
        max_header_list_size: int = 65_536,
    ) -> None:
        if not f.DEFAULT_WINDOW <= connection_window <= f.MAX_WINDOW:
            raise ValueError(f"connection_window must be 65535..2**31-1, not {connection_window}")
        if not 0 < stream_window <= f.MAX_WINDOW:
            raise ValueError(f"stream_window must be 1..2**31-1, not {stream_window}")
        self.client = client
        self.streams: dict[int, StreamState] = {}
        """The open streams by id (closed ones are forgotten)."""
        self.highest_inbound_stream_id = 0
        self.goaway_received: int | None = None
        """The last stream id of the peer's GOAWAY, once one came."""
        self.closed = False
        """A connection error ended it (the GOAWAY is queued)."""
        self.frames_received = 0
        """Frames received whole so far: a keepalive's evidence that the peer is alive."""
        self.max_outbound_frame_size = f.DEFAULT_MAX_FRAME_SIZE
        self.remote_max_concurrent_streams = _UNLIMITED
        self.remote_max_header_list_size: int | None = None
        self._remote_stream_window = f.DEFAULT_WINDOW
        self._send_window = f.DEFAULT_WINDOW
        self._local_stream_window = stream_window
        self._recv_window = connection_window
        self._recv_unacked = 0
        self._recv_threshold = connection_window // 2
        self._stream_threshold = max(stream_window // 2, 1)
        self._next_stream_id = 1 if client else 2
        self._encoder = StatelessHpackEncoder()
        self._blocks = HeaderBlocks(max_header_list_size)
        self._out: list[bytes] = []
        self._buffer = b""
        self._preface_due = not client
        self._settings_due = True  # the peer's first frame must be SETTINGS
        self._skipped_ids: list[tuple[int, int]] = []
        settings: dict[int, int] = {
            f.Setting.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
            f.Setting.INITIAL_WINDOW_SIZE: stream_window,
            f.Setting.MAX_HEADER_LIST_SIZE: max_header_list_size,
        }
        if client:
            settings = {f.Setting.ENABLE_PUSH: 0, **settings}
            self._out.append(f.PREFACE)
        self._out.append(f.settings_frame(settings))
        if connection_window > f.DEFAULT_WINDOW:
            self._out.append(f.window_update_frame(0, connection_window - f.DEFAULT_WINDOW))

    # Output.

    @property
    def has_output(self) -> bool:
        """Whether anything is queued for the peer."""
        return bool(self._out)

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call (``b""`` if nothing)."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    # Our side of the streams.

    def open_stream(self) -> int:
        """A new stream of ours (client side); its request head goes out with send_headers."""
        stream_id = self._next_stream_id
        if stream_id > f.STREAM_ID_MASK:
            raise H2UsageError("this connection has used up its stream ids")
        self._next_stream_id = stream_id + 2
        self._new_stream(stream_id)
        return stream_id

    def _new_stream(self, stream_id: int) -> StreamState:
        stream = StreamState(stream_id, self._remote_stream_window, self._local_stream_window)
        self.streams[stream_id] = stream
        return stream

    def _writable(self, stream_id: int) -> StreamState:
        stream = self.streams.get(stream_id)
        if stream is None or stream.local_closed:
            raise H2StreamClosed(stream_id)
        return stream

    def send_headers(
        self, stream_id: int, headers: Iterable[tuple[bytes, bytes]], end_stream: bool = False
    ) -> None:
        """A header block (head or trailers) on an open stream; names must be lower-case."""
        stream = self._writable(stream_id)
        block = self._encoder.encode(headers)
        self._out += f.header_block_frames(
            stream_id, block, end_stream, self.max_outbound_frame_size
        )
        if end_stream:
            self._close_local(stream)

    def send_window(self, stream_id: int) -> int:
        """How many DATA bytes the stream may send now (its window and the connection's)."""
        stream = self._writable(stream_id)
        return min(stream.send_window, self._send_window)

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        """One DATA frame; it must fit the send window and the peer's frame size."""
        stream = self._writable(stream_id)
        size = len(data)
        if size > stream.send_window or size > self._send_window:
            raise H2UsageError(f"{size} bytes exceed the send window of stream {stream_id}")
        if size > self.max_outbound_frame_size:
            raise H2UsageError(f"{size} bytes exceed the peer's frame size")
        stream.send_window -= size
        self._send_window -= size
        self._out.append(f.data_frame(stream_id, data, end_stream))
        if end_stream:
            self._close_local(stream)

    def end_stream(self, stream_id: int) -> None:
        """Close our side of the stream with an empty DATA frame."""
        self.send_data(stream_id, b"", end_stream=True)

    def reset_stream(self, stream_id: int, code: int = _E.CANCEL) -> bool:
        """Reset an open stream; False (and nothing sent) if it is already closed."""
        if self.streams.pop(stream_id, None) is None:
            return False
        self._out.append(f.rst_stream_frame(stream_id, code))
        return True

    def acknowledge(self, stream_id: int, length: int) -> None:
        """``length`` received bytes were consumed: give them back to the peer's windows.

        WINDOW_UPDATEs go out once half a window is owed, not per frame, and none
        for a stream the peer has finished sending on.
        """
        if length <= 0 or self.closed:
            return
        self._recv_unacked += length
        if self._recv_unacked >= self._recv_threshold:
            self._out.append(f.window_update_frame(0, self._recv_unacked))
            self._recv_window += self._recv_unacked
            self._recv_unacked = 0
        stream = self.streams.get(stream_id)
        if stream is not None and not stream.remote_closed:
            stream.recv_unacked += length
            if stream.recv_unacked >= self._stream_threshold:
                self._out.append(f.window_update_frame(stream_id, stream.recv_unacked))
                stream.recv_window += stream.recv_unacked
                stream.recv_unacked = 0

    def ping(self, payload: bytes) -> None:
        """Send a PING (8 bytes of payload), answered by a PingAcknowledged event."""
        if len(payload) != 8:
            raise H2UsageError("a PING payload is 8 bytes")
        self._out.append(f.ping_frame(payload))

    def goaway(self, code: int = _E.NO_ERROR, last_stream_id: int | None = None) -> None:
        """Send GOAWAY; frames keep being processed, so streams in flight can finish."""
        if last_stream_id is None:
            last_stream_id = self.highest_inbound_stream_id
        self._out.append(f.goaway_frame(last_stream_id, code))

    def _close_local(self, stream: StreamState) -> None:
        stream.local_closed = True
        if stream.remote_closed:
            del self.streams[stream.stream_id]

    # Input.

    def receive(self, data: bytes | bytearray) -> list[Event]:
        """Process received bytes; the events they complete, in order.

        Raises :class:`H2ConnectionError` once the peer broke the protocol for the
        whole connection (the GOAWAY is queued); nothing more is processed then.
        """
        if self.closed:
            return []
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        elif type(data) is not bytes:
            data = bytes(data)
        pos = 0
        if self._preface_due:
            if len(data) < len(f.PREFACE):
                if not f.PREFACE.startswith(data):
                    self._fail(_E.PROTOCOL_ERROR, "invalid HTTP/2 connection preface")
                self._buffer = data
                return []
            if not data.startswith(f.PREFACE):
                self._fail(_E.PROTOCOL_ERROR, "invalid HTTP/2 connection preface")
            self._preface_due = False
            pos = len(f.PREFACE)
        events: list[Event] = []
        end = len(data)
        unpack = f.HEADER.unpack_from
        frames = 0
        while end - pos >= 9:
            high, low, kind, flags, stream_id = unpack(data, pos)
            length = high << 16 | low
            if length > f.DEFAULT_MAX_FRAME_SIZE:
                self._oversized(length)
            if end - pos - 9 < length:
                break
            frames += 1
            start = pos + 9
            pos = start + length
            payload = data[start:pos]
            stream_id &= f.STREAM_ID_MASK
            if self._blocks.pending is not None and kind != f.CONTINUATION:
                self._fail(_E.PROTOCOL_ERROR, "a header block was interrupted by another frame")
            if self._settings_due:
                # An ACK of ours may come first (a lenient reading, as Go's): it is SETTINGS.
                if kind != f.SETTINGS:
                    self._fail(_E.PROTOCOL_ERROR, "the first frame was not SETTINGS")
                self._settings_due = False
            if kind == f.DATA:
                self._on_data(stream_id, flags, payload, events)
            elif kind == f.HEADERS:
                self._on_headers(stream_id, flags, payload, events)
            elif kind == f.WINDOW_UPDATE:
                self._on_window_update(stream_id, payload, events)
            elif kind == f.RST_STREAM:
                self._on_rst_stream(stream_id, payload, events)
            elif kind == f.SETTINGS:
                self._on_settings(stream_id, flags, payload, events)
            elif kind == f.PING:
                self._on_ping(stream_id, flags, payload, events)
            elif kind == f.GOAWAY:
                self._on_goaway(stream_id, payload, events)
            elif kind == f.CONTINUATION:
                self._on_continuation(stream_id, flags, payload, events)
            elif kind == f.PRIORITY:
                self._on_priority(stream_id, payload, events)
            elif kind == f.PUSH_PROMISE:
                self._fail(_E.PROTOCOL_ERROR, "PUSH_PROMISE, but push is disabled")
            else:
                events.append(OtherFrameReceived(kind, stream_id))
        self.frames_received += frames
        if pos < end:
            self._buffer = data[pos:]
            if end - pos >= 3:  # a header cut short: its length is in already
                length = int.from_bytes(data[pos : pos + 3], "big")
                if length > f.DEFAULT_MAX_FRAME_SIZE:
                    self._oversized(length)
        return events

    def _oversized(self, length: int) -> NoReturn:
        message = f"a frame of {length} bytes, over our limit of {f.DEFAULT_MAX_FRAME_SIZE}"
        self._fail(_E.FRAME_SIZE_ERROR, message, frame_length=length)

    def _fail(
        self, code: f.ErrorCode, message: str, *, abuse: bool = False, frame_length: int = 0
    ) -> NoReturn:
        self.closed = True
        self._out.append(
            f.goaway_frame(self.highest_inbound_stream_id, code, message.encode()[:256])
        )
        raise H2ConnectionError(code, message, abuse=abuse, frame_length=frame_length)

    def _stream_error(
        self,
        stream_id: int,
        code: f.ErrorCode,
        reason: str,
        events: list[Event],
        credit: int = 0,
    ) -> None:
        """Reset one stream for the peer's fault, and report it.

        The stream is open, or refused as it opened; any window it consumed is given back.
        """
        if credit:
            self.acknowledge(0, credit)
        self._out.append(f.rst_stream_frame(stream_id, code))
        self.streams.pop(stream_id, None)
        events.append(StreamReset(stream_id, code, remote=False, reason=reason))

    def _note_skipped(self, first: int, last: int) -> None:
        """The peer opened a stream above the next id: the ones between were never used."""
        skipped = self._skipped_ids
        skipped.append((first, last))
        if len(skipped) > _SKIPPED_LIMIT:
            del skipped[0]

    def _skipped(self, stream_id: int) -> bool:
        """Whether the peer skipped ``stream_id`` (it may never use it: RFC 9113 §5.1.1)."""
        return any(first <= stream_id <= last for first, last in self._skipped_ids)

    def _is_idle(self, stream_id: int) -> bool:
        """Never opened (so a frame on it, other than a new head, breaks the protocol)."""
        if (stream_id & 1) == self.client:  # ours
            return stream_id >= self._next_stream_id
        return stream_id > self.highest_inbound_stream_id

    def _on_data(self, stream_id: int, flags: int, payload: bytes, events: list[Event]) -> None:
        if stream_id == 0:
            self._fail(_E.PROTOCOL_ERROR, "DATA on stream 0")
        flow_length = len(payload)
        if flags & f.FLAG_PADDED:
            if not payload:
                self._fail(_E.FRAME_SIZE_ERROR, "a padded DATA frame without its pad length")
            if payload[0] >= flow_length:
                self._fail(_E.PROTOCOL_ERROR, "DATA padding longer than the frame")
            payload = payload[1 : flow_length - payload[0]]
        self._recv_window -= flow_length
        if self._recv_window < 0:
            self._fail(_E.FLOW_CONTROL_ERROR, "DATA beyond the connection's window")
        stream = self.streams.get(stream_id)
        if stream is None:
            if self._is_idle(stream_id):
                self._fail(_E.PROTOCOL_ERROR, f"DATA on idle stream {stream_id}")
            self.acknowledge(0, flow_length)  # a stream we closed: nobody reads it
            return
        if stream.remote_closed:
            self._stream_error(
                stream_id, _E.STREAM_CLOSED, "DATA after the end of the stream", events, flow_length
            )
            return
        if not stream.head_received:  # only a client's stream can be here (RFC 9113 §8.1)
            reason = "DATA before the response head"
            self._stream_error(stream_id, _E.PROTOCOL_ERROR, reason, events, flow_length)
            return
        stream.recv_window -= flow_length
        if stream.recv_window < 0:
            reason = "DATA beyond the stream's window"
            self._stream_error(stream_id, _E.FLOW_CONTROL_ERROR, reason, events, flow_length)
            return
        end_stream = bool(flags & f.FLAG_END_STREAM)
        if stream.content_length is not None:
            stream.received += len(payload)
            if stream.received > stream.content_length or (
                end_stream and stream.received != stream.content_length
            ):
                reason = "a body that differs from its content-length"
                self._stream_error(stream_id, _E.PROTOCOL_ERROR, reason, events, flow_length)
                return
        if end_stream:
            stream.remote_closed = True
            if stream.local_closed:
                del self.streams[stream_id]
        elif not payload:
            self.acknowledge(stream_id, flow_length)
            events.append(OtherFrameReceived(f.DATA, stream_id))
            return
        events.append(DataReceived(stream_id, payload, flow_length, end_stream))

    def _on_headers(self, stream_id: int, flags: int, payload: bytes, events: list[Event]) -> None:
        if stream_id == 0:
            self._fail(_E.PROTOCOL_ERROR, "HEADERS on stream 0")
        start, stop = 0, len(payload)
        padded = flags & f.FLAG_PADDED
        if padded:
            start = 1
        if flags & f.FLAG_PRIORITY:
            start += 5
        if start > stop:
            self._fail(_E.FRAME_SIZE_ERROR, "HEADERS too short for its pad length or priority")
        if padded:
            stop -= payload[0]
        if start > stop:
            self._fail(_E.PROTOCOL_ERROR, "HEADERS padding longer than the frame")
        fragment = payload[start:stop]
        if flags & f.FLAG_END_HEADERS:
            self._on_header_block(stream_id, flags, fragment, events)
        else:
            self._blocks.begin(stream_id, flags, fragment)

    def _on_continuation(
        self, stream_id: int, flags: int, payload: bytes, events: list[Event]
    ) -> None:
        try:
            done = self._blocks.add(stream_id, payload, last=bool(flags & f.FLAG_END_HEADERS))
        except BlockRefused as exc:
            self._fail(exc.code, str(exc), abuse=exc.abuse)
        if done is not None:
            self._on_header_block(stream_id, done[0], done[1], events)

    def _on_header_block(
        self, stream_id: int, flags: int, block: bytes, events: list[Event]
    ) -> None:
        blocks = self._blocks
        try:
            decoded = blocks.decode(block)
        except BlockRefused as exc:
            self._fail(exc.code, str(exc), abuse=exc.abuse)
        end_stream = bool(flags & f.FLAG_END_STREAM)
        stream = self.streams.get(stream_id)
        try:
            if stream is None:
                if not self._is_idle(stream_id):
                    if self._skipped(stream_id):
                        message = f"HEADERS on stream {stream_id}, below one already used"
                        self._fail(_E.PROTOCOL_ERROR, message)
                    return  # a stream we closed or refused: its late trailers mean nothing
                if self.client or not stream_id & 1:
                    self._fail(_E.PROTOCOL_ERROR, f"HEADERS opening stream {stream_id}")
                highest = self.highest_inbound_stream_id
                expected = highest + 2 if highest else 1
                if stream_id > expected:
                    self._note_skipped(expected, stream_id - 2)
                self.highest_inbound_stream_id = stream_id
                pseudo, fields, length = blocks.checked(block, decoded, REQUEST)
                stream = self._new_stream(stream_id)
                stream.head_received = True
                stream.content_length = length
                trailers = False
            elif stream.remote_closed:
                reason = "HEADERS after the end of the stream"
                self._stream_error(stream_id, _E.STREAM_CLOSED, reason, events)
                return
            elif not stream.head_received:
                pseudo, fields, length = blocks.checked(block, decoded, RESPONSE)
                if pseudo[b":status"][:1] == b"1":
                    if end_stream:
                        raise Malformed("an informational response ended the stream")
                else:
                    stream.head_received = True
                    stream.content_length = length
                trailers = False
            else:
                if not end_stream:
                    raise Malformed("trailers without END_STREAM")
                pseudo, fields, _ = blocks.checked(block, decoded, TRAILERS)
                trailers = True
        except Malformed as exc:
            self._stream_error(stream_id, _E.PROTOCOL_ERROR, str(exc), events)
            return
        if end_stream:
            if stream.content_length and stream.received != stream.content_length:
                reason = "a body that differs from its content-length"
                self._stream_error(stream_id, _E.PROTOCOL_ERROR, reason, events)
                return
            stream.remote_closed = True
            if stream.local_closed:
                del self.streams[stream_id]
        events.append(HeadersReceived(stream_id, pseudo, fields, end_stream, trailers))

    def _on_priority(self, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if stream_id == 0:
            self._fail(_E.PROTOCOL_ERROR, "PRIORITY on stream 0")
        if len(payload) != 5:
            self._stream_error(
                stream_id, _E.FRAME_SIZE_ERROR, "PRIORITY of the wrong length", events
            )
            return
        events.append(OtherFrameReceived(f.PRIORITY, stream_id))

    def _on_rst_stream(self, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if len(payload) != 4:
            self._fail(_E.FRAME_SIZE_ERROR, "RST_STREAM of the wrong length")
        if stream_id == 0 or self._is_idle(stream_id):
            self._fail(_E.PROTOCOL_ERROR, f"RST_STREAM on idle stream {stream_id}")
        if self.streams.pop(stream_id, None) is not None:
            events.append(StreamReset(stream_id, f.unpack_u32(payload), remote=True))

    def _on_settings(self, stream_id: int, flags: int, payload: bytes, events: list[Event]) -> None:
        if stream_id:
            self._fail(_E.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.FLAG_ACK:
            if payload:
                self._fail(_E.FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload")
            events.append(SettingsAcknowledged())
            return
        if len(payload) % 6:
            self._fail(_E.FRAME_SIZE_ERROR, "SETTINGS of the wrong length")
        changed: dict[int, int] = {}
        for offset in range(0, len(payload), 6):
            key, value = f.unpack_setting(payload, offset)
            self._apply_setting(key, value)
            changed[key] = value
        self._out.append(f.SETTINGS_ACK)
        events.append(SettingsReceived(changed))

    def _apply_setting(self, key: int, value: int) -> None:
        if key == f.Setting.HEADER_TABLE_SIZE:
            self._encoder.table_size_changed()
        elif key == f.Setting.ENABLE_PUSH:
            if value > 1 or (value and self.client):  # a server may not offer push
                self._fail(_E.PROTOCOL_ERROR, f"SETTINGS_ENABLE_PUSH of {value}")
        elif key == f.Setting.MAX_CONCURRENT_STREAMS:
            self.remote_max_concurrent_streams = value
        elif key == f.Setting.INITIAL_WINDOW_SIZE:
            if value > f.MAX_WINDOW:
                self._fail(_E.FLOW_CONTROL_ERROR, f"SETTINGS_INITIAL_WINDOW_SIZE of {value}")
            delta = value - self._remote_stream_window
            self._remote_stream_window = value
            for stream in self.streams.values():
                stream.send_window += delta
                if stream.send_window > f.MAX_WINDOW:
                    self._fail(_E.FLOW_CONTROL_ERROR, "a stream window beyond 2**31-1")
        elif key == f.Setting.MAX_FRAME_SIZE:
            if not f.DEFAULT_MAX_FRAME_SIZE <= value <= f.LARGEST_MAX_FRAME_SIZE:
                self._fail(_E.PROTOCOL_ERROR, f"SETTINGS_MAX_FRAME_SIZE of {value}")
            self.max_outbound_frame_size = value
        elif key == f.Setting.MAX_HEADER_LIST_SIZE:
            self.remote_max_header_list_size = value

    def _on_ping(self, stream_id: int, flags: int, payload: bytes, events: list[Event]) -> None:
        if stream_id:
            self._fail(_E.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            self._fail(_E.FRAME_SIZE_ERROR, "PING of the wrong length")
        if flags & f.FLAG_ACK:
            events.append(PingAcknowledged(payload))
        else:
            self._out.append(f.ping_frame(payload, ack=True))
            events.append(PingReceived(payload))

    def _on_goaway(self, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if stream_id:
            self._fail(_E.PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            self._fail(_E.FRAME_SIZE_ERROR, "GOAWAY of the wrong length")
        last = f.unpack_u32(payload) & f.STREAM_ID_MASK
        self.goaway_received = last
        events.append(GoAwayReceived(last, f.unpack_u32(payload, 4), payload[8:]))

    def _on_window_update(self, stream_id: int, payload: bytes, events: list[Event]) -> None:
        if len(payload) != 4:
            self._fail(_E.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong length")
        increment = f.unpack_u32(payload) & f.STREAM_ID_MASK
        if stream_id == 0:
            if not increment:
                self._fail(_E.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > f.MAX_WINDOW:
                self._fail(_E.FLOW_CONTROL_ERROR, "the connection window beyond 2**31-1")
            events.append(WindowUpdated(0))
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            if self._is_idle(stream_id):
                self._fail(_E.PROTOCOL_ERROR, f"WINDOW_UPDATE on idle stream {stream_id}")
            return
        if not increment:
            self._stream_error(stream_id, _E.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0", events)
            return
        stream.send_window += increment
        if stream.send_window > f.MAX_WINDOW:
            reason = "a stream window beyond 2**31-1"
            self._stream_error(stream_id, _E.FLOW_CONTROL_ERROR, reason, events)
            return
        events.append(WindowUpdated(stream_id))
