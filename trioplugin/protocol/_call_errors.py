"""The two ways a call can go wrong in the protocol: the peer broke it, or the caller misused it."""

from __future__ import annotations

from ._code import Code
from ._error import ConnectError
from ._metadata import Metadata


class RemoteProtocolError(ConnectError):
    """The peer sent something the Connect protocol does not allow.

    It is a :class:`ConnectError` with the code the protocol assigns to the
    violation (``unimplemented`` for a wrong message count, ``internal`` for a
    malformed response, ``invalid_argument`` for a malformed request, ...), so
    it can be raised to the caller or sent to the client as it is.
    """

    def __init__(self, code: Code, message: str, *, metadata: Metadata | None = None) -> None:
        super().__init__(code, message, metadata=metadata)


class LocalProtocolError(RuntimeError):
    """The code driving a call state machine used it in a way the protocol does not allow.

    For example: a second response to a unary call, a message after the end,
    a server-streaming request with no message: a bug in the code
    driving the machine (a handler, an interceptor, the rpc layer), never
    something a peer can cause.
    """
