"""Our connection and an ``h2`` connection wired together in memory (the interop tests' peer)."""

from __future__ import annotations

import random
from typing import TypeVar

import h2.connection
import h2.events
import h2.exceptions

from trioplugin.transport._http2 import (
    Connection,
    DataReceived,
    HeadersReceived,
)

from ._helpers import (
    End,
    Headers,
    events_of,
    h2_peer,
    ours,
    shuttle,
    theirs,
)

T = TypeVar("T")


class Pair:
    """Our connection and an ``h2`` one, wired together; both read every byte they receive."""

    def __init__(self, *, we_are_client: bool, chunk: int | None = None, **options: int) -> None:
        self.chunk = chunk
        self.us = Connection(client=we_are_client, **options)
        self.peer = h2_peer(client_side=not we_are_client)
        self.our_end: End = ours(self.us)
        self.their_end: End = theirs(self.peer)
        self.our_events: list[object] = []
        self.their_events: list[object] = []
        self.our_bodies: dict[int, bytes] = {}
        self.their_bodies: dict[int, bytes] = {}
        self.auto_ack = True
        self.pump()

    def pump(self) -> None:
        """Shuttle until quiet, giving back the window of every DATA byte either side read."""
        while True:
            shuttle(self.our_end, self.their_end, chunk=self.chunk)
            acked = False
            for event in self.our_end.pop_events():
                self.our_events.append(event)
                if isinstance(event, DataReceived):
                    sid = event.stream_id
                    self.our_bodies[sid] = self.our_bodies.get(sid, b"") + event.data
                    if self.auto_ack:
                        self.us.acknowledge(sid, event.flow_length)
                        acked = True
            for event in self.their_end.pop_events():
                self.their_events.append(event)
                if isinstance(event, h2.events.DataReceived):
                    sid = event.stream_id
                    self.their_bodies[sid] = self.their_bodies.get(sid, b"") + event.data
                    if self.auto_ack:
                        self.peer.acknowledge_received_data(event.flow_controlled_length, sid)
                        acked = True
            if not acked:
                return

    def send_ours(self, stream_id: int, body: bytes, *, end_stream: bool = True) -> int:
        """Send ``body`` from our side as the windows allow; the number of DATA frames used."""
        view, frames = memoryview(body), 0
        while view:
            size = min(self.us.send_window(stream_id), self.us.max_outbound_frame_size, len(view))
            if size <= 0:
                self.pump()
                size = min(self.us.send_window(stream_id), len(view))
                assert size > 0, "flow control stalled: no WINDOW_UPDATE came"
                continue
            self.us.send_data(stream_id, view[:size], end_stream=end_stream and size == len(view))
            view, frames = view[size:], frames + 1
        if not body and end_stream:
            self.us.end_stream(stream_id)
        self.pump()
        return frames

    def send_theirs(self, stream_id: int, body: bytes, *, end_stream: bool = True) -> None:
        """Send ``body`` from the ``h2`` side as the windows allow."""
        peer = self.peer
        while body:
            size = min(peer.local_flow_control_window(stream_id), peer.max_outbound_frame_size)
            if size <= 0:
                self.pump()
                assert peer.local_flow_control_window(stream_id) > 0, "flow control stalled"
                continue
            piece, body = body[:size], body[size:]
            peer.send_data(stream_id, piece, end_stream=end_stream and not body)
        self.pump()

    def ours_of(self, kind: type[T]) -> list[T]:
        return events_of(self.our_events, kind)

    def theirs_of(self, kind: type[T]) -> list[T]:
        return events_of(self.their_events, kind)


def as_pairs(headers: object) -> Headers:
    """``h2``'s header tuples as plain (bytes, bytes) pairs."""
    assert isinstance(headers, list)
    return [(bytes(name), bytes(value)) for name, value in headers]


def field_pairs(event: HeadersReceived) -> Headers:
    """Our event's fields as bytes again, pseudo-header fields first."""
    pseudo = list(event.pseudo.items())
    return pseudo + [(n.encode("latin-1"), v.encode("latin-1")) for n, v in event.fields]


def body_of(size: int, seed: int = 0) -> bytes:
    """``size`` bytes that are not one repeated pattern (a lost or moved frame shows)."""
    return random.Random(seed).randbytes(size)


def big_value(size: int, seed: int = 0) -> bytes:
    """A header value of ``size`` random visible characters (Huffman cannot shrink it much)."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return bytes(random.Random(seed).choices(alphabet, k=size))
