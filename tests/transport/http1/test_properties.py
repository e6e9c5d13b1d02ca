"""Properties of our HTTP/1.1 core, checked with hypothesis.

What the writer builds, the reader reads back, however the bytes are split:
any valid set of fields (token names, latin-1 values), any body, framed by
length or in chunks (or, for a response, by the close), and a second message
pipelined behind it. And whatever a peer sends, valid bytes damaged anywhere
and split anywhere, the reader answers with events in order or with an
H1ProtocolError, never another exception.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trioplugin.transport._http1 import (
    CLOSED,
    END,
    NEED_DATA,
    BodyFramer,
    H1ProtocolError,
    MessageReader,
    RequestHead,
    ResponseHead,
    request_head,
    response_head,
)
from trioplugin.transport._http1._events import Event

_SETTINGS = settings(max_examples=200, deadline=None)
_MAX_HEAD: Final = 1 << 20
_FRAMING_NAMES: Final = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "proxy-connection", "upgrade"}
)
"""Names that change how a message is read: the messages below set them themselves."""

_NAMES = st.from_regex(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,24}", fullmatch=True).filter(
    lambda name: name.lower() not in _FRAMING_NAMES
)
_VALUE_CHARS: Final = (
    "\t" + "".join(map(chr, range(0x20, 0x7F))) + "".join(map(chr, range(0x80, 0x100)))
)
_VALUES = st.text(alphabet=_VALUE_CHARS, max_size=40).map(lambda value: value.strip(" \t"))
_FIELDS = st.lists(st.tuples(_NAMES, _VALUES), max_size=12)
_BODIES = st.binary(max_size=4096)
_METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
_TARGETS = st.from_regex(r"/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]{0,30}", fullmatch=True)
_STATUSES = st.sampled_from([200, 201, 202, 400, 401, 404, 408, 429, 500, 503, 599])

_FOLLOWING_REQUEST: Final = b"GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n"
_FOLLOWING_RESPONSE: Final = b"HTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\nnext"


@dataclass(frozen=True)
class Sent:
    """A message as the writer built it, and what the reader must give back."""

    wire: bytes
    headers: list[tuple[str, str]]
    body: bytes
    framing: str


def _split(draw: st.DrawFn, body: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=6)))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


def _framed(draw: st.DrawFn, body: bytes, framing: str) -> tuple[list[tuple[str, str]], bytes]:
    """The framing field and the body as it goes on the wire, in pieces as an app writes it."""
    if framing == "chunked":
        field = [("Transfer-Encoding", "chunked")]
        framer = BodyFramer(None, chunked=True)
    elif framing == "length":
        field = [("Content-Length", str(len(body)))]
        framer = BodyFramer(len(body), chunked=False)
    else:
        field = []
        framer = BodyFramer(None, chunked=False)
        assert framer.until_close
    wire = b"".join(framer.data(piece) for piece in _split(draw, body)) + framer.end()
    return field, wire


@st.composite
def requests(draw: st.DrawFn) -> tuple[Sent, str, str]:
    """A request built by request_head and BodyFramer, its method and target."""
    method, target, body = draw(_METHODS), draw(_TARGETS), draw(_BODIES)
    framing = draw(st.sampled_from(["length", "chunked"]))
    fields = [("Host", "example.com"), *draw(_FIELDS)]
    framing_field, wire = _framed(draw, body, framing)
    fields += framing_field
    head = request_head(method, target, fields)
    headers = [(name.lower(), value) for name, value in fields]
    return Sent(head + wire, headers, body, framing), method, target


@st.composite
def responses(draw: st.DrawFn) -> tuple[Sent, int]:
    """A response built by response_head and BodyFramer, and its status."""
    status, body = draw(_STATUSES), draw(_BODIES)
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    fields = draw(_FIELDS)
    framing_field, wire = _framed(draw, body, framing)
    fields += framing_field
    head = response_head(status, fields)
    headers = [(name.lower(), value) for name, value in fields]
    return Sent(head + wire, headers, body, framing), status


@st.composite
def _pieces_of(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` split at arbitrary points (now and then one byte at a time), no piece empty."""
    if draw(st.integers(0, 9)) == 0:
        return [data[i : i + 1] for i in range(len(data))]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return [piece for piece in pieces if piece]  # b"" would be the end of the connection


