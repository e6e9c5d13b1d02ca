"""What a server has done so far: a frozen snapshot and the counters behind it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerStatistics:
    """A snapshot of a server's counters, as :meth:`Server.statistics` returns it.

    The ``connections_closed_*`` counters tell why the server closed a
    connection itself; connections the client closed count in none of them.
    """

    open_connections: int
    """Connections accepted and not yet closed (TLS handshakes included)."""
    requests_in_flight: int
    """Requests whose handler is running."""
    requests_served: int
    """Requests whose handler has returned (or raised, or was cancelled)."""
    connections_accepted: int
    """Connections accepted since the server started (refused ones included)."""
    connections_refused: int
    """Connections closed at once because ``max_connections`` were open."""
    connections_closed_idle: int
    """Connections closed after ``idle_timeout`` without a request in flight."""
    connections_closed_timeout: int
    """Connections closed because the TLS handshake or a request head was too slow."""
    connections_closed_limit: int
    """Connections closed for exceeding a limit: header size, or HTTP/2 abuse (floods, resets)."""
    connections_closed_protocol_error: int
    """Connections closed because the client broke HTTP (garbage, bad frames)."""
    tls_handshake_failures: int
    """TLS handshakes that failed (no or untrusted client certificate, not TLS at all, ...)."""


class _Counters:
    """The mutable counters a server and its connections share (one trio thread, no locks)."""

    __slots__ = (
        "closed_idle",
        "closed_limit",
        "closed_protocol_error",
        "closed_timeout",
        "connections_accepted",
        "connections_refused",
        "open_connections",
        "requests_in_flight",
        "requests_served",
        "tls_handshake_failures",
    )

    def __init__(self) -> None:
        self.open_connections = 0
        self.requests_in_flight = 0
        self.requests_served = 0
        self.connections_accepted = 0
        self.connections_refused = 0
        self.closed_idle = 0
        self.closed_timeout = 0
        self.closed_limit = 0
        self.closed_protocol_error = 0
        self.tls_handshake_failures = 0

    def snapshot(self) -> ServerStatistics:
        return ServerStatistics(
            open_connections=self.open_connections,
            requests_in_flight=self.requests_in_flight,
            requests_served=self.requests_served,
            connections_accepted=self.connections_accepted,
            connections_refused=self.connections_refused,
            connections_closed_idle=self.closed_idle,
            connections_closed_timeout=self.closed_timeout,
            connections_closed_limit=self.closed_limit,
            connections_closed_protocol_error=self.closed_protocol_error,
            tls_handshake_failures=self.tls_handshake_failures,
        )
