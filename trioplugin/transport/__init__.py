"""HTTP on trio: a server for HTTP/1.1, h2c and TLS with ALPN, and client transports.

The transport over ``httpx.AsyncClient`` (``open_httpx_transport``,
``HttpxTransport``, ``HttpxClientExchange``) is imported on first use, with
httpx: a process that only serves, or only uses our own clients, never
imports httpx.
"""

from typing import TYPE_CHECKING

from .._util import publish_module_names as _publish_module_names
from ._certificate import PeerCertificate
from ._errors import StreamClosed, TLSError, TLSErrorReason, UnprocessedError
from ._http1_client import HTTP1Transport, HTTP1TransportStatistics, open_http1_transport
from ._http1_client_exchange import HTTP1ClientExchange
from ._http2_client import (
    HTTP2Transport,
    HTTP2TransportStatistics,
    check_base_url,
    open_http2_transport,
)
from ._http2_client_exchange import HTTP2ClientExchange
from ._http2_client_share import HTTP2TransportShare
from ._limits import ClientLimits, ServerLimits
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
    "ClientLimits",
    "ClientTransport",
    "HTTP1ClientExchange",
    "HTTP1Transport",
    "HTTP1TransportStatistics",
    "HTTP2ClientExchange",
    "HTTP2Transport",
    "HTTP2TransportShare",
    "HTTP2TransportStatistics",
    "HTTPVersion",
    "HttpxClientExchange",
    "HttpxTransport",
    "Peer",
    "PeerCertificate",
    "Server",
    "ServerApp",
    "ServerExchange",
    "ServerLimits",
    "ServerStatistics",
    "StreamClosed",
    "TLSError",
    "TLSErrorReason",
    "TLSInfo",
    "UnprocessedError",
    "check_base_url",
    "open_http1_transport",
    "open_http2_transport",
    "open_httpx_transport",
    "open_server",
    "serve",
]

_publish_module_names(__name__, globals())

if TYPE_CHECKING:
    from ._httpx_client import HttpxClientExchange, HttpxTransport, open_httpx_transport

_ON_FIRST_USE = frozenset({"HttpxClientExchange", "HttpxTransport", "open_httpx_transport"})


def __getattr__(name: str) -> object:
    """The httpx transport's names, imported (with httpx) when first asked for."""
    if name in _ON_FIRST_USE:
        from . import _httpx_client

        value = getattr(_httpx_client, name)
        _publish_module_names(__name__, {"__all__": [name], name: value})
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