def _drain(reader: MessageReader, out: list[Event]) -> None:
    """Take every event available, starting the next message after each END."""
    while True:
        event = reader.next_event()
        if event is NEED_DATA:
            return
        out.append(event)
        if event is CLOSED:
            return
        if event is END:
            reader.start_next()


def _read_all(reader: MessageReader, pieces: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for piece in pieces:
        reader.feed(piece)
        _drain(reader, events)
    reader.feed(b"")
    _drain(reader, events)
    return events


def _message(events: list[Event]) -> tuple[Event, bytes, list[Event]]:
    """The first message of ``events``: its head, its joined body, and the events after it."""
    head, rest = events[0], events[1:]
    body = bytearray()
    while rest and isinstance(piece := rest[0], bytes):
        body += piece
        del rest[0]
    assert rest[:1] == [END], events
    return head, bytes(body), rest[1:]


@_SETTINGS
@given(sent=requests(), data=st.data())
def test_request_round_trip(sent: tuple[Sent, str, str], data: st.DataObject) -> None:
    message, method, target = sent
    pieces = data.draw(_pieces_of(message.wire))
    events = _read_all(MessageReader(client=False, max_head_size=_MAX_HEAD), pieces)
    head, body, rest = _message(events)
    assert isinstance(head, RequestHead)
    assert (head.method, head.target, head.version) == (method, target, "1.1")
    assert head.headers == message.headers
    assert head.chunked is (message.framing == "chunked")
    expected_length = len(message.body) if message.framing == "length" else None
    assert head.content_length == expected_length
    assert head.keep_alive
    assert body == message.body
    assert rest == [CLOSED]


@_SETTINGS
@given(sent=requests(), data=st.data())
def test_pipelined_request_after_the_round_trip(
    sent: tuple[Sent, str, str], data: st.DataObject
) -> None:
    message, _, _ = sent
    pieces = data.draw(_pieces_of(message.wire + _FOLLOWING_REQUEST))
    events = _read_all(MessageReader(client=False, max_head_size=_MAX_HEAD), pieces)
    head, body, rest = _message(events)
    assert isinstance(head, RequestHead)
    assert (head.headers, body) == (message.headers, message.body)
    following, following_body, rest = _message(rest)
    assert isinstance(following, RequestHead)
    assert (following.target, following_body) == ("/next", b"")
    assert rest == [CLOSED]


@_SETTINGS
@given(sent=responses(), data=st.data())
def test_response_round_trip(sent: tuple[Sent, int], data: st.DataObject) -> None:
    message, status = sent
    until_close = message.framing == "close"
    wire = message.wire if until_close else message.wire + _FOLLOWING_RESPONSE
    events = _read_all(
        MessageReader(client=True, max_head_size=_MAX_HEAD), data.draw(_pieces_of(wire))
    )
    head, body, rest = _message(events)
    assert isinstance(head, ResponseHead)
    assert (head.status, head.version) == (status, "1.1")
    assert head.headers == message.headers
    assert head.until_close is until_close
    assert head.keep_alive is not until_close
    assert body == message.body
    if not until_close:
        following, following_body, rest = _message(rest)
        assert isinstance(following, ResponseHead)
        assert (following.status, following_body) == (202, b"next")
    assert rest == [CLOSED]


# Damaged input: events in order, or H1ProtocolError.

_SEEDS = st.integers(0, 2**32 - 1)


def _damage(rng: random.Random, data: bytes, count: int) -> bytes:
    """``data`` with ``count`` bytes replaced, inserted or deleted at random places."""
    damaged = bytearray(data)
    for _ in range(count):
        at = rng.randrange(len(damaged) + 1)
        kind = rng.randrange(3)
        byte = rng.choice(b"\r\n\t :\x00\x7f\xff0aZ;,-/")
        if kind == 0 and at < len(damaged):
            damaged[at] = byte
        elif kind == 1:
            damaged.insert(at, byte)
        elif at < len(damaged):
            del damaged[at]
    return bytes(damaged)


def _check_order(reader: MessageReader, pieces: list[bytes]) -> None:
    """Feed ``pieces``: events must come as head, bytes..., END, until CLOSED or an error."""
    in_message = False
    error: H1ProtocolError | None = None
    for piece in [*pieces, b""]:
        reader.feed(piece)
        while True:
            try:
                event = reader.next_event()
            except H1ProtocolError as exc:
                if error is not None:
                    assert (exc.status, str(exc)) == (error.status, str(error))
                error = exc
                assert exc.status in (400, 431, 505)
                break
            assert error is None, "an event after an error"
            if event is NEED_DATA or event is CLOSED:
                assert not (event is CLOSED and in_message)
                break
            if isinstance(event, RequestHead | ResponseHead):
                assert not in_message, event
                in_message = True
            elif event is END:
                assert in_message
                in_message = False
                reader.start_next()
            else:
                assert isinstance(event, bytes), event
                assert in_message


@_SETTINGS
@given(sent=requests(), seed=_SEEDS, count=st.integers(1, 4), data=st.data())
def test_damaged_requests_raise_only_protocol_errors(
    sent: tuple[Sent, str, str], seed: int, count: int, data: st.DataObject
) -> None:
    wire = _damage(random.Random(seed), sent[0].wire + _FOLLOWING_REQUEST, count)
    max_head = data.draw(st.sampled_from([64, 256, _MAX_HEAD]))
    _check_order(MessageReader(client=False, max_head_size=max_head), data.draw(_pieces_of(wire)))


@_SETTINGS
@given(sent=responses(), seed=_SEEDS, count=st.integers(1, 4), data=st.data())
def test_damaged_responses_raise_only_protocol_errors(
    sent: tuple[Sent, int], seed: int, count: int, data: st.DataObject
) -> None:
    wire = _damage(random.Random(seed), sent[0].wire + _FOLLOWING_RESPONSE, count)
    max_head = data.draw(st.sampled_from([64, 256, _MAX_HEAD]))
    _check_order(MessageReader(client=True, max_head_size=max_head), data.draw(_pieces_of(wire)))


# What hypothesis found: a response of test_damaged_responses_raise_only_protocol_errors
# (status 599, an empty reason, fields ``00`` and ``000``, a 1-byte body) with one byte
# damaged (seed 1570), its status or the following one's turned into 0xx. llhttp reads
# a status below 100 as a final response, body and all; the reader took it for a 1xx
# and skipped its head, so the body came outside any message.
_FOUND_BY_HYPOTHESIS: Final = [
    b"HTTP/1.1 099 \r\n00: 00\r\n000: 00000\r\nContent-Length: 1\r\n\r\n\x00" + _FOLLOWING_RESPONSE,
    b"HTTP/1.1 599 \r\n00: 00\r\n000: 00000\r\nContent-Length: 1\r\n\r\n\x00"
    + _FOLLOWING_RESPONSE.replace(b" 202 ", b" 002 "),
]


@pytest.mark.parametrize("wire", _FOUND_BY_HYPOTHESIS, ids=["first-status", "following-status"])
@pytest.mark.parametrize("max_head", [64, 256, _MAX_HEAD])
def test_damaged_statuses_found_by_hypothesis_split_anywhere(wire: bytes, max_head: int) -> None:
    splits = [[wire], [wire[i : i + 1] for i in range(len(wire))]]
    splits += [[wire[:at], wire[at:]] for at in range(1, len(wire))]
    for pieces in splits:
        _check_order(MessageReader(client=True, max_head_size=max_head), pieces)


@_SETTINGS
@given(data=st.binary(max_size=300), client=st.booleans())
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes, client: bool) -> None:
    _check_order(MessageReader(client=client, max_head_size=256), [data[:150], data[150:]])
