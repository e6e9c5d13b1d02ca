"""Received HTTP/1.1 messages as events: llhttp (httptools) parses, this keeps order and rules.

A :class:`MessageReader` is fed the bytes of one direction of a connection
and hands out, message after message: a head (:class:`RequestHead` or
:class:`ResponseHead`), the body as ``bytes`` chunks (chunked framing
removed), then :data:`END`. Between messages it gives :data:`CLOSED` once
the peer has closed the connection, and :data:`NEED_DATA` when it needs more
bytes. Pipelined messages queue up behind the current one; the consumer
calls :meth:`MessageReader.start_next` when it is done with a message.

llhttp checks the syntax and the framing (RFC 9112: tokens, field values,
Content-Length against Transfer-Encoding, chunk sizes, request smuggling
forms). On top of it this module bounds the head, asks for exactly one Host
in an HTTP/1.1 request, accepts only HTTP/1.0 and 1.1, skips 1xx responses
(refusing one with a body), ends close-delimited responses at EOF, and
declines upgrades (RFC 9110 §7.8: a server may ignore ``Upgrade``; the
request's body is still read).
A failure is raised as :class:`H1ProtocolError` once the events before it
have been taken. Only ``.._upstream._llhttp`` imports httptools: what this
module counts on llhttp for, or works around (``L1`` ... ``L11``), is listed there.
A head that repeats the last plain one byte for byte is taken without
llhttp (:mod:`._head_template`).
"""

from __future__ import annotations

from collections import deque
from typing import Final, final

from .._upstream._llhttp import (
    FIELD_OWS,
    CallbackRaised,
    Malformed,
    Parser,
    RequestParser,
    ResponseParser,
    body_parser,
    failed,
    misreads_chunked,
    new_parser,
)
from ._errors import H1ProtocolError
from ._events import CLOSED, END, NEED_DATA, NO_BODY_STATUSES, Event, RequestHead, ResponseHead
from ._head_template import HeadTemplate

_NAMES: Final[dict[bytes, str]] = {}
"""Field names seen, lower-cased (a bounded cache: the same few names come every message)."""
_NAMES_LIMIT: Final = 1024
_NOTED: Final = frozenset({"content-length", "transfer-encoding", "host", "expect"})
"""Fields that tell the reader how the message goes on."""
_REQUEST_LINE_EXTRA: Final = 14
"""A request line's bytes besides its method and target (two spaces, the version, CRLF) + CRLF."""
_STATUS_LINE_EXTRA: Final = 17
"""A status line's bytes besides its reason (version, code, two spaces, CRLF) + CRLF."""
_MAX_BACKOFF: Final = 64
"""The most heads parsed without learning, when every template so far went unused."""
_NEVER: Final = 1 << 62
_IDLE, _BODY, _DONE = range(3)
# Where the consumer is: before a head, inside a message, past its end.


def _name(raw: bytes) -> str:
    text = _NAMES.get(raw)
    if text is None:
        text = raw.decode("ascii").lower()  # llhttp let only token characters through (L7)
        if len(_NAMES) < _NAMES_LIMIT:
            _NAMES[raw] = text
    return text


class _Refused(Exception):
    """Raised from a parser callback to stop llhttp; the reader keeps the real error."""


