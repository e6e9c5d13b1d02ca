"""Transport-level exceptions the app side may see."""

from __future__ import annotations

from ..protocol import ConnectError


class StreamClosed(Exception):
    """The peer went away or reset the stream; nothing more can be read or written."""


class UnprocessedError(ConnectError):
    """A client call failed before the server processed its request: it is safe to send again.

    Raised (code ``unavailable``) when no connection could be made, the
    transport was closed, or the server refused the stream (HTTP/2
    ``REFUSED_STREAM``, or a ``GOAWAY`` that did not cover it). Even a method
    with side effects may be retried after one of these.
    """
