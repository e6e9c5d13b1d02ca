"""One HTTP/2 stream of the server, as the app sees it: a ``ServerExchange``.

Every write mutates the connection's HTTP/2 state machine synchronously and
queues the bytes for the connection's writer task; the app task never writes
to the socket, so cancelling it can never leave half a frame on the wire.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import trio

from ..protocol import Metadata
from ._errors import StreamClosed
from ._http2 import H2StreamClosed
from ._types import Peer

if TYPE_CHECKING:
    from ._server_http2 import H2Connection

_CONNECTION_HEADERS: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)
"""Connection-specific headers, which HTTP/2 forbids (RFC 9113 §8.2.2)."""
_FIELDS: Final[dict[tuple[str, str], tuple[bytes, bytes] | None]] = {}
"""Response fields already lower-cased and encoded (None: dropped); the same few recur."""
_FIELDS_LIMIT: Final = 1024
_STATUS: Final = {status: str(status).encode() for status in range(100, 600)}


def _encode_field(name: str, value: str) -> tuple[bytes, bytes] | None:
    lowered = name.lower()
    if lowered in _CONNECTION_HEADERS:
        return None
    return lowered.encode("latin-1"), value.encode("latin-1")


class H2Exchange:
    """One request on an HTTP/2 connection: its body buffer, its response and its task's scope."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_recv_event",
        "body_done",
        "ended",
        "finished",
        "head_sent",
        "headers",
        "method",
        "path",
        "peer",
        "query",
        "reset",
        "scope",
        "stream_id",
    )

    def __init__(
        self,
        conn: H2Connection,
        stream_id: int,
        method: str,
        target: str,
        headers: Metadata,
        peer: Peer,
    ) -> None:
        self._conn = conn
        self.stream_id = stream_id
        self.method = method
        path, _, self.query = target.partition("?")
        self.path = path
        self.headers = headers
        self.peer = peer
        self.scope = trio.CancelScope()
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._recv_event: trio.Event | None = None
        self.body_done = False  # the client ended its side of the stream
        self.reset = False  # reset by the client, or the connection is gone
        self.head_sent = False
        self.ended = False  # our side of the stream is closed (ended or reset)
        self.finished = False  # the app task has returned

    # What the connection's reader loop tells the stream.

    def on_data(self, data: bytes, flow_controlled_length: int) -> None:
        """Buffer a DATA frame's payload until the app reads it (flow control bounds it)."""
        self._chunks.append((data, flow_controlled_length))
        self._wake()

    def on_end(self) -> None:
        """The client ended the request body."""
        self.body_done = True
        self._wake()

    def on_reset(self) -> None:
        """The client reset the stream, or the connection is gone: cancel the app task."""
        self.reset = True
        self.ended = True
        self.scope.cancel()
        self._wake()

    def unread(self) -> int:
        """The flow-controlled bytes buffered and never read (to hand back to the connection)."""
        total = sum(length for _, length in self._chunks)
        self._chunks.clear()
        return total

    def _wake(self) -> None:
        if self._recv_event is not None:
            self._recv_event.set()
            self._recv_event = None

    # The ServerExchange interface.

    async def receive_data(self) -> bytes:
        """The next chunk of the request body; ``b""`` once it has ended.

        Reading hands the bytes back to the client's flow-control window, so a
        client can only send as fast as the app reads.
        """
        while True:
            if self._chunks:
                data, length = self._chunks.popleft()
                self._conn.acknowledge(self.stream_id, length)
                return data
            if self.reset:
                raise StreamClosed("the client reset the stream")
            if self.body_done:
                return b""
            self._recv_event = event = trio.Event()
            await event.wait()

    def _check_writable(self) -> None:
        if self.reset or self._conn.dead:
            raise StreamClosed("the client reset the stream")
        if self.ended:
            raise RuntimeError("the response has already ended")

    def _headers(
        self, status: int, headers: Sequence[tuple[str, str]]
    ) -> list[tuple[bytes, bytes]]:
        self._check_writable()
        if self.head_sent:
            raise RuntimeError("the response has already started")
        # Lower-case the names and drop what HTTP/2 forbids.
        block = [(b":status", _STATUS.get(status) or str(status).encode())]
        cache = _FIELDS
        for header in headers:
            try:
                field = cache[header]
            except KeyError:
                field = _encode_field(*header)
                if len(cache) < _FIELDS_LIMIT and len(header[1]) <= 256:
                    cache[header] = field
            if field is not None:
                block.append(field)
        return block

    async def send_head(self, status: int, headers: Sequence[tuple[str, str]]) -> None:
        """Start the response."""
        block = self._headers(status, headers)
        conn = self._conn
        try:
            conn.h2.send_headers(self.stream_id, block)
        except H2StreamClosed as exc:
            raise StreamClosed("the stream is closed") from exc
        self.head_sent = True
        conn.flush()

    async def send_data(self, data: bytes) -> None:
        """Write part of the response body, waiting for flow control and the writer as needed."""
        if not self.head_sent:
            raise RuntimeError("send_head() must come first")
        conn = self._conn
        h2_conn = conn.h2
        view = memoryview(data)
        offset, total = 0, len(view)
        while offset < total:
            self._check_writable()
            await conn.wait_output_room()
            self._check_writable()
            try:
                window = h2_conn.send_window(self.stream_id)
            except H2StreamClosed as exc:
                raise StreamClosed("the stream is closed") from exc
            if window <= 0:
                await conn.wait_window()
                continue
            size = min(window, h2_conn.max_outbound_frame_size, total - offset)
            try:
                h2_conn.send_data(self.stream_id, view[offset : offset + size])
            except H2StreamClosed as exc:
                raise StreamClosed("the stream is closed") from exc
            offset += size
            conn.flush()

    async def end(self) -> None:
        """Finish the response."""
        if not self.head_sent:
            raise RuntimeError("send_head() must come first")
        self._check_writable()
        try:
            self._conn.h2.end_stream(self.stream_id)
        except H2StreamClosed as exc:
            raise StreamClosed("the stream is closed") from exc
        self.ended = True
        self._conn.flush()

    async def send_response(
        self, status: int, headers: Sequence[tuple[str, str]], body: bytes
    ) -> None:
        """Send a whole response; when the window allows (the usual case) without waiting."""
        block = self._headers(status, headers)
        conn = self._conn
        h2_conn = conn.h2
        stream_id = self.stream_id
        try:
            fits = len(body) <= min(h2_conn.send_window(stream_id), h2_conn.max_outbound_frame_size)
            h2_conn.send_headers(stream_id, block, end_stream=not body)
            self.head_sent = True
            if body and fits:
                h2_conn.send_data(stream_id, body, end_stream=True)
        except H2StreamClosed as exc:
            raise StreamClosed("the stream is closed") from exc
        if fits or not body:
            self.ended = True
            conn.flush()
            return
        conn.flush()
        await self.send_data(body)
        await self.end()
