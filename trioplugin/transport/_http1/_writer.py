"""Sent HTTP/1.1 messages as bytes: heads, and bodies framed by length or in chunks.

Header fields are checked before they go out (a CR or LF in a value would
split the message: RFC 9112 §2.2 and §5); the pairs found valid are
remembered, as the same few come with every message.
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterable
from typing import Final, final

from ._errors import H1UsageError

LAST_CHUNK: Final = b"0\r\n\r\n"
"""The end of a chunked body (no trailer fields)."""
_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_BAD_VALUE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|^[ \t]|[ \t]$").search
_TARGET: Final = re.compile(r"[\x21-\x7e]+").fullmatch
"""A request target: visible ASCII (RFC 9112 §3.2; a URI has no spaces or controls)."""
_CHECKED: Final[set[tuple[str, str]]] = set()
"""Field pairs found valid (bounded: beyond the limit, pairs are checked every time)."""
_CHECKED_LIMIT: Final = 4096
_REASONS: Final = {status.value: status.phrase for status in http.HTTPStatus}


def check_fields(fields: Iterable[tuple[str, str]]) -> None:
    """Raise :class:`H1UsageError` for a field HTTP/1.1 cannot carry as it is."""
    checked = _CHECKED
    for pair in fields:
        if pair in checked:
            continue
        name, value = pair
        if not _NAME(name):
            raise H1UsageError(f"invalid header name {name!r}")
        if _BAD_VALUE(value):
            raise H1UsageError(f"invalid value for header {name!r}: {value[:40]!r}")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise H1UsageError(f"header {name!r} has a value that is not latin-1") from None
        if len(checked) < _CHECKED_LIMIT:
            checked.add(pair)


def _lines(start_line: str, fields: Iterable[tuple[str, str]]) -> bytes:
    fields = list(fields)
    check_fields(fields)
    lines = [start_line]
    lines.extend(f"{name}: {value}" for name, value in fields)
    lines.append("")
    return "\r\n".join(lines).encode("latin-1")


def request_lines(method: str, target: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """A request line and its fields, each line ended; a blank line (more fields) ends the head.

    The same calls send the same lines: callers keep them and add the
    framing field (``content-length``) and the blank line per message.
    """
    if not _NAME(method):
        raise H1UsageError(f"invalid method {method!r}")
    if not _TARGET(target):
        raise H1UsageError(f"invalid request target {target!r}")
    return _lines(f"{method} {target} HTTP/1.1", fields)


def request_head(method: str, target: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """A whole request head: request line, fields (``host`` and the framing among them)."""
    return request_lines(method, target, fields) + b"\r\n"


def response_lines(status: int, fields: Iterable[tuple[str, str]]) -> bytes:
    """A status line (with the standard reason phrase) and its fields, each line ended."""
    if not 100 <= status <= 999:
        raise H1UsageError(f"invalid status code {status}")
    return _lines(f"HTTP/1.1 {status} {_REASONS.get(status, '')}", fields)


def response_head(status: int, fields: Iterable[tuple[str, str]]) -> bytes:
    """A whole response head: status line and fields."""
    return response_lines(status, fields) + b"\r\n"


@final
class BodyFramer:
    """The body of one sent message: counted against its Content-Length, or chunked.

    With neither (``length=None, chunked=False``) the body runs until the
    connection closes (a response to an HTTP/1.0 request).
    """

    __slots__ = ("_chunked", "_left", "ended")

    def __init__(self, length: int | None, *, chunked: bool) -> None:
        self._left = length
        self._chunked = chunked
        self.ended = False

    def data(self, data: bytes) -> bytes:
        """``data`` as it goes on the wire (a chunk, or as it is)."""
        if self.ended:
            raise H1UsageError("the body has ended")
        if self._chunked:
            return b"%x\r\n%b\r\n" % (len(data), data) if data else b""
        left = self._left
        if left is not None:
            if len(data) > left:
                raise H1UsageError(f"{len(data)} bytes more than the Content-Length allows")
            self._left = left - len(data)
        return data

    def end(self) -> bytes:
        """What ends the body on the wire (the last chunk, or nothing)."""
        if self.ended:
            raise H1UsageError("the body has ended")
        if self._left:
            raise H1UsageError(f"the body ended {self._left} bytes short of its Content-Length")
        self.ended = True
        return LAST_CHUNK if self._chunked else b""

    @property
    def until_close(self) -> bool:
        """Whether the body ends only when the connection closes."""
        return self._left is None and not self._chunked
