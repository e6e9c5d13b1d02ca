"""What goes wrong in HTTP/1.1: the peer broke the protocol, or we were asked to."""

from __future__ import annotations


class H1ProtocolError(Exception):
    """The peer sent something HTTP/1.1 does not allow; the connection cannot go on.

    ``status`` is the response a server would answer it with (400, 431, 505 ...).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class H1UsageError(ValueError):
    """We were asked to send something HTTP/1.1 does not allow (a bad header, too many bytes)."""
