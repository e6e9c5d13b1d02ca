"""Our sans-IO HTTP/1.1 (RFC 9112): httptools (llhttp) parses, we frame and keep the state.

Nothing here does I/O or imports trio: the server's and the client's
connection shells feed received bytes to a :class:`MessageReader`, take its
events, and write what :mod:`._writer` builds. ``docs/protocol.md`` has the
rules each side follows.
"""

from ._errors import H1ProtocolError, H1UsageError
from ._events import CLOSED, END, NEED_DATA, NO_BODY_STATUSES, RequestHead, ResponseHead
from ._reader import MessageReader
from ._writer import (
    LAST_CHUNK,
    BodyFramer,
    check_fields,
    request_head,
    request_lines,
    response_head,
    response_lines,
)

__all__ = [
    "CLOSED",
    "END",
    "LAST_CHUNK",
    "NEED_DATA",
    "NO_BODY_STATUSES",
    "BodyFramer",
    "H1ProtocolError",
    "H1UsageError",
    "MessageReader",
    "RequestHead",
    "ResponseHead",
    "check_fields",
    "request_head",
    "request_lines",
    "response_head",
    "response_lines",
]
