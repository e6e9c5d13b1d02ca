"""Shared helpers of the sans-IO HTTP/1.1 tests: readers, feeding bytes, taking events.

``take`` takes events up to the first END, NEED_DATA or CLOSED (after END
the reader refuses to go on until ``start_next``); ``take_request`` and
``take_response`` take one whole message, checking that only body bytes
come between its head and its END, and start the next one.
"""

from __future__ import annotations

from typing import Final

import pytest

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

MAX_HEAD: Final = 8192

SIMPLE_GET: Final = b"GET /ping HTTP/1.1\r\nHost: example.com\r\n\r\n"


def server(max_head_size: int = MAX_HEAD) -> MessageReader:
    """A server's reader: it reads requests."""
    return MessageReader(client=False, max_head_size=max_head_size)


def client(max_head_size: int = MAX_HEAD) -> MessageReader:
    """A client's reader: it reads responses."""
    return MessageReader(client=True, max_head_size=max_head_size)


def feed_bytewise(reader: MessageReader, data: bytes) -> None:
    """Feed ``data`` one byte at a time."""
    for index in range(len(data)):
        reader.feed(data[index : index + 1])


def take(reader: MessageReader) -> list[Event]:
    """The events up to and including the first END, NEED_DATA or CLOSED."""
    events: list[Event] = []
    while True:
        event = reader.next_event()
        events.append(event)
        if event is END or event is NEED_DATA or event is CLOSED:
            return events


def _take_body(reader: MessageReader) -> bytes:
    body = bytearray()
    while (event := reader.next_event()) is not END:
        assert isinstance(event, bytes), event
        body += event
    reader.start_next()
    return bytes(body)


def take_request(reader: MessageReader) -> tuple[RequestHead, bytes]:
    """One whole request (head, joined body); the reader is ready for the next."""
    head = reader.next_event()
    assert isinstance(head, RequestHead), head
    return head, _take_body(reader)


def take_response(reader: MessageReader) -> tuple[ResponseHead, bytes]:
    """One whole response (head, joined body); the reader is ready for the next."""
    head = reader.next_event()
    assert isinstance(head, ResponseHead), head
    return head, _take_body(reader)


def protocol_error(reader: MessageReader, status: int) -> H1ProtocolError:
    """The next event must be an H1ProtocolError with ``status``, again on the next calls."""
    with pytest.raises(H1ProtocolError) as info:
        reader.next_event()
    error = info.value
    assert error.status == status, str(error)
    for _ in range(2):
        with pytest.raises(H1ProtocolError) as again:
            reader.next_event()
        assert (again.value.status, str(again.value)) == (status, str(error))
    return error
