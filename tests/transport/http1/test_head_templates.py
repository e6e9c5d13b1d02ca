"""A reader that remembers heads reads exactly what llhttp alone reads.

A :class:`MessageReader` takes a head that repeats the last one byte for byte
(``Content-Length`` aside, when it comes last) without llhttp. Here streams
of messages in a few repeating shapes — field names in any case, optional
whitespace where HTTP allows it, the length last, elsewhere or absent,
chunked bodies, ``Connection: close``, ``Expect`` — split at message
boundaries or anywhere, whole or damaged, are read by a reader that
remembers heads and by one that does not: the events, and any error, must
be the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from trioplugin.transport._http1 import (
    CLOSED,
    END,
    NEED_DATA,
    H1ProtocolError,
    MessageReader,
    RequestHead,
    ResponseHead,
)
from trioplugin.transport._http1._events import Event

_SETTINGS = settings(max_examples=300, deadline=None)
_MAX_HEAD: Final = 4096
_OWS = st.sampled_from([b" "] * 8 + [b"", b"  ", b"\t", b" \t"])
"""Whitespace before a value: mostly the one space every client writes."""
_TRAILING_OWS = st.sampled_from([b""] * 8 + [b" ", b"\t"])
_NAMES = st.sampled_from([b"Content-Type", b"x-id", b"Accept-Encoding", b"Connect-Timeout-Ms"])
_VALUES = st.sampled_from([b"application/proto", b"1", b"gzip, br", b"", b"a b"])
_LENGTH_NAMES = st.sampled_from([b"Content-Length", b"content-length", b"CONTENT-LENGTH"])


@dataclass(frozen=True)
class _Shape:
    """A head with a hole for its length (or none), and how its body is framed."""

    start: bytes
    before: bytes  # the fields before the length field
    length_name: bytes | None  # None: no Content-Length (chunked, or no body)
    length_sep: bytes
    after: bytes  # the fields after it
    chunked: bool

    def message(self, body: bytes) -> bytes:
        length = b""
        if self.length_name is not None:
            length = self.length_name + b":" + self.length_sep + b"%d\r\n" % len(body)
        if self.chunked:
            framed = (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
            return (
                self.start + self.before + b"transfer-encoding: chunked\r\n" + self.after + framed
            )
        if self.length_name is None:
            body = b""
        return self.start + self.before + length + self.after + b"\r\n" + body


@st.composite
def _fields(draw: st.DrawFn) -> bytes:
    lines = []
    for name, value in draw(st.lists(st.tuples(_NAMES, _VALUES), max_size=3)):
        lines.append(name + b":" + draw(_OWS) + value + draw(_TRAILING_OWS) + b"\r\n")
    extras = [b""] * 4 + [b"Connection: close\r\n", b"Expect: 100-continue\r\n"]
    extra = draw(st.sampled_from(extras))
    return b"".join(lines) + extra


@st.composite
def _shapes(draw: st.DrawFn, client: bool) -> _Shape:
    if client:
        start = draw(st.sampled_from([b"", b"HTTP/1.1 100 Continue\r\n\r\n"]))
        statuses = [b"1.1 200 OK", b"1.1 200 OK", b"1.1 404 ", b"1.1 204 No Content", b"1.0 200 OK"]
        start += b"HTTP/" + draw(st.sampled_from(statuses)) + b"\r\n"
    else:
        method = draw(st.sampled_from([b"POST", b"PUT"]))
        version = draw(st.sampled_from([b"1.1"] * 4 + [b"1.0"]))
        host = b"Host:" + draw(_OWS) + b"example.com\r\n"
        start = method + b" /svc/" + draw(st.sampled_from([b"A", b"B"])) + b" HTTP/" + version
        start += b"\r\n" + host
    framing = draw(st.sampled_from(["length", "length", "chunked", "none"]))
    return _Shape(
        start,
        draw(_fields()),
        draw(_LENGTH_NAMES) if framing == "length" else None,
        draw(_OWS),
        draw(st.sampled_from([b"", b"x-after: 1\r\n"])),
        framing == "chunked",
    )


@st.composite
def _streams(draw: st.DrawFn, client: bool) -> list[bytes]:
    """Messages of a few shapes, each shape coming again and again with other bodies."""
    shapes = draw(st.lists(_shapes(client), min_size=1, max_size=3))
    order = draw(st.lists(st.integers(0, len(shapes) - 1), min_size=1, max_size=10))
    bodies = st.binary(max_size=40) | st.sampled_from([b"\r\n\r\n", b"POST /svc/A HTTP/1.1"])
    return [shapes[index].message(draw(bodies)) for index in order]


@st.composite
def _reads(draw: st.DrawFn, messages: list[bytes]) -> list[bytes]:
    """The stream as the reads that bring it: whole messages (one or more), or cut anywhere."""
    wire = b"".join(messages)
    if draw(st.booleans()):
        reads, pending = [], b""
        for message in messages:
            pending += message
            if draw(st.integers(0, 2)):
                reads.append(pending)
                pending = b""
        return [*reads, pending] if pending else reads
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(wire) - 1)), max_size=8)))
    return [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True) if wire[a:b]]


def _damaged(messages: list[bytes], seed: int) -> list[bytes]:
    """The messages with one byte changed, inserted or removed somewhere."""
    rng = random.Random(seed)
    index = rng.randrange(len(messages))
    message = bytearray(messages[index])
    at = rng.randrange(len(message))
    byte = rng.choice(b"\r\n\t :0aZ")
    if rng.random() < 0.5:
        message[at] = byte
    else:
        message.insert(at, byte)
    return [*messages[:index], bytes(message), *messages[index + 1 :]]


def _normal(event: Event) -> object:
    if isinstance(event, RequestHead):
        return (
            event.method,
            event.target,
            event.version,
            event.headers,
            event.content_length,
            event.chunked,
            event.keep_alive,
            event.expects_continue,
        )
    if isinstance(event, ResponseHead):
        return (event.status, event.version, event.headers, event.keep_alive, event.until_close)
    return event


def _read(reader: MessageReader, reads: list[bytes]) -> list[object]:
    """Every event (heads as tuples), then the error if one came, reading to the end."""
    out: list[object] = []
    for data in [*reads, b""]:
        reader.feed(data)
        while True:
            try:
                event = reader.next_event()
            except H1ProtocolError as exc:
                return [*out, ("error", exc.status, str(exc))]
            if event is NEED_DATA:
                break
            out.append(_normal(event))
            if event is CLOSED:
                return out
            if event is END:
                reader.start_next()
    return out


def _both(client: bool, reads: list[bytes]) -> tuple[list[object], list[object]]:
    remembering = MessageReader(client=client, max_head_size=_MAX_HEAD)
    parsing = MessageReader(client=client, max_head_size=_MAX_HEAD, remember_heads=False)
    return _read(remembering, reads), _read(parsing, reads)


@_SETTINGS
@given(data=st.data(), client=st.booleans())
def test_remembered_heads_read_as_llhttp_reads_them(data: st.DataObject, client: bool) -> None:
    messages = data.draw(_streams(client))
    remembered, parsed = _both(client, data.draw(_reads(messages)))
    assert remembered == parsed
    assert remembered[-1] == CLOSED or remembered[-1][0] == "error"  # type: ignore[index]


@_SETTINGS
@given(data=st.data(), client=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_damaged_heads_fail_as_llhttp_fails_them(
    data: st.DataObject, client: bool, seed: int
) -> None:
    messages = _damaged(data.draw(_streams(client)), seed)
    remembered, parsed = _both(client, data.draw(_reads(messages)))
    assert remembered == parsed


def test_a_repeated_head_with_another_length_reads_as_itself() -> None:
    def request(body: bytes) -> bytes:
        return b"POST /svc/A HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%b" % (
            len(body),
            body,
        )

    bodies = [b"one", b"three", b"", b"a longer body \r\n\r\n"]
    events, parsed = _both(False, [request(body) for body in bodies])
    assert events == parsed
    heads = [event for event in events if isinstance(event, tuple)]
    assert [(head[3][-1], head[4]) for head in heads] == [
        (("content-length", str(len(body))), len(body)) for body in bodies
    ]
    assert [event for event in events if isinstance(event, bytes)] == [b for b in bodies if b]
    assert events[-1] is CLOSED and events.count(END) == len(bodies)


def test_no_head_is_taken_after_a_message_that_ends_the_connection() -> None:
    # llhttp refuses bytes after a request that does not keep the connection
    # (HTTP/1.0 here): a head the reader remembers must not slip past that.
    plain = b"POST /svc/A HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
    closing = plain.replace(b"HTTP/1.1", b"HTTP/1.0")
    for reads in ([plain, closing + plain], [plain, closing, plain]):
        remembered, parsed = _both(False, reads)
        assert remembered == parsed
        assert remembered[-1] == (
            "error",
            400,
            "malformed HTTP/1.1: Data after `Connection: close`",
        )
