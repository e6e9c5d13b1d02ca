"""The error a launch raises when its plugin did not start."""

from __future__ import annotations


class PluginStartError(Exception):
    """A plugin process did not start: the message says what it did instead."""
