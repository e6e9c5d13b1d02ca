"""Plugin processes: the plugin side's serve(), the handshake, health and control, the launcher.

Wire-compatible with connect-plugin-go (its ``connectplugin.v1`` handshake
and control services, ``connectplugin.health.v1`` health), so hosts and
plugins of either project can talk to each other. Under construction
(issue 15): nothing here is public yet.
"""

from .._util import publish_module_names as _publish_module_names

__all__: list[str] = []

_publish_module_names(__name__, globals())
