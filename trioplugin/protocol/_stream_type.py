"""The four kinds of Connect call, by how many messages flow each way."""

from __future__ import annotations

import enum
from typing import Final


class StreamType(enum.Enum):
    """How many messages flow each way in a call."""

    UNARY = "unary"
    CLIENT_STREAM = "client_stream"
    SERVER_STREAM = "server_stream"
    BIDI_STREAM = "bidi_stream"

    @property
    def streams_requests(self) -> bool:
        """Whether the client sends a stream of messages."""
        return self in (StreamType.CLIENT_STREAM, StreamType.BIDI_STREAM)

    @property
    def streams_responses(self) -> bool:
        """Whether the server answers with a stream of messages."""
        return self in (StreamType.SERVER_STREAM, StreamType.BIDI_STREAM)

    @property
    def enveloped(self) -> bool:
        """Whether the call uses the streaming wire format (enveloped messages, end-stream)."""
        return self is not StreamType.UNARY


SHAPES: Final[dict[StreamType, tuple[bool, bool, bool]]] = {
    kind: (kind.enveloped, kind.streams_requests, kind.streams_responses) for kind in StreamType
}
"""Per kind: (enveloped, streams requests, streams responses), for the per-call hot paths."""
