"""HTTP on trio: a server for HTTP/1.1, h2c and TLS with ALPN, and client transports."""

from ._errors import StreamClosed
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
    "ServerApp",
    "ServerExchange",
    "StreamClosed",
    "TLSInfo",
]
