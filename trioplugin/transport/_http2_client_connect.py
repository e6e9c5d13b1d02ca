"""Opening one client HTTP/2 connection: TCP, TLS with ALPN ``h2``, the server's first SETTINGS.

An :class:`Attempt` is one try at it, shared by every exchange that needs a
connection while it runs and bounded by the connect timeout; the transport
cancels it once nobody waits for it any more. :class:`Connector` does the
work, and refuses a server that does not speak HTTP/2 from its first bytes.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from typing import Final, final

import trio

from ..protocol import Code, ConnectError
from . import _http2 as h2
from ._client_connect import TCP_CONNECT, open_client_stream
from ._client_errors import (
    connection_lost,
    frame_too_large,
    h2_code_name,
    not_h2,
    tls_failed,
)
from ._errors import UnprocessedError
from ._http2._frames import HEADER_SIZE, cannot_start_settings
from ._http2_client_connection import GOAWAY_GRACE, ClientConnection
from ._http2_client_keepalive import ClientCounters, Keepalive
from ._limits import ClientLimits
from ._types import Peer

_HANDSHAKE_RECEIVE_SIZE: Final = 65_536


@final
class Attempt:
    """A connection being opened, which every exchange that needs one waits for."""

    __slots__ = ("done", "error", "scope", "stage", "waiters")

    def __init__(self, timeout: float) -> None:
        self.done = trio.Event()
        self.error: ConnectError | None = None
        self.scope = trio.CancelScope(deadline=trio.current_time() + timeout)
        """Bounds the attempt by the connect timeout; cancelled when nobody waits any more."""
        self.waiters = 0
        """Exchanges waiting for it."""
        self.stage = TCP_CONNECT
        """What the attempt is waiting for, as a timeout's message says."""


@final
class Connector:
    """Opens connections to one server, as :class:`Attempt` after attempt asks."""

    __slots__ = (
        "_address",
        "_connection_window",
        "_counters",
        "_host",
        "_limits",
        "_on_retire",
        "_port",
        "_ssl_context",
        "_stream_window",
        "_unix_socket",
    )

    def __init__(
        self,
        host: str,
        port: int,
        address: str,
        *,
        ssl_context: ssl.SSLContext | None,
        limits: ClientLimits,
        stream_window: int,
        connection_window: int,
        counters: ClientCounters,
        on_retire: Callable[[ClientConnection], None],
        unix_socket: str | None = None,
    ) -> None:
        self._unix_socket = unix_socket
        self._host = host
        self._port = port
        self._address = address
        self._ssl_context = ssl_context
        self._limits = limits
        self._stream_window = stream_window
        self._connection_window = connection_window
        self._counters = counters
        self._on_retire = on_retire

    async def open(self, attempt: Attempt) -> ClientConnection:
        """A connection that has the server's SETTINGS; ``attempt.stage`` says how far it got.

        Raises:
            ConnectError: ``unavailable``, saying why (always an UnprocessedError).
        """
        address = self._address
        opened = await open_client_stream(
            self._host,
            self._port,
            address,
            ssl_context=self._ssl_context,
            progress=attempt,
            require_h2=True,
            unix_socket=self._unix_socket,
        )
        stream = opened.stream
        try:
            attempt.stage = "waiting for the server's HTTP/2 SETTINGS"
            h2conn = h2.Connection(
                client=True,
                max_concurrent_streams=100,
                stream_window=self._stream_window,
                connection_window=self._connection_window,
                max_header_list_size=65_536,
            )
            await stream.send_all(h2conn.data_to_send())
            await self._await_settings(stream, h2conn)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        limits = self._limits
        interval = limits.keepalive_interval
        keepalive = (
            None
            if interval is None
            else Keepalive(interval, limits.keepalive_timeout, self._counters)
        )
        return ClientConnection(
            stream,
            h2conn,
            address=address,
            peer=Peer(opened.peer_address, "2", tls=opened.tls),
            on_retire=self._on_retire,
            keepalive=keepalive,
        )

    async def _await_settings(self, stream: trio.abc.Stream, h2conn: h2.Connection) -> None:
        """Read until the server's SETTINGS: proof that it speaks HTTP/2, and its limits."""
        address = self._address
        tls = self._ssl_context is not None
        first_bytes = b""
        while True:
            try:
                data = await stream.receive_some(_HANDSHAKE_RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                if tls:
                    raise tls_failed(address, exc) from exc
                raise connection_lost(address, exc) from exc
            if not data:
                if tls and not first_bytes:
                    raise tls_failed(address, EOFError("closed"))
                if first_bytes:
                    reason = f"it does not speak HTTP/2: its first bytes were {first_bytes!r}"
                else:
                    reason = "it may not speak HTTP/2 with prior knowledge, or refused the client"
                raise UnprocessedError(
                    Code.UNAVAILABLE,
                    f"{address} closed the connection before its HTTP/2 SETTINGS ({reason})",
                )
            if len(first_bytes) < 24:
                seen = len(first_bytes)
                first_bytes += data[: 24 - seen]
                if seen < HEADER_SIZE and cannot_start_settings(
                    first_bytes[:HEADER_SIZE], h2.DEFAULT_MAX_FRAME_SIZE
                ):
                    raise not_h2(address, first_bytes)
            try:
                events = h2conn.receive(data)
            except h2.H2ConnectionError as exc:
                if exc.frame_length:
                    await _send_goaway(stream, h2conn)
                    limit = h2.DEFAULT_MAX_FRAME_SIZE
                    raise frame_too_large(address, exc.frame_length, limit, handshake=True) from exc
                raise not_h2(address, first_bytes) from exc
            for event in events:
                if isinstance(event, h2.GoAwayReceived):
                    code = h2_code_name(event.code)
                    raise UnprocessedError(
                        Code.UNAVAILABLE, f"{address} refused the HTTP/2 connection (GOAWAY {code})"
                    )
                if isinstance(event, h2.SettingsReceived):
                    return


async def _send_goaway(stream: trio.abc.Stream, h2conn: h2.Connection) -> None:
    """Send the GOAWAY the state machine queued, if the server takes it at once; never raises."""
    with (
        trio.move_on_after(GOAWAY_GRACE),
        contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError),
    ):
        await stream.send_all(h2conn.data_to_send())
