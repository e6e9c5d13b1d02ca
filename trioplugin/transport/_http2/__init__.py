"""Our own HTTP/2, sans-IO: frames, HPACK, and a connection state machine for both sides.

The trio shells (``_server_http2``, the client connection) feed it bytes and
act on its events; nothing here imports trio.
"""

from ._connection import Connection
from ._errors import H2ConnectionError, H2StreamClosed, H2UsageError
from ._events import (
    DataReceived,
    Event,
    GoAwayReceived,
    HeadersReceived,
    OtherFrameReceived,
    PingAcknowledged,
    PingReceived,
    SettingsAcknowledged,
    SettingsReceived,
    StreamReset,
    WindowUpdated,
)
from ._frames import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_WINDOW,
    MAX_WINDOW,
    STREAM_ID_MASK,
    ErrorCode,
    Setting,
)

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_WINDOW",
    "MAX_WINDOW",
    "STREAM_ID_MASK",
    "Connection",
    "DataReceived",
    "ErrorCode",
    "Event",
    "GoAwayReceived",
    "H2ConnectionError",
    "H2StreamClosed",
    "H2UsageError",
    "HeadersReceived",
    "OtherFrameReceived",
    "PingAcknowledged",
    "PingReceived",
    "Setting",
    "SettingsAcknowledged",
    "SettingsReceived",
    "StreamReset",
    "WindowUpdated",
]
