"""Transport-level exceptions the app side may see."""

from __future__ import annotations


class StreamClosed(Exception):
    """The peer went away or reset the stream; nothing more can be read or written."""
