"""Keepalive PINGs on a client HTTP/2 connection: finding a frozen or black-holed server.

A connection whose server stops answering (it froze, or the network dropped
it without a FIN or RST) looks exactly like one with slow calls: nothing
arrives. Without pings, a call with no deadline would wait for it forever.
As Go's ``x/net/http2`` (``ReadIdleTimeout``, ``PingTimeout``) does, one timer
task per connection sends a PING once no frame has arrived for the interval,
and retires the connection if its ACK does not come back in time. The
connection stamps the time a frame last arrived whole (its state machine
counts them anyway), so the calls pay nothing for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import trio

from ._client_errors import keepalive_timed_out

if TYPE_CHECKING:
    from ._http2_client_connection import ClientConnection


@final
class ClientCounters:
    """Counts that every connection of one transport adds to (for its statistics)."""

    __slots__ = ("keepalive_timeouts", "pings_sent")

    def __init__(self) -> None:
        self.pings_sent = 0
        self.keepalive_timeouts = 0


@final
class Keepalive:
    """The keepalive timer of one connection: run it in the connection's nursery."""

    __slots__ = ("_ack", "_counters", "_interval", "_payload", "_sent", "_timeout")

    def __init__(self, interval: float, timeout: float, counters: ClientCounters) -> None:
        self._interval = interval
        self._timeout = timeout
        self._counters = counters
        self._sent = 0
        self._payload = b""
        self._ack: trio.Event | None = None

    def on_ack(self, data: bytes) -> None:
        """A PING ACK arrived (the reader calls this); ours ends the wait for it."""
        ack = self._ack
        if ack is not None and data == self._payload:
            self._ack = None
            ack.set()

    async def run(self, conn: ClientConnection) -> None:
        """Ping ``conn`` whenever it has been idle for the interval; fail it on a missed ACK."""
        interval = self._interval
        while True:
            due = conn.last_frame + interval
            if trio.current_time() < due:
                await trio.sleep_until(due)
                continue  # a frame since may have moved the idle clock on
            self._sent += 1
            self._payload = self._sent.to_bytes(8, "big")
            ack = self._ack = trio.Event()
            if not conn.send_ping(self._payload):
                return  # the connection is closing: nothing to watch any more
            self._counters.pings_sent += 1
            with trio.move_on_after(self._timeout):
                await ack.wait()
            if not ack.is_set():
                self._ack = None
                self._counters.keepalive_timeouts += 1
                conn.fail(keepalive_timed_out(conn.address, self._timeout))
                return
