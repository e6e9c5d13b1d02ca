"""What an HTTP/2 connection reports when fed bytes: small, slotted, one class per kind."""

from __future__ import annotations

from typing import final


class Event:
    """The base class of every event."""

    __slots__ = ()

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({fields})"


@final
class HeadersReceived(Event):
    """A complete, validated header block on a stream.

    A request, a response, an informational response (``pseudo[b":status"]``
    1xx) or trailers (``trailers``).

    ``pseudo`` holds the pseudo-header fields by name; ``fields`` the others, in order,
    as latin-1 strings.
    """

    __slots__ = ("end_stream", "fields", "pseudo", "stream_id", "trailers")

    def __init__(
        self,
        stream_id: int,
        pseudo: dict[bytes, bytes],
        fields: list[tuple[str, str]],
        end_stream: bool,
        trailers: bool,
    ) -> None:
        self.stream_id = stream_id
        self.pseudo = pseudo
        self.fields = fields
        self.end_stream = end_stream
        self.trailers = trailers


@final
class DataReceived(Event):
    """A DATA frame's payload.

    ``flow_length`` (payload plus padding) is owed back via
    :meth:`~trioplugin.transport._http2.Connection.acknowledge` once it is consumed.
    """

    __slots__ = ("data", "end_stream", "flow_length", "stream_id")

    def __init__(self, stream_id: int, data: bytes, flow_length: int, end_stream: bool) -> None:
        self.stream_id = stream_id
        self.data = data
        self.flow_length = flow_length
        self.end_stream = end_stream


@final
class StreamReset(Event):
    """A stream ended abnormally.

    The peer reset it (``remote``), or we did because the peer broke the
    protocol on that stream alone (the RST_STREAM is already queued;
    ``reason`` says what was wrong).
    """

    __slots__ = ("code", "reason", "remote", "stream_id")

    def __init__(self, stream_id: int, code: int, remote: bool, reason: str = "") -> None:
        self.stream_id = stream_id
        self.code = code
        self.remote = remote
        self.reason = reason


@final
class WindowUpdated(Event):
    """A send window grew: the connection's (``stream_id`` 0) or one stream's."""

    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


@final
class SettingsReceived(Event):
    """The peer's SETTINGS, applied and acknowledged; ``changed`` by identifier."""

    __slots__ = ("changed",)

    def __init__(self, changed: dict[int, int]) -> None:
        self.changed = changed


@final
class SettingsAcknowledged(Event):
    """The peer applied our SETTINGS."""

    __slots__ = ()


@final
class PingReceived(Event):
    """A PING, already answered."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


@final
class PingAcknowledged(Event):
    """The answer to one of our PINGs."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


@final
class GoAwayReceived(Event):
    """The peer is closing.

    Streams above ``last_stream_id`` were not and will not be processed; the
    ones at or below it may still finish.
    """

    __slots__ = ("code", "debug", "last_stream_id")

    def __init__(self, last_stream_id: int, code: int, debug: bytes) -> None:
        self.last_stream_id = last_stream_id
        self.code = code
        self.debug = debug


@final
class OtherFrameReceived(Event):
    """A frame that needs no action.

    PRIORITY, an unknown type, or an empty DATA frame without END_STREAM:
    reported so a server can count them (flood protection).
    """

    __slots__ = ("kind", "stream_id")

    def __init__(self, kind: int, stream_id: int) -> None:
        self.kind = kind
        self.stream_id = stream_id
