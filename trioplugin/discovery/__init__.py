"""Discovery: where a service's endpoints are, and spreading calls over them.

A :class:`DiscoverySource` answers with the service's endpoints
(:class:`ServiceEndpoint` records), once or as they change:
:class:`StaticSource` for a fixed list.
"""

from .._util import publish_module_names as _publish_module_names
from ._source import DiscoverySource, Endpoints, ServiceEndpoint, StaticSource, endpoint_set

__all__ = [
    "DiscoverySource",
    "Endpoints",
    "ServiceEndpoint",
    "StaticSource",
    "endpoint_set",
]

_publish_module_names(__name__, globals())
