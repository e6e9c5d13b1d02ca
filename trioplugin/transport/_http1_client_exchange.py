"""One request and its response on a pooled HTTP/1.1 connection.

Everything runs in the caller's task: writes go straight to the socket, reads
come from it when the caller asks. An exchange holds its connection from
entering until the response has ended (then the connection goes back to the
pool, if both sides left it fit for another request) or until it is left
(then the connection is closed: what is still on the wire is unknown).

A connection from the pool may turn out to be dead only when it is used: the
server closed it just as it was taken. When that shows before any byte of
the response came (an EOF or a reset on the first read, the request's write
failing), and the request can be sent again as it was, the exchange sends it
once more on a freshly opened connection: if the request never fully left
(its write failed), whatever its method; if it did, only for an idempotent
method (GET, HEAD, ...), since the server may have processed it before it
closed. Otherwise the failure is reported: as an
:class:`~trioplugin.transport.UnprocessedError` when the request never fully
left, as a plain ``unavailable`` error (it may have been processed) when it
did. One failure of the first read is known to leave the request unprocessed
although it was sent: over TLS 1.3 a server that refuses the client's
certificate says so only after the client's handshake is done, and its alert
is what the first read gets; that is the
:class:`~trioplugin.transport.TLSError` the handshake would have raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Final, final

import trio

from .._util import NoPublicConstructor
from ..protocol import Code, ConnectError, Metadata
from ._client_errors import connection_lost, copy_error, tls_rejected, transport_closing
from ._errors import UnprocessedError
from ._http1 import END, NEED_DATA, BodyFramer, H1ProtocolError, ResponseHead, request_lines
from ._types import Peer

if TYPE_CHECKING:
    from ._http1_client import HTTP1Transport
    from ._http1_client_pool import H11Connection

RECEIVE_SIZE: Final = 65_536
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_NO_BODY_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "DELETE"})
_SKIPPED: Final = frozenset({"host", "content-length", "transfer-encoding"})
"""Request headers the exchange sets itself."""
_KEPT_LINES: Final = 256
"""Request heads a transport keeps encoded (their lines, by method, path and headers)."""
_STREAM_ERRORS: Final = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


@final
class HTTP1ClientExchange(metaclass=NoPublicConstructor):
    """One HTTP/1.1 request and its response: an :class:`HTTP1Transport`'s ClientExchange.

    Obtained from :meth:`HTTP1Transport.exchange`; used as an async context
    manager. Not full duplex: the response is read once the request has been
    sent (an early response, e.g. a 413 while the body is still going out, is
    read all the same). Leaving the context before the response has ended
    closes the connection instead of returning it to the pool.
    """

    __slots__ = (
        "_body",
        "_clean",
        "_conn",
        "_entered",
        "_error",
        "_exited",
        "_framer",
        "_got_bytes",
        "_head",
        "_headers",
        "_keep_alive",
        "_method",
        "_path",
        "_peer",
        "_request",
        "_request_ended",
        "_response_ended",
        "_retried",
        "_reused",
        "_send_failed",
        "_transport",
    )

    def __init__(
        self,
        transport: HTTP1Transport,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
    ) -> None:
        self._transport = transport
        self._method = method
        self._path = path
        self._headers = headers
        self._body = body
        self._request = b""  # the request head, once built
        self._framer = BodyFramer(0, chunked=False)
        self._keep_alive = False
        self._conn: H11Connection | None = None
        self._peer: Peer | None = None
        self._reused = False
        self._retried = False
        self._clean = True
        """No write or read on the connection was cut short (by a cancellation or a failure)."""
        self._send_failed = False
        self._got_bytes = False
        self._head: tuple[int, Metadata] | None = None
        self._request_ended = False
        self._response_ended = False
        self._error: ConnectError | None = None
        self._entered = False
        self._exited = False

    # -- the context ----------------------------------------------------------------

    async def __aenter__(self) -> HTTP1ClientExchange:
        if self._entered:
            raise RuntimeError("an exchange can be entered only once")
        self._entered = True
        self._request = self._build_request()
        conn, self._reused = await self._transport._pool.acquire()
        self._conn = conn
        self._peer = conn.peer
        try:
            await self._start()
        except BaseException:
            self._release()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exited = True
        if self._conn is not None and self._head is not None and self._error is None:
            self._drain()  # the end of the response may already be in: keep the connection
        self._release()

    def _build_request(self) -> bytes:
        transport = self._transport
        method = self._method
        body = self._body
        key = (method, self._path, tuple(self._headers))
        lines = transport._request_lines.get(key)
        if lines is None:
            lines = self._request_lines()
            if len(transport._request_lines) < _KEPT_LINES:
                transport._request_lines[key] = lines
        if body is None:
            return lines + b"transfer-encoding: chunked\r\n\r\n"
        if body or method not in _NO_BODY_METHODS:
            return lines + b"content-length: %d\r\n\r\n" % len(body)
        return lines + b"\r\n"

    def _request_lines(self) -> bytes:
        """The head without its framing field and the blank line (the same call after call)."""
        transport = self._transport
        method = self._method
        if method == "HEAD":
            raise ValueError("HEAD requests are not supported: Connect calls are GET or POST")
        headers = [("host", transport._authority)]
        for name, value in self._headers:
            if name.lower() not in _SKIPPED:
                headers.append((name, value))
        path = self._path
        if path[:1] != "/":
            raise ValueError(f"the path must start with '/': {path!r}")
        try:
            return request_lines(method, transport._prefix + path, headers)
        except ValueError as exc:
            raise ValueError(f"invalid request: {exc}") from exc

    async def _start(self) -> None:
        """Send the request's head, and its whole body if it was given."""
        conn = self._conn
        assert conn is not None
        body = self._body
        if body is None:
            self._framer = BodyFramer(None, chunked=True)
            await self._write(conn, self._request)
            return
        self._framer = framer = BodyFramer(len(body), chunked=False)
        framer.data(body)
        framer.end()
        self._request_ended = True
        await self._write(conn, self._request + body)

    def _release(self) -> None:
        """Give the connection back: to the pool if both messages ended cleanly, else closed."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        reader = conn.reader
        reusable = (
            self._clean
            and not self._send_failed
            and self._keep_alive
            and self._framer.ended
            and reader.message_ended
            and not reader.buffered()  # the server sent more than one response
        )
        if reusable:
            reader.start_next()
        self._transport._pool.release(conn, reusable=reusable)

    def _drain(self) -> None:
        """Take the end of the response if it is buffered already (no I/O)."""
        conn = self._conn
        assert conn is not None
        if conn.reader.message_ended:
            return
        try:
            event = conn.reader.next_event()
        except H1ProtocolError:
            self._clean = False
            return
        if event is END:
            self._response_ended = True
        elif event is not NEED_DATA:
            self._clean = False  # body the caller left unread: the connection is not reusable

    def _check(self) -> None:
        if not self._entered:
            raise RuntimeError("use the exchange as an async context manager first")
        if self._exited:
            raise RuntimeError("the exchange has been closed")

    # -- the wire ------------------------------------------------------------------------

    def _lost(self, cause: BaseException | str | None) -> ConnectError:
        """The failure that ends the exchange, remembered for every later call."""
        self._clean = False
        if self._transport._pool.closed:
            error = transport_closing()
        else:
            error = connection_lost(self._transport._address, cause)
        self._error = error
        return error

    async def _write(self, conn: H11Connection, data: bytes) -> None:
        """Write ``data``; a failure is kept for the response to explain (it may have come)."""
        self._clean = False
        try:
            await conn.io.send_all(data)
        except _STREAM_ERRORS:
            self._send_failed = True  # the server may have answered early: the first read tells
            return
        self._clean = True

    async def _next_event(self) -> object:
        """The next event of the response, reading as needed (a cancellation point)."""
        await trio.lowlevel.checkpoint_if_cancelled()  # even when the event is buffered already
        while True:  # ends: each turn takes an event or reads bytes (or fails)
            conn = self._conn
            if conn is None:
                raise self._error or ConnectError(Code.INTERNAL, "the response has ended")
            reader = conn.reader
            try:
                event = reader.next_event()
            except H1ProtocolError as exc:
                self._clean = False
                error = ConnectError(
                    Code.UNAVAILABLE,
                    f"the server at {self._transport._address} broke HTTP/1.1: {exc}",
                )
                error.__cause__ = exc
                self._error = error
                raise error from None
            if event is not NEED_DATA:
                return event
            self._clean = False
            try:
                data = await conn.io.receive_some(RECEIVE_SIZE)
            except _STREAM_ERRORS as exc:
                if not self._got_bytes:
                    rejected = tls_rejected(self._transport._address, exc)
                    if rejected is not None:  # TLS 1.3: the server's verdict on our certificate
                        self._clean = False
                        self._error = rejected
                        raise rejected from exc
                    if await self._resend():
                        continue
                raise self._stale_error(exc) from exc
            self._clean = True
            if data:
                self._got_bytes = True
            elif not self._got_bytes:
                if await self._resend():
                    continue
                raise self._stale_error(None)
            reader.feed(data)

    async def _resend(self) -> bool:
        """Send the request again on a fresh connection, if that is safe; whether it was sent."""
        if (
            not self._reused
            or self._retried
            or self._body is None
            or self._transport._pool.closed
            or not (self._send_failed or self._method in _IDEMPOTENT)
        ):
            return False
        self._retried = True
        conn, self._conn = self._conn, None
        assert conn is not None
        try:
            conn = await self._transport._pool.replace(conn)
        except ConnectError as exc:
            self._error = exc
            raise
        self._conn = conn
        self._peer = conn.peer
        self._reused = False
        self._send_failed = False
        self._clean = True
        await self._start()
        return True

    def _stale_error(self, cause: BaseException | None) -> ConnectError:
        """No response at all: the server closed the connection (or reset it) first."""
        if not self._send_failed:
            where = "reused keep-alive connection" if self._reused else "connection"
            return self._lost(
                cause
                if cause is not None
                else f"the server closed the {where} without answering the request"
            )
        self._clean = False
        if self._transport._pool.closed:
            error = transport_closing()
        else:
            error = UnprocessedError(
                Code.UNAVAILABLE,
                f"connection to {self._transport._address} lost before the request was "
                "sent whole; the server did not process it",
            )
            error.__cause__ = cause
        self._error = error
        return error

    # -- the request -----------------------------------------------------------------

    async def send_data(self, data: bytes) -> None:
        """Write part of the request body (a chunk of ``Transfer-Encoding: chunked``).

        If the server answered before taking the whole body, the rest is
        dropped and the response tells.

        Raises:
            ConnectError: the connection failed and no response came.
            RuntimeError: the request has already ended, or was sent whole.
        """
        self._check()
        if self._request_ended or self._body is not None:
            raise RuntimeError("the request has already ended")
        await self._send(data or None)

    async def end_request(self) -> None:
        """Finish the request body. Ending it twice does nothing.

        Raises:
            ConnectError: the connection failed and no response came.
        """
        self._check()
        if self._request_ended:
            await trio.lowlevel.checkpoint()
            return
        self._request_ended = True
        await self._send(b"", end=True)

    async def _send(self, data: bytes | None, *, end: bool = False) -> None:
        """Send a piece of the body, or its end, unless the response came first."""
        conn = self._conn
        if self._error is not None:
            raise copy_error(self._error)
        if data is None or conn is None or self._send_failed or self._head is not None:
            # Nothing to send, or the server answered already: the response tells.
            await trio.lowlevel.checkpoint()
            return
        framer = self._framer
        await self._write(conn, framer.end() if end else framer.data(data))
        if self._send_failed:
            await self.receive_head()  # raises unless the server did answer

    # -- the response ----------------------------------------------------------------

    async def receive_head(self) -> tuple[int, Metadata]:
        """The response status and headers (lower-cased), once they arrive; 1xx are skipped.

        Raises:
            ConnectError: ``unavailable``: the connection failed or the server
                broke HTTP/1.1.
        """
        self._check()
        if self._head is not None:
            await trio.lowlevel.checkpoint()
            return self._head
        if self._error is not None:
            raise copy_error(self._error)
        while True:  # ends: each turn consumes an event (1xx responses come from bytes read)
            event = await self._next_event()
            if type(event) is ResponseHead:
                # The reader checked the names (tokens, lower-cased) and the values.
                items = [(name, _text(value)) for name, value in event.headers]
                self._keep_alive = event.keep_alive
                self._head = (event.status, Metadata.from_parsed(items))
                return self._head
            raise self._lost("the server closed the connection before the response")

    async def receive_data(self) -> bytes:
        """The next chunk of the response body as it came; ``b""`` at the end.

        At the end the connection goes back to the pool, if it can carry
        another request.

        Raises:
            ConnectError: the connection failed before the body ended.
        """
        self._check()
        if self._response_ended:
            await trio.lowlevel.checkpoint()
            return b""
        if self._head is None:
            await self.receive_head()
        if self._error is not None:
            raise copy_error(self._error)
        while True:  # ends: each turn consumes an event
            event = await self._next_event()
            if type(event) is bytes:
                if event:
                    return event
                continue
            if event is END:
                self._response_ended = True
                self._release()
                return b""
            raise self._lost("the server closed the connection in the middle of the response")

    @property
    def peer(self) -> Peer | None:
        """The server: its address, ``"1.1"``, and the TLS session if any."""
        return self._peer


def _text(value: str) -> str:
    """A field value as sent: UTF-8 where it is not plain ASCII (the reader gave latin-1)."""
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "replace")
