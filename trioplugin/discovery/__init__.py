"""Discovery: where a service's endpoints are, and one handle spreading calls over them.

A :class:`DiscoverySource` answers with the service's endpoints
(:class:`ServiceEndpoint` records), once or as they change:
:class:`StaticSource` for a fixed list. :func:`open_service` (or
:meth:`trioplugin.PluginNursery.connect_service`) gives a
:class:`ServiceHandle`: an endpoint actor per endpoint, created and closed
as the source's answer changes, and each call sent to one of them by a
:class:`Balancer` (:class:`PowerOfTwoChoices` by default, or
:class:`RoundRobin`), failing endpoints ejected, retries sent elsewhere;
:class:`ServiceOptions` says how.
"""

from .._util import publish_module_names as _publish_module_names
from ._balancing import Balancer, Candidate, PowerOfTwoChoices, RoundRobin
from ._events import (
    EndpointAdded,
    EndpointEjected,
    EndpointHealthChanged,
    EndpointRemoved,
    EndpointReturned,
    ServiceEvent,
)
from ._open import open_service
from ._options import (
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_SERVICE_RETRY,
    HealthWatch,
    ServiceOptions,
)
from ._rotation import DEFAULT_MAX_EJECTION_PERCENT
from ._service import ServiceHandle
from ._source import DiscoverySource, Endpoints, ServiceEndpoint, StaticSource, endpoint_set
from ._stats import EndpointStatistics, ServiceStatistics

__all__ = [
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_MAX_EJECTION_PERCENT",
    "DEFAULT_SERVICE_RETRY",
    "Balancer",
    "Candidate",
    "DiscoverySource",
    "EndpointAdded",
    "EndpointEjected",
    "EndpointHealthChanged",
    "EndpointRemoved",
    "EndpointReturned",
    "EndpointStatistics",
    "Endpoints",
    "HealthWatch",
    "PowerOfTwoChoices",
    "RoundRobin",
    "ServiceEndpoint",
    "ServiceEvent",
    "ServiceHandle",
    "ServiceOptions",
    "ServiceStatistics",
    "StaticSource",
    "endpoint_set",
    "open_service",
]

_publish_module_names(__name__, globals())
