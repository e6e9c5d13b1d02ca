"""Servers that misbehave on purpose, one fault each, for the client's "nothing hangs" tests.

Each is a raw trio TCP server on 127.0.0.1 (port 0), an async context
manager yielding a :class:`FaultServer` whose ``url`` the client is pointed
at. A connection's first bytes tell the protocol: the HTTP/2 client preface
(h2c with prior knowledge) or an HTTP/1.1 request, so one server serves both
client transports. The faults:

- :func:`blackhole`: accepts, never reads or writes (with ``tls=True`` its
  URL is ``https://``: the TLS handshake never completes).
- :func:`garbage`: answers the first bytes with bytes that are neither
  HTTP/1.1 nor HTTP/2, and holds the connection open.
- :func:`headers_then_stall`: reads the request, sends a valid response head
  (HTTP/2: after its SETTINGS), then nothing, and reads nothing more.
- :func:`trickle`: reads the request, then sends a valid (and never-ending)
  response one byte per second; it reads nothing more, so HTTP/2 PINGs go
  unanswered.
- :func:`frozen`: speaks the protocol until the request has arrived whole,
  then never answers; it keeps draining what the client sends, but never
  looks at it (HTTP/2 PINGs are not acknowledged).

Use them under ``MockClock``: the seconds are virtual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Final

import h11
import trio

from tests.transport.h2_fault_servers import H2Peer, RawConnection
from trioplugin._util import open_transparent_nursery

H2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
GARBAGE: Final = b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\xfe not HTTP at all \x01\x02\r\n\r\n"
"""Not an HTTP/1.1 status line; as HTTP/2, a frame header claiming a 5 MiB frame."""
TRICKLE_BYTES: Final = 1 << 20
"""How many bytes a trickle sends at most: twelve virtual days' worth."""
_MAX_READS: Final = 10_000
"""The most reads one request may take (each is at least a byte)."""
_RECEIVE_SIZE: Final = 65_536


class ClientGone(Exception):
    """The client closed the connection before the fault could be played."""


@dataclass
class FaultServer:
    """A running fault server, and what it has seen."""

    url: str
    connections: int = 0
    """Connections accepted."""
    protocols: list[str] = field(default_factory=list)
    """``"1.1"`` or ``"2"`` for each connection whose first bytes were read."""
    requests: int = 0
    """Requests read whole (HTTP/2: to END_STREAM)."""
    sent: int = 0
    """Bytes sent after the request (the trickle's progress)."""
    request_arrived: trio.Event = field(default_factory=trio.Event)


Fault = Callable[[trio.abc.Stream, FaultServer], Awaitable[None]]


