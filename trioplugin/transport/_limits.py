"""The limits each end enforces on its connections: hostile or dead peers cannot hang it."""

from __future__ import annotations

import math
from dataclasses import dataclass


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

    def __post_init__(self) -> None:
        if self.max_header_size < 1024:
            raise ValueError("max_header_size must be at least 1024 bytes")
        if not 1 <= self.max_concurrent_streams <= 2**31 - 1:
            raise ValueError("max_concurrent_streams must be between 1 and 2**31 - 1")
        for name in ("header_read_timeout", "idle_timeout"):
            value = getattr(self, name)
            if math.isnan(value) or value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be at least 1 (or None for no cap)")


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

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "keepalive_timeout"):
            value = getattr(self, name)
            if math.isnan(value) or value <= 0:
                raise ValueError(f"{name} must be positive")
        interval = self.keepalive_interval
        if interval is not None and (math.isnan(interval) or interval <= 0):
            raise ValueError("keepalive_interval must be positive (or None for no pings)")
