"""trioplugin: an actor-based resilience runtime on trio for plugin hosts, over Connect RPC.

The layers are importable on their own (``trioplugin.protocol``,
``trioplugin.transport``, ``trioplugin.rpc``, ``trioplugin.actor``); the
names most programs need are re-exported here.
"""

from ._version import __version__
from .actor import ActorStatistics, PluginHandle, PluginNursery, open_plugin_nursery
from .protocol import Code, ConnectError, Metadata
from .rpc import (
    Call,
    CallNext,
    Client,
    ConnectApp,
    HandlerContext,
    Interceptor,
    Service,
    Stub,
    open_client,
    open_connect_server,
    serve_connect,
)

__all__ = [
    "ActorStatistics",
    "Call",
    "CallNext",
    "Client",
    "Code",
    "ConnectApp",
    "ConnectError",
    "HandlerContext",
    "Interceptor",
    "Metadata",
    "PluginHandle",
    "PluginNursery",
    "Service",
    "Stub",
    "__version__",
    "open_client",
    "open_connect_server",
    "open_plugin_nursery",
    "serve_connect",
]
