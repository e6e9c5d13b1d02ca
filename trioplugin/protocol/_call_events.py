"""The small frozen values the call state machines take and return."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final, Literal, final

from ._error import ConnectError
from ._metadata import Metadata


class _Need(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = _Need.NEED_DATA
"""Returned by ``next_event()`` when the machine needs more bytes to say what comes next."""

NeedData = Literal[_Need.NEED_DATA]
"""The type of :data:`NEED_DATA`."""


@final
@dataclass(frozen=True, slots=True)
class Message:
    """One message of the call, decompressed, still encoded with the call's codec."""

    data: bytes


@final
@dataclass(frozen=True, slots=True)
class EndOfRequest:
    """The client has sent all of its messages."""


@final
@dataclass(frozen=True, slots=True)
class EndOfResponse:
    """The response is over: how it ended (``error`` is None on success) and its trailers."""

    error: ConnectError | None
    trailers: Metadata = field(default_factory=Metadata)


@final
@dataclass(frozen=True, slots=True)
class ResponseHead:
    """A response's status line and headers, as the server writes them."""

    status: int
    headers: list[tuple[str, str]]


@final
@dataclass(frozen=True, slots=True)
class Output:
    """What the server writes next: a head (if not written yet), bytes, and whether it is the end.

    A head with ``end`` set is a whole response (write it in one go).
    """

    head: ResponseHead | None
    data: bytes
    end: bool


@final
@dataclass(frozen=True, slots=True)
class Request:
    """A request as the client writes it: method, path (with query for GET), headers, body.

    ``body`` is None when the messages follow one by one (client and bidi
    streaming).
    """

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes | None
