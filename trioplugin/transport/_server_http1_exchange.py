"""One request on a server's HTTP/1.1 connection, as the app sees it: reading its body, answering.

The connection (:mod:`._server_http1`) owns the socket, the reader and the
cycle; the exchange frames the response. Status lines and fields are
encoded once per status and header set (the same call after call) and
kept; the framing (``content-length`` or chunked, ``connection: close``)
is added per response.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from ..protocol import Metadata
from ._http1 import END, H1ProtocolError, H1UsageError, RequestHead, response_lines

if TYPE_CHECKING:
    from ._server_http1 import H11Connection

DRAIN_MAX_BYTES: Final = 256 * 1024
"""The most unread request body read and discarded after a response, to keep the connection."""
_JOIN_MAX: Final = 16 * 1024
"""Bodies up to this size are copied into one write with their head; larger go on their own."""
_RESPONSE_LINES: Final[dict[tuple[int, tuple[tuple[str, str], ...]], tuple[bytes, int | None]]] = {}
"""Encoded status lines and fields by status and headers, and the content-length they give."""
_KEPT_LINES: Final = 256


class H11Exchange:
    """One request on an HTTP/1.1 connection, as the app sees it (a ``ServerExchange``)."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_content_length",
        "_received",
        "body_done",
        "headers",
        "method",
        "path",
        "peer",
        "query",
    )

    def __init__(self, conn: H11Connection, request: RequestHead) -> None:
        self._conn = conn
        self.method = request.method
        path, _, self.query = request.target.partition("?")
        self.path = path
        self.headers = Metadata.from_parsed(request.headers)
        self.peer = conn._peer
        self._content_length = request.content_length
        self._chunks: deque[bytes] = deque()
        self._received = 0  # request body bytes taken from the reader so far
        self.body_done = False

    def prefetch(self) -> None:
        """Take the body the reader can give from bytes it already holds."""
        reader = self._conn._reader
        while not self.body_done:
            try:
                event = reader.next_event()
            except H1ProtocolError:
                return  # read_body meets it again and reports it
            if type(event) is bytes:
                self._received += len(event)
                self._chunks.append(event)
            elif event is END:
                self.body_done = True
            else:
                return

    async def receive_data(self) -> bytes:
        """The next chunk of the request body; ``b""`` once it has ended."""
        if self._chunks:
            return self._chunks.popleft()
        if self.body_done:
            return b""
        data, self.body_done = await self._conn.read_body()
        self._received += len(data)
        return data

    def _body_left_drainable(self) -> bool:
        """Whether what is left of the request body is small enough to drain after the answer."""
        if self._content_length is None:
            return False  # chunked: no telling how much is coming
        return self._content_length - self._received <= DRAIN_MAX_BYTES

    def _head(self, status: int, headers: Sequence[tuple[str, str]], body: bytes | None) -> bytes:
        key = (status, tuple(headers))
        kept = _RESPONSE_LINES.get(key)
        if kept is None:
            kept = _response_lines(status, headers)
            if len(_RESPONSE_LINES) < _KEPT_LINES:
                _RESPONSE_LINES[key] = kept
        lines, length = kept
        if body is not None and length is None:
            length = len(body)
        if not self.body_done and not self._body_left_drainable():
            # Answering before the request has ended, with more left than
            # we would read to keep the connection: say we close it.
            self._conn.close_after_response()
        return self._conn.start_response(status, lines, length)

    async def send_head(self, status: int, headers: Sequence[tuple[str, str]]) -> None:
        """Start the response (chunked unless ``headers`` give a ``content-length``)."""
        await self._conn.write(self._head(status, headers, None))

    async def send_data(self, data: bytes) -> None:
        """Write part of the response body, at once."""
        framed = self._conn.body_framer().data(data)
        if framed:
            await self._conn.write(framed)

    async def end(self) -> None:
        """Finish the response."""
        conn = self._conn
        tail = conn.body_framer().end()
        conn.response_ended()
        if tail:
            await conn.write(tail)

    async def send_response(
        self, status: int, headers: Sequence[tuple[str, str]], body: bytes
    ) -> None:
        """Send a whole response: head, body and end in one write (two for large bodies)."""
        conn = self._conn
        head = self._head(status, headers, body)
        framer = conn.body_framer()
        if self.method == "HEAD":
            body = b""  # the head tells its length; the body is not sent
        framer.data(body)
        framer.end()
        conn.response_ended()
        if len(body) <= _JOIN_MAX:
            await conn.write(head + body)
        else:
            await conn.write(head)
            await conn.write(body)


def _response_lines(status: int, headers: Sequence[tuple[str, str]]) -> tuple[bytes, int | None]:
    """The status line and the app's fields (not the framing: ours to say), and its length."""
    fields: list[tuple[str, str]] = []
    length: int | None = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-length":
            if not value.isdigit():
                raise H1UsageError(f"invalid content-length {value!r}")
            length = int(value)
        elif lowered != "transfer-encoding" and lowered != "connection":
            fields.append((name, value))
    return response_lines(status, fields), length
