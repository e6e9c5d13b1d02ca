"""HTTP on trio: a server for HTTP/1.1, h2c and TLS with ALPN (client transports to come)."""

from ._errors import StreamClosed
from ._limits import ServerLimits
from ._server import Server, open_server, serve
from ._server_stats import ServerStatistics
from ._types import (
    ClientExchange,
    ClientTransport,
    HTTPVersion,
    Peer,
    ServerApp,
    ServerExchange,
    TLSInfo,
)

__all__ = [
    "ClientExchange",
    "ClientTransport",
    "HTTPVersion",
    "Peer",
    "Server",
    "ServerApp",
    "ServerExchange",
    "ServerLimits",
    "ServerStatistics",
    "StreamClosed",
    "TLSInfo",
    "open_server",
    "serve",
]
