"""A head llhttp has parsed, kept as its bytes: when the same bytes come again, the same head.

A client sends the same request head call after call (the same method,
path and fields; only ``Content-Length`` changes with the message), and a
server answers with the same response head: parsing it again through
llhttp's callbacks costs more than anything else the reader does per
message. So a :class:`MessageReader` keeps the last head that came whole at
the start of a read, with all of its body behind it, and its verdict on it;
a message that starts with the same bytes (``Content-Length``, when it is
the last field, may differ) is taken without llhttp, provided its whole body
is in the read too. Anything else — another head, a body still to come, any
doubt — goes to llhttp as before.

Only plain messages are kept: HTTP/1.1, keep-alive, framed by
``Content-Length``, no ``Expect``, no upgrade, and for responses a final
status that has a body (not 1xx, 204 or 304). llhttp is strict about line
ends (every line ends with CRLF), so a head ends at the first empty line,
and the template is taken only if llhttp's body began right there.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Final, final

from ._events import END, NO_BODY_STATUSES, Event, RequestHead, ResponseHead

_HEAD_END: Final = b"\r\n\r\n"
_LENGTH_NAME: Final = b"content-length: "
_MAX_DIGITS: Final = 18
"""The longest ``Content-Length`` taken without llhttp (llhttp checks anything longer)."""


@final
class HeadTemplate:
    """The bytes of one head and what llhttp made of them, to read the same head again."""

    __slots__ = ("_fields", "_head", "_length", "_length_name", "_prefix")

    def __init__(
        self,
        head: RequestHead | ResponseHead,
        prefix: bytes,
        length_name: bytes | None,
        length: int,
        fields: list[tuple[str, str]],
    ) -> None:
        self._head = head
        self._prefix = prefix
        self._length_name = length_name  # the last field's name as sent, if the length varies
        self._length = length  # if it does not
        self._fields = fields  # the head's fields, without a varying content-length

    @staticmethod
    def keeps(head: RequestHead | ResponseHead, length: int | None) -> bool:
        """Whether a head with this ``Content-Length`` is plain enough to keep (see the module)."""
        if length is None or head.version != "1.1" or not head.keep_alive:
            return False
        if type(head) is RequestHead:
            if head.expects_continue or head.method == "CONNECT":
                return False
        else:
            assert type(head) is ResponseHead
            if head.status in NO_BODY_STATUSES or head.status < 200:
                return False
        return all(name != "upgrade" and name != "transfer-encoding" for name, _ in head.headers)

    @classmethod
    def learn(
        cls,
        data: bytes,
        head: RequestHead | ResponseHead,
        size: int,
        length: int,
        events: deque[Event],
        at: int,
    ) -> HeadTemplate | None:
        """The template of ``head``, if llhttp read it from ``data[:size]`` and its body after it.

        ``head`` is ``events[at]``, the first event of this read; ``size`` is
        the length llhttp's parts add up to, ``length`` its ``Content-Length``
        (one a kept head has). The first empty line must end
        the head there, and llhttp must have taken the bytes right after it
        as the whole body, then ended the message.
        """
        start = b"HTTP/" if type(head) is ResponseHead else head.method.encode("ascii") + b" "
        if not data.startswith(start) or data.find(_HEAD_END) != size - 4:
            return None
        after = list(islice(events, at + 1, at + 3))
        if length:
            if len(after) != 2 or after[0] != data[size : size + length] or after[1] is not END:
                return None
        elif not after or after[0] is not END:
            return None
        wire = data[:size]
        fields = head.headers
        line_at = wire.rfind(b"\r\n", 0, size - 4) + 2
        line = wire[line_at : size - 4]
        name = line[: len(_LENGTH_NAME)]
        if (
            name.lower() == _LENGTH_NAME
            and line[len(_LENGTH_NAME) :] == b"%d" % length
            and fields[-1] == ("content-length", str(length))
        ):
            return cls(head, wire[:line_at], name, length, fields[:-1])
        return cls(head, wire, None, length, fields)

    def take(self, data: bytes, events: deque[Event]) -> int:
        """Queue the messages at the start of ``data`` that match, whole; the bytes they used."""
        prefix = self._prefix
        name = self._length_name
        size = len(prefix)
        end = len(data)
        used = 0
        while data.startswith(prefix, used):  # ends: each turn uses a whole message, or stops
            body_at = used + size
            if name is None:
                length = self._length
                fields = self._fields.copy()
            else:
                if not data.startswith(name, body_at):
                    break
                digits_at = body_at + len(name)
                head_end = data.find(_HEAD_END, digits_at, digits_at + _MAX_DIGITS + 4)
                digits = data[digits_at:head_end]
                if head_end < 0 or not digits.isdigit():  # bytes: ASCII digits only
                    break
                length = int(digits)
                body_at = head_end + 4
                fields = [*self._fields, ("content-length", str(length))]
            body_end = body_at + length
            if body_end > end:
                break  # the body is not all here: llhttp reads it as it comes
            events.append(self._copy(fields, length))
            if length:
                events.append(data[body_at:body_end])
            events.append(END)
            used = body_end
        return used

    def _copy(self, fields: list[tuple[str, str]], length: int) -> RequestHead | ResponseHead:
        head = self._head
        if type(head) is RequestHead:
            return RequestHead(
                head.method, head.target, "1.1", fields, (length, False), True, False
            )
        assert type(head) is ResponseHead
        return ResponseHead(head.status, "1.1", fields, True, False)
