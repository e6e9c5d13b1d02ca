"""trioplugin: an actor-based resilience runtime on trio for plugin hosts, over Connect RPC."""

from ._version import __version__
from .protocol import Code, ConnectError, Metadata

__all__ = ["Code", "ConnectError", "Metadata", "__version__"]
