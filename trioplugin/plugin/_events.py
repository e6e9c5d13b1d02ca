"""What a launched plugin's handle reports about its process: exits, restarts, health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from ..actor import HealthStatus, PluginEvent


@final
@dataclass(frozen=True, slots=True)
class PluginExited(PluginEvent):
    """The plugin's process ended without being asked to."""

    pid: int
    returncode: int
    """Its exit status, or minus the signal that killed it (as :mod:`subprocess` says)."""
    description: str
    """How it ended, in words, with its last lines on stderr."""
    restarting: bool
    """Whether the supervisor will start it again (by its ``restart`` policy)."""


@final
@dataclass(frozen=True, slots=True)
class PluginRestarted(PluginEvent):
    """The supervisor started the plugin again, and it reports serving; calls reach it again."""

    pid: int
    restarts: int
    """How many times this plugin has been restarted so far."""
    downtime: float
    """Seconds from the exit to serving again."""


@final
@dataclass(frozen=True, slots=True)
class PluginHealthChanged(PluginEvent):
    """The plugin reported another health (``HealthReporter.set`` in the plugin)."""

    old: HealthStatus
    new: HealthStatus
