"""The two ways an HTTP/2 connection fails: the peer broke the protocol, or we misused the API."""

from __future__ import annotations

from typing import final

from ._frames import ErrorCode


@final
class H2ConnectionError(Exception):
    """The peer broke the protocol in a way that ends the connection.

    The GOAWAY with :attr:`code` is already queued; send what
    :meth:`~trioplugin.transport._http2.Connection.data_to_send` returns and close.
    ``abuse`` is true for a limit the peer overran (a flood, an oversized header
    block) rather than a malformed frame; ``frame_length`` is the length a frame
    header claimed when that was over our limit (FRAME_SIZE_ERROR), else 0.
    """

    def __init__(
        self, code: ErrorCode, message: str, *, abuse: bool = False, frame_length: int = 0
    ) -> None:
        super().__init__(message)
        self.code = code
        self.abuse = abuse
        self.frame_length = frame_length


@final
class H2UsageError(Exception):
    """The connection was driven wrongly: a closed stream written, a window overrun."""


@final
class H2StreamClosed(Exception):
    """Raised when writing to a stream that is closed (reset by the peer, or ended)."""

    def __init__(self, stream_id: int) -> None:
        super().__init__(f"HTTP/2 stream {stream_id} is closed")
        self.stream_id = stream_id
