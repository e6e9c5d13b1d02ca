"""An endpoint's health, in three states: what plugins report and service handles act on."""

from __future__ import annotations

import enum


class HealthStatus(enum.Enum):
    """A plugin's (or one of its services') health, in three states."""

    SERVING = "serving"
    """Working normally."""

    DEGRADED = "degraded"
    """Working, with limits (a dependency is down, it sheds load, ...): still called."""

    NOT_SERVING = "not_serving"
    """Not working: calls would fail."""
