"""Reads and writes on a connection without trio's per-call costs, where the stream allows it.

``trio.SocketStream`` tries each ``recv`` first and, when it would block
(the usual case for a request/response protocol: the answer is not there
yet), catches ``BlockingIOError``, waits and tries again; each call that
does not block still yields to the scheduler once more; each ``send_all``
does both too, under two context managers. On HTTP/1.1, where every call
is one write and one read per side, that was about a third of the server's
CPU per call. :class:`SocketIO` waits for readability first and then reads
once, and writes what the socket takes at once without a yield; anything
else (TLS, in-memory streams in tests) goes through the stream as before.

The caller keeps trio's rule that only one task reads and one writes at a
time. A wait for readability is the checkpoint of a read; a write that
goes out whole in one call is a cancellation point without a yield
(``checkpoint_if_cancelled``).
"""

from __future__ import annotations

import errno
import os
from typing import Final, final

import trio

_CLOSED_ERRNOS: Final = frozenset({errno.EBADF, errno.ENOTSOCK})


@final
class SocketIO:
    """The read and write paths of one stream: straight to a plain socket, else the stream's."""

    __slots__ = ("_socket", "stream")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._socket = stream.socket if isinstance(stream, trio.SocketStream) else None

    async def receive_some(self, max_bytes: int) -> bytes:
        """What the peer sent next, ``b""`` at EOF (``trio.SocketStream.receive_some`` errors)."""
        sock = self._socket
        if sock is None:
            data = await self.stream.receive_some(max_bytes)
            return data if type(data) is bytes else bytes(data)
        while True:
            await trio.lowlevel.wait_readable(sock)  # ClosedResourceError if closed meanwhile
            fd = sock.fileno()
            if fd < 0:
                raise trio.ClosedResourceError("this socket was already closed")
            try:
                return os.read(fd, max_bytes)
            except BlockingIOError:
                continue  # readable, and yet nothing: wait again
            except OSError as exc:
                raise _stream_error(exc) from exc

    @property
    def direct(self) -> bool:
        """Whether the stream is a plain socket (so :meth:`send_now` can write to it)."""
        return self._socket is not None

    def send_now(self, data: bytes) -> int:
        """Write what the socket takes without waiting; how much (0: full, failed or closed).

        For a caller that hands the rest to a writer task, which then meets any
        failure itself. Always 0 when the stream is not a plain socket.
        """
        sock = self._socket
        if sock is None:
            return 0
        fd = sock.fileno()  # -1 once closed: its number may already be another socket's
        if fd < 0:
            return 0
        try:
            return os.write(fd, data)
        except OSError:
            return 0

    async def send_all(self, data: bytes) -> None:
        """Send ``data`` whole: at once if the socket takes it, else through the stream."""
        sock = self._socket
        if sock is None:
            await self.stream.send_all(data)
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        fd = sock.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("this socket was already closed")
        try:
            sent = os.write(fd, data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise _stream_error(exc) from exc
        if sent < len(data):
            await self.stream.send_all(memoryview(data)[sent:])


def _stream_error(exc: OSError) -> trio.BrokenResourceError | trio.ClosedResourceError:
    if exc.errno in _CLOSED_ERRNOS:
        return trio.ClosedResourceError("this socket was already closed")
    return trio.BrokenResourceError(f"socket connection broken: {exc}")
