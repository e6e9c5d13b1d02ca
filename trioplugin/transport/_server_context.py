"""What every connection of one server shares: the app, the limits, the counters, the shutdown."""

from __future__ import annotations

import logging
import ssl
from typing import Final, Protocol

import trio

from ._errors import StreamClosed
from ._limits import ServerLimits
from ._server_stats import _Counters
from ._types import ServerApp

logger: Final = logging.getLogger("trioplugin.server")

MAX_RECEIVE: Final = 64 * 1024
"""The most bytes one socket read asks for."""


class ServedConnection(Protocol):
    """A connection being served: the server can ask it to wind down."""

    def shutdown(self) -> None:
        """Stop taking new requests and close once the ones in flight are done."""
        ...


class ServerContext:
    """The state a server shares with its connections (all in one trio thread)."""

    __slots__ = ("all_closed", "app", "closing", "connections", "counters", "limits", "ssl_context")

    def __init__(
        self, app: ServerApp, limits: ServerLimits, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.app = app
        self.limits = limits
        self.ssl_context = ssl_context
        self.counters = _Counters()
        self.closing = False
        self.connections: set[ServedConnection] = set()
        self.all_closed = trio.Event()

    def register(self, connection: ServedConnection) -> None:
        """Track ``connection`` so a graceful shutdown reaches it (at once if one is under way)."""
        self.connections.add(connection)
        if self.closing:
            connection.shutdown()

    def unregister(self, connection: ServedConnection) -> None:
        """Forget ``connection``; it has finished."""
        self.connections.discard(connection)

    def start_shutdown(self) -> None:
        """Ask every connection to wind down (they close once idle)."""
        self.closing = True
        for connection in list(self.connections):
            connection.shutdown()

    def connection_closed(self) -> None:
        """Count a finished connection; wake the shutdown once none is left."""
        self.counters.open_connections -= 1
        if self.counters.open_connections == 0 and self.closing:
            self.all_closed.set()


def peer_address(stream: trio.SocketStream) -> tuple[str, int] | str | None:
    """The remote address of ``stream``: (host, port), a unix socket path, or None."""
    try:
        address = stream.socket.getpeername()
    except OSError:
        return None
    if isinstance(address, tuple):
        return (str(address[0]), int(address[1]))
    if isinstance(address, str):
        return address or None
    return None


def log_app_error(exc: BaseException, method: str, path: str) -> None:
    """Log an exception a request handler let out.

    The client going away is routine (debug); anything else is a bug in the
    app, logged with its traceback (the client only sees a bare 500).
    """
    if isinstance(exc, StreamClosed | trio.BrokenResourceError | trio.ClosedResourceError):
        logger.debug("handler for %s %s stopped: the client went away (%r)", method, path, exc)
    else:
        logger.error("handler for %s %s raised", method, path, exc_info=exc)