@asynccontextmanager
async def _serve(fault: Fault, *, tls: bool = False) -> AsyncIterator[FaultServer]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    server = FaultServer(f"{'https' if tls else 'http'}://127.0.0.1:{port}")

    async def handle(stream: trio.SocketStream) -> None:
        server.connections += 1
        try:
            async with stream:
                await fault(stream, server)
        except (ClientGone, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client gave up: that is what the tests expect of it

    async with open_transparent_nursery() as nursery:
        nursery.start_soon(partial(trio.serve_listeners, handle, listeners))
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()


async def _receive(stream: trio.abc.Stream) -> bytes:
    data = await stream.receive_some(_RECEIVE_SIZE)
    if not data:
        raise ClientGone
    return bytes(data)


async def _first_bytes(stream: trio.abc.Stream, server: FaultServer) -> bytes:
    """Read until the protocol is known: the HTTP/2 preface, or anything else."""
    data = b""
    for _ in range(len(H2_PREFACE)):
        data += await _receive(stream)
        if len(data) >= len(H2_PREFACE) or not H2_PREFACE.startswith(data):
            break
    server.protocols.append("2" if data.startswith(H2_PREFACE) else "1.1")
    return data


# -- reading the request, in either protocol ----------------------------------------------


async def _h11_request(stream: trio.abc.Stream, first: bytes) -> h11.Request:
    """Read one HTTP/1.1 request whole (its body discarded); its head."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(first)
    request: h11.Request | None = None
    for _ in range(_MAX_READS):
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await _receive(stream))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request
        elif isinstance(event, h11.ConnectionClosed):
            raise ClientGone
    raise AssertionError("the request did not end")


@dataclass
class _H2Request:
    peer: H2Peer
    stream_id: int


async def _h2_request(stream: trio.abc.Stream, first: bytes) -> _H2Request:
    """Speak HTTP/2 (SETTINGS, their ACKs, flow control) until one request has ended."""
    peer = H2Peer(RawConnection(stream))
    await peer.handshake()
    peer.feed(first)  # the preface and what came with it
    await peer.flush()  # h2's answers to them: SETTINGS ACK, WINDOW_UPDATE
    stream_id = await peer.request()
    if stream_id is None:
        raise ClientGone
    return _H2Request(peer, stream_id)


async def _request(stream: trio.abc.Stream, server: FaultServer) -> h11.Request | _H2Request:
    first = await _first_bytes(stream, server)
    request: h11.Request | _H2Request
    if server.protocols[-1] == "2":
        request = await _h2_request(stream, first)
    else:
        request = await _h11_request(stream, first)
    server.requests += 1
    server.request_arrived.set()
    return request


def _content_type(request: h11.Request | _H2Request) -> bytes:
    headers: Sequence[tuple[bytes, bytes]] = (
        request.peer.request_headers[request.stream_id]
        if isinstance(request, _H2Request)
        else request.headers
    )
    for name, value in headers:
        if name == b"content-type":
            return bytes(value)
    return b"application/proto"


def _response_head(request: h11.Request | _H2Request) -> bytes:
    """The bytes that start a 200 response to ``request`` in its protocol, its body to come."""
    content_type = _content_type(request)
    if isinstance(request, _H2Request):
        conn = request.peer.h2
        conn.send_headers(
            request.stream_id, [(b":status", b"200"), (b"content-type", content_type)]
        )
        return conn.data_to_send()
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + content_type
        + b"\r\ntransfer-encoding: chunked\r\n\r\n"
    )


def _envelope_prefix(content_type: bytes, length: int) -> bytes:
    """For a streaming call, the start of an envelope claiming ``length`` bytes; else nothing."""
    if content_type.startswith(b"application/connect+"):
        return b"\x00" + length.to_bytes(4, "big")
    return b""


# -- the faults ------------------------------------------------------------------------------


async def _blackhole(stream: trio.abc.Stream, server: FaultServer) -> None:
    await trio.sleep_forever()


async def _garbage(stream: trio.abc.Stream, server: FaultServer) -> None:
    await _first_bytes(stream, server)
    await stream.send_all(GARBAGE)
    await trio.sleep_forever()


async def _headers_then_stall(stream: trio.abc.Stream, server: FaultServer) -> None:
    await stream.send_all(_response_head(await _request(stream, server)))
    await trio.sleep_forever()


async def _trickle(stream: trio.abc.Stream, server: FaultServer) -> None:
    request = await _request(stream, server)
    head = _response_head(request)
    if isinstance(request, _H2Request):
        frame_size = request.peer.h2.max_outbound_frame_size
        head += frame_size.to_bytes(3, "big") + b"\x00\x00" + request.stream_id.to_bytes(4, "big")
        total = len(head) + frame_size  # one DATA frame, never finished
    else:
        head += f"{TRICKLE_BYTES:x}\r\n".encode()  # the one chunk's size
        total = TRICKLE_BYTES
    response = head + _envelope_prefix(_content_type(request), 1 << 20)
    for index in range(total):
        byte = response[index : index + 1] or b"\x00"
        await stream.send_all(byte)
        server.sent += 1
        await trio.sleep(1)
    await trio.sleep_forever()


async def _frozen(stream: trio.abc.Stream, server: FaultServer) -> None:
    await _request(stream, server)
    for _ in range(_MAX_READS):
        await _receive(stream)  # drained, never answered (PINGs included)
    await trio.sleep_forever()


# -- the servers -----------------------------------------------------------------------------


def blackhole(*, tls: bool = False) -> AbstractAsyncContextManager[FaultServer]:
    """Accepts connections, and never reads or writes; ``tls``: an ``https://`` URL."""
    return _serve(_blackhole, tls=tls)


def garbage() -> AbstractAsyncContextManager[FaultServer]:
    """Answers the first bytes with neither HTTP/1.1 nor HTTP/2, then holds the connection."""
    return _serve(_garbage)


def headers_then_stall() -> AbstractAsyncContextManager[FaultServer]:
    """Reads the request, sends a valid response head, then nothing."""
    return _serve(_headers_then_stall)


def trickle() -> AbstractAsyncContextManager[FaultServer]:
    """Reads the request, then sends a never-ending valid response, one byte per second."""
    return _serve(_trickle)


def frozen() -> AbstractAsyncContextManager[FaultServer]:
    """Speaks the protocol until the request is in, then never answers (nor acks a PING)."""
    return _serve(_frozen)


FAULTS: Final[dict[str, Callable[[], AbstractAsyncContextManager[FaultServer]]]] = {
    "blackhole": blackhole,
    "garbage": garbage,
    "headers_then_stall": headers_then_stall,
    "trickle": trickle,
    "frozen": frozen,
}
"""Every fault server by name."""
