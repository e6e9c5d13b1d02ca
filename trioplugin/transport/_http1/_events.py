"""What a :class:`~._reader.MessageReader` hands out: heads, body chunks and markers."""

from __future__ import annotations

from typing import Final, final


@final
class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA: Final = _Marker("NEED_DATA")
"""No event until more bytes are fed."""
END: Final = _Marker("END")
"""The message (its body included) has ended."""
CLOSED: Final = _Marker("CLOSED")
"""The peer closed the connection between two messages."""
NO_BODY_STATUSES: Final = frozenset({204, 304})
"""Final statuses whose responses never have a body, whatever their head says (RFC 9112 §6.3)."""


@final
class RequestHead:
    """A request line and its header fields (names lower-cased, values decoded as latin-1)."""

    __slots__ = (
        "chunked",
        "content_length",
        "expects_continue",
        "headers",
        "keep_alive",
        "method",
        "target",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]],
        framing: tuple[int | None, bool],
        keep_alive: bool,
        expects_continue: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.content_length, self.chunked = framing
        self.keep_alive = keep_alive
        """The request allows another one on the connection (HTTP/1.1 without ``close``, ...)."""
        self.expects_continue = expects_continue
        """It sent ``Expect: 100-continue`` and waits for a 100 before its body."""


@final
class ResponseHead:
    """A status line and its header fields (names lower-cased, values as raw latin-1)."""

    __slots__ = ("headers", "keep_alive", "status", "until_close", "version")

    def __init__(
        self,
        status: int,
        version: str,
        headers: list[tuple[str, str]],
        keep_alive: bool,
        until_close: bool,
    ) -> None:
        self.status = status
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.until_close = until_close
        """The body has no length and no chunks: it ends when the server closes."""


Event = RequestHead | ResponseHead | bytes | _Marker
