"""The actor runtime: an endpoint nursery, one actor task per endpoint, and handles.

Each plugin endpoint is owned by one trio task (its actor) that admits calls
through a bounded memory channel and runs them under the caller's deadline.
"""

from .._util import publish_module_names as _publish_module_names
from ._events import ActorEvent, ActorState, EventHub, PluginEvent, StateChanged
from ._handle import PluginHandle
from ._health import HealthStatus
from ._nursery import EndpointNursery, Services, TransportOpener, open_endpoint_nursery
from ._options import DEFAULT_INBOX_CAPACITY, DEFAULT_MAX_IN_FLIGHT, ActorOptions
from ._stats import ActorStatistics

__all__ = [
    "DEFAULT_INBOX_CAPACITY",
    "DEFAULT_MAX_IN_FLIGHT",
    "ActorEvent",
    "ActorOptions",
    "ActorState",
    "ActorStatistics",
    "EndpointNursery",
    "EventHub",
    "HealthStatus",
    "PluginEvent",
    "PluginHandle",
    "Services",
    "StateChanged",
    "TransportOpener",
    "open_endpoint_nursery",
]

_publish_module_names(__name__, globals())
