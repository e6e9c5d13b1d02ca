"""The limits each end enforces on its connections: hostile or dead peers cannot hang it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

from .._checks import check_int, check_seconds

DEFAULT_STREAM_WINDOW: Final = 2 * 1024 * 1024
"""HTTP/2 client: the receive window of each stream, in bytes."""

DEFAULT_CONNECTION_WINDOW: Final = 16 * 1024 * 1024
"""HTTP/2 client: the receive window of each connection, in bytes."""


@final
@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one connection may cost the server: sizes, counts and timeouts.

    The defaults suit a plugin server on a trusted host and still cut off a
    slow or hostile client. Message sizes are not limited here: the RPC layer
    limits each decoded (decompressed) message.
    """

    max_header_size: int = 64 * 1024
    """The largest request head, in bytes.

    HTTP/1.1: the request line and headers (``431`` beyond it). HTTP/2: the
    header list size as RFC 9113 counts it (advertised in
    ``SETTINGS_MAX_HEADER_LIST_SIZE``; a larger block ends the connection with
    ``GOAWAY(ENHANCE_YOUR_CALM)``, since the HPACK state is lost with it).
    """

    max_concurrent_streams: int = 100
    """HTTP/2 streams open at once on one connection.

    Advertised in ``SETTINGS_MAX_CONCURRENT_STREAMS``; a stream beyond it is
    refused with ``RST_STREAM(REFUSED_STREAM)``, which clients may retry. A
    stream counts until its handler has returned, even if the client reset it.
    """

    header_read_timeout: float = 10.0
    """Seconds a client has for the TLS handshake, and then for each request head.

    For a new connection it runs from the accept (after the handshake); on a
    keep-alive connection it runs from the first byte of the next request.
    Slow senders (slowloris) are closed when it expires.
    """

    idle_timeout: float = 60.0
    """Seconds a connection may stay open with no request in flight.

    HTTP/1.1 keep-alive connections are closed; HTTP/2 connections get a
    ``GOAWAY`` and are closed.
    """

    max_connections: int | None = None
    """Connections served at once; a connection beyond it is closed at once. None: no cap."""

    grace_period: float = 5.0
    """Seconds in-flight requests get to finish when the server shuts down.

    HTTP/2 connections get a ``GOAWAY`` at once, idle HTTP/1.1 connections
    are closed; requests still running when it expires are cancelled.
    """

    def __post_init__(self) -> None:
        check_int(self, "max_header_size", 1024)
        check_int(self, "max_concurrent_streams", 1, 2**31 - 1)
        check_seconds(self, "header_read_timeout")
        check_seconds(self, "idle_timeout")
        if self.max_connections is not None:
            check_int(self, "max_connections", 1, none="no cap")
        check_seconds(self, "grace_period", zero=True)


@final
@dataclass(frozen=True, slots=True)
class ClientLimits:
    """The waits a client connection bounds on its own, whether or not a call has a deadline.

    A call's deadline (the caller's cancel scope) bounds everything that call
    waits for; these bound what the connection itself waits for, so that a
    black-holed or frozen peer is found even when no caller set a deadline.
    """

    connect_timeout: float = 10.0
    """Seconds to open a connection: TCP, TLS and (HTTP/2) the server's first SETTINGS.

    A connection attempt that takes longer fails every call waiting for it
    with ``unavailable``; the next call starts a fresh attempt.
    """

    keepalive_interval: float | None = 30.0
    """HTTP/2: seconds without a frame from the server after which the client sends a PING.

    None: never ping. (HTTP/1.1 has no pings; a call there is bounded by its
    deadline.)
    """

    keepalive_timeout: float = 20.0
    """HTTP/2: seconds the server has to acknowledge a keepalive PING.

    Without the ack the connection is retired: its calls fail with
    ``unavailable`` and the next call opens a new connection.
    """

    stream_window: int = DEFAULT_STREAM_WINDOW
    """HTTP/2: bytes the server may send on one stream ahead of what its reader has taken.

    The stream's receive flow-control window (2 MiB); a reader that falls
    behind holds the server back instead of growing the client's memory.
    """

    connection_window: int = DEFAULT_CONNECTION_WINDOW
    """HTTP/2: the same, for all the streams of the connection together (16 MiB)."""

    close_timeout: float = 1.0
    """HTTP/2: seconds a closing transport's connections get to send their ``GOAWAY``."""

    max_connections: int = 100
    """HTTP/1.1: connections open to the server at once (a call beyond them waits for one)."""

    idle_timeout: float = 30.0
    """HTTP/1.1: seconds a connection may wait in the pool and still be reused.

    One that waited longer is closed instead: keep it below the server's own
    idle timeout, so that the client does not reuse a connection the server
    is closing.
    """

    def __post_init__(self) -> None:
        check_seconds(self, "connect_timeout")
        if self.keepalive_interval is not None:
            check_seconds(self, "keepalive_interval", none="no pings")
        check_seconds(self, "keepalive_timeout")
        check_int(self, "stream_window", 1, 2**31 - 1)
        check_int(self, "connection_window", 1, 2**31 - 1)
        check_seconds(self, "close_timeout", zero=True)
        check_int(self, "max_connections", 1)
        check_seconds(self, "idle_timeout")