@final
class MessageReader:
    """One direction of an HTTP/1.1 connection: requests (``client=False``) or responses."""

    __slots__ = (
        "_backoff",
        "_began",
        "_begun_at",
        "_candidate",
        "_candidate_at",
        "_candidate_length",
        "_candidate_size",
        "_chunked",
        "_client",
        "_eof",
        "_error",
        "_events",
        "_expects",
        "_fields",
        "_head_bytes",
        "_hosts",
        "_in_body",
        "_in_head",
        "_informational",
        "_length",
        "_max_head",
        "_parser",
        "_persistent",
        "_priming",
        "_progress",
        "_size",
        "_skip",
        "_state",
        "_template",
        "_template_used",
        "_until_close",
        "_url",
        "_used",
    )

    def __init__(self, *, client: bool, max_head_size: int, remember_heads: bool = True) -> None:
        """``remember_heads=False`` has llhttp parse every head (see :mod:`._head_template`)."""
        self._client = client
        """Whether this is the client's reader (it reads responses)."""
        self._max_head = max_head_size
        self._events: deque[Event] = deque()
        self._error: H1ProtocolError | None = None
        self._eof = False
        self._state = _IDLE
        self._in_head = False  # the parser is inside a head
        self._in_body = False  # ... or inside a body
        self._head_bytes = 0  # of an unfinished head (or chunk framing) the parser holds
        self._used = 0  # bytes of the read being parsed that events account for
        self._began = False  # a message began during that read
        self._begun_at = 0  # ... after this many of its bytes
        self._progress = False  # that read had body bytes in it
        self._size = 0  # of the head so far, as its parts came
        self._url: list[bytes] = []
        self._fields: list[tuple[str, str]] = []
        self._length: int | None = None  # the head's content-length
        self._chunked = False
        self._hosts = 0
        self._expects = False
        self._informational = False
        self._until_close = False
        self._priming = False
        self._parser: Parser = new_parser(self, client=client)
        self._template: HeadTemplate | None = None  # the last plain head, to take again unparsed
        self._template_used = False  # it has taken a message since it was learned
        self._persistent = True  # the last head llhttp read keeps the connection open
        self._candidate: RequestHead | ResponseHead | None = None  # a head to keep, this read
        self._candidate_at = 0  # its place in the events
        self._candidate_size = 0  # its bytes
        self._candidate_length: int | None = None  # its content-length
        # Heads to parse before learning again (when each head is new: a request id in it).
        self._skip = 0 if remember_heads else _NEVER
        self._backoff = 0

    # -- the consumer's side ---------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Take received bytes; ``b""`` means the peer closed its side."""
        if self._error is not None or self._eof:
            return
        if not data:
            self._eof = True
            if self._in_body and self._until_close:  # httptools has no end-of-input call (L9)
                self._in_body = False
                self._events.append(END)
            return
        template = self._template
        if template is not None and self._persistent and not self._in_head and not self._in_body:
            used = template.take(data, self._events)
            if used:
                self._template_used = True
                if used == len(data):
                    return
                data = data[used:]
        self._used = 0
        self._began = False
        self._progress = False
        self._parse(data)
        if self._error is not None:
            self._candidate = None
            return
        if self._candidate is not None:
            self._learn(data)
        if self._in_head:
            # What of this read is the unfinished head (the parser holds it):
            # all of it, or what the messages before it in the read did not use.
            if self._began:
                self._head_bytes = len(data) - self._begun_at
            else:
                self._head_bytes += len(data)
            if self._head_bytes > self._max_head:
                self._error = self._too_large()
        elif self._in_body and self._chunked:
            # Chunk size lines and trailer fields (the parser holds them too) are
            # bounded like a head: reads with no body byte in them add up.
            self._head_bytes = 0 if self._progress else self._head_bytes + len(data)
            if self._head_bytes > self._max_head:
                self._error = H1ProtocolError(
                    f"chunk framing or trailer fields larger than {self._max_head} bytes", 431
                )

    def _learn(self, data: bytes) -> None:
        """Keep the head llhttp just read as the template, unless learning has not paid off."""
        candidate = self._candidate
        assert candidate is not None
        self._candidate = None
        if self._skip:
            self._skip -= 1
            return
        length = self._candidate_length
        if length is None or not HeadTemplate.keeps(candidate, length):
            return
        learned = HeadTemplate.learn(
            data, candidate, self._candidate_size, length, self._events, self._candidate_at
        )
        if learned is None:
            return
        if self._template is not None and not self._template_used:
            # The last one never matched: the heads differ message by message.
            self._backoff = min(2 * self._backoff or 1, _MAX_BACKOFF)
            self._skip = self._backoff
        elif self._template_used:
            self._backoff = 0
        self._template = learned
        self._template_used = False

    def next_event(self) -> Event:
        """The next event, :data:`NEED_DATA` if there is none yet.

        Raises:
            H1ProtocolError: the peer broke HTTP/1.1 (again on every call after).
        """
        state = self._state
        if state == _DONE:
            raise RuntimeError("the message has ended: call start_next() first")
        events = self._events
        if events:
            event = events.popleft()
            if event is END:
                self._state = _DONE
            elif state == _IDLE:
                self._state = _BODY
            return event
        if self._error is not None:
            raise self._error
        if self._eof:
            if state == _IDLE and not self._in_head:
                return CLOSED
            raise H1ProtocolError("the connection closed in the middle of a message")
        return NEED_DATA

    def start_next(self) -> None:
        """The consumer is done with the message whose :data:`END` it took."""
        if self._state != _DONE:
            raise RuntimeError("the message has not ended")
        self._state = _IDLE

    @property
    def message_ended(self) -> bool:
        """Whether the consumer took the :data:`END` of the current message."""
        return self._state == _DONE

    @property
    def in_message(self) -> bool:
        """Whether the consumer took a head and not yet its message's :data:`END`."""
        return self._state == _BODY

    def buffered(self) -> bool:
        """Whether any part of a further message came (events queued, or a head begun)."""
        return bool(self._events) or self._in_head or self._error is not None

    # -- llhttp ------------------------------------------------------------------------------

    def _parse(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except Exception as exc:
            try:
                upgrade_at = failed(exc)
            except CallbackRaised:
                assert self._error is not None
            except Malformed as malformed:
                self._error = H1ProtocolError(str(malformed))
            else:
                self._decline_upgrade(data[upgrade_at:])

    def _decline_upgrade(self, rest: bytes) -> None:
        """The parser stopped at a head asking to switch protocols: go on as if it had not asked."""
        self._candidate = None
        self._template = None
        if self._client:
            self._error = H1ProtocolError("the server switched protocols, which was not asked for")
            return
        length, chunked = self._length, self._chunked
        if chunked or length:
            # llhttp ended the message at its head; its body still comes (L2).
            assert self._events[-1] is END
            self._events.pop()
            self._priming = True
            framing = (
                b"transfer-encoding: chunked" if chunked else b"content-length: %d" % (length or 0)
            )
            self._parser = body_parser(self, framing)
        else:
            self._parser = new_parser(self, client=False)
        if rest:
            self._parse(rest)

    def _refuse(self, error: H1ProtocolError) -> None:
        self._error = error
        raise _Refused

    def _too_large(self) -> H1ProtocolError:
        what = "response" if self._client else "request"
        return H1ProtocolError(f"{what} head larger than {self._max_head} bytes", 431)

    def on_message_begin(self) -> None:
        """Parser callback: a message starts."""
        self._in_head = True
        self._began = True
        self._begun_at = self._used
        self._size = 0
        self._url = []
        self._fields = []
        self._length = None
        self._chunked = False
        self._hosts = 0
        self._expects = False

    def on_url(self, url: bytes) -> None:
        """Parser callback: (part of) the request target."""
        self._url.append(url)
        self._size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Parser callback: one header field (or trailer field, which is dropped)."""
        self._size += len(name) + len(value) + 4
        if self._size > self._max_head:
            self._refuse(self._too_large())
        if not self._in_head:
            return  # a trailer field (L8)
        text = _NAMES.get(name) or _name(name)
        decoded = value.rstrip(FIELD_OWS).decode("latin-1")  # llhttp leaves trailing OWS (L4)
        self._fields.append((text, decoded))
        if text in _NOTED:
            self._note(text, decoded, value)

    def _note(self, name: str, value: str, raw: bytes) -> None:
        if name == "content-length":
            self._length = int(value)  # llhttp checked it: digits, once (L7)
        elif name == "transfer-encoding":
            self._chunked = value.rpartition(",")[2].strip().lower() == "chunked"
            if self._chunked and misreads_chunked(raw):  # L5
                self._refuse(H1ProtocolError("a tab after chunked, which llhttp misreads"))
        elif name == "host":
            self._hosts += 1
        elif value.lower() == "100-continue":  # expect
            self._expects = True

    def on_headers_complete(self) -> None:
        """Parser callback: the head has ended."""
        self._in_head = False
        self._in_body = True
        self._head_bytes = 0
        if self._priming:
            self._priming = False
            return
        parser = self._parser
        # The start line's fixed parts and the blank line; the fields' ": " and
        # CRLF were counted as they came (llhttp has no head size limit: L9).
        if isinstance(parser, ResponseParser):
            self._size += _STATUS_LINE_EXTRA
        else:
            self._size += _REQUEST_LINE_EXTRA + len(parser.get_method())
        self._used += self._size
        if self._size > self._max_head:
            self._refuse(self._too_large())
        version = parser.get_http_version()  # "1.1"; llhttp refused 1.2 and the like (L1)
        if version != "1.1" and version != "1.0":
            self._refuse(H1ProtocolError(f"HTTP/{version} is not supported", 505))
        headers = self._fields
        length = self._length
        chunked = self._chunked
        if isinstance(parser, ResponseParser):
            status = parser.get_status_code()
            if 100 <= status < 200:
                # 1xx: no event; the final response follows (L10). Below 100 is a
                # final response, as llhttp reads it (RFC 9110 §15: read as a 5xx).
                self._informational = True
                return
            self._until_close = length is None and not chunked and status not in NO_BODY_STATUSES
            # Asked here: llhttp forgets it once the message ends (L6).
            keep = parser.should_keep_alive() and not self._until_close
            self._head(ResponseHead(status, version, headers, keep, self._until_close))
            return
        assert isinstance(parser, RequestParser)
        hosts = self._hosts
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            self._refuse(H1ProtocolError("an HTTP/1.1 request needs exactly one Host header"))
        self._head(
            RequestHead(
                parser.get_method().decode("ascii"),
                b"".join(self._url).decode("latin-1"),
                version,
                headers,
                (length, chunked),
                parser.should_keep_alive(),  # here, not later (L6)
                self._expects,
            )
        )

    def _head(self, head: RequestHead | ResponseHead) -> None:
        events = self._events
        # After a message that ends the connection, llhttp refuses any more bytes: so must we.
        self._persistent = head.keep_alive
        if self._began and self._begun_at == 0:  # it came at the start of this read: keep it?
            self._candidate = head
            self._candidate_at = len(events)
            self._candidate_size = self._size
            self._candidate_length = self._length
        events.append(head)

    def on_status(self, reason: bytes) -> None:
        """Parser callback: (part of) the reason phrase."""
        self._size += len(reason)

    def on_body(self, body: bytes) -> None:
        """Parser callback: a piece of the body (chunk framing removed)."""
        if self._informational:  # llhttp reads a body for some 1xx (L10)
            self._refuse(H1ProtocolError("a 1xx response with content (RFC 9112 §6.3)"))
        self._events.append(body)
        self._used += len(body)
        self._progress = True

    def on_message_complete(self) -> None:
        """Parser callback: the message has ended."""
        self._in_body = False
        if self._informational:
            self._informational = False
            return
        self._events.append(END)
