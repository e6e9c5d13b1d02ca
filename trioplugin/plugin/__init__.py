"""Plugin processes: the plugin side's serve(), the handshake, health and control, the launcher.

Wire-compatible with connect-plugin-go (its ``connectplugin.v1`` handshake
and control services, ``connectplugin.health.v1`` health), so hosts and
plugins of either project can talk to each other.
"""

from .._util import publish_module_names as _publish_module_names
from ..actor import HealthStatus
from ._builtin import health_services
from ._config import (
    CORE_PROTOCOL_VERSION,
    DEFAULT_MAGIC_COOKIE_KEY,
    DEFAULT_MAGIC_COOKIE_VALUE,
    HandshakeConfig,
)
from ._events import PluginExited, PluginHealthChanged, PluginRestarted
from ._health import HealthReporter
from ._launch import PluginCrashLoop
from ._launch_options import LaunchOptions
from ._nursery import PluginNursery, open_plugin_nursery
from ._serve import PluginServeError, serve, serve_plugin
from ._start_error import PluginStartError
from ._watch_health import watch_health

__all__ = [
    "CORE_PROTOCOL_VERSION",
    "DEFAULT_MAGIC_COOKIE_KEY",
    "DEFAULT_MAGIC_COOKIE_VALUE",
    "HandshakeConfig",
    "HealthReporter",
    "HealthStatus",
    "LaunchOptions",
    "PluginCrashLoop",
    "PluginExited",
    "PluginHealthChanged",
    "PluginNursery",
    "PluginRestarted",
    "PluginServeError",
    "PluginStartError",
    "health_services",
    "open_plugin_nursery",
    "serve",
    "serve_plugin",
    "watch_health",
]

_publish_module_names(__name__, globals())
