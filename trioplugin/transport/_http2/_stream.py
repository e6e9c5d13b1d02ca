"""What an HTTP/2 connection keeps per open stream: its windows and which sides are closed."""

from __future__ import annotations

from typing import final


@final
class StreamState:
    """One stream's flow-control windows and progress, as the connection tracks them."""

    __slots__ = (
        "content_length",
        "head_received",
        "local_closed",
        "received",
        "recv_unacked",
        "recv_window",
        "remote_closed",
        "send_window",
        "stream_id",
    )

    def __init__(self, stream_id: int, send_window: int, recv_window: int) -> None:
        self.stream_id = stream_id
        self.send_window = send_window  # what we may still send on it
        self.recv_window = recv_window  # what the peer may still send on it
        self.recv_unacked = 0  # consumed, not yet returned by WINDOW_UPDATE
        self.local_closed = False  # we sent END_STREAM
        self.remote_closed = False  # the peer sent END_STREAM
        self.head_received = False  # a final (non-1xx) head came in
        self.content_length: int | None = None  # what the peer declared it will send
        self.received = 0  # DATA payload bytes received
