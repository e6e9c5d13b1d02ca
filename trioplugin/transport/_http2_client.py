"""A client transport over one multiplexed HTTP/2 connection of our own, on trio and h2.

This is the fast path to a plugin and the only client transport that can do
full-duplex streaming (httpx cannot). One transport talks to one origin over
one connection at a time, opened on the first exchange and opened again after
it dies or after the server's GOAWAY.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final, final
from urllib.parse import urlsplit

import trio

from .._util import NoPublicConstructor, open_transparent_nursery
from ..protocol import ConnectError
from ._client_errors import (
    connect_failed,
    connect_timed_out,
    copy_error,
    transport_closed,
    transport_closing,
)
from ._http2_client_connect import Attempt, Connector
from ._http2_client_connection import ClientConnection
from ._http2_client_exchange import HTTP2ClientExchange
from ._http2_client_keepalive import ClientCounters
from ._http2_client_share import HTTP2TransportShare
from ._limits import ClientLimits

# Connection-specific headers HTTP/2 forbids (RFC 9113 8.2.2); "te" may only be "trailers".
_CONNECTION_HEADERS: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
    | {b"host", b"te"}
)
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_BAD_VALUE: Final = re.compile(r"[\x00\r\n]").search
_BAD_PATH: Final = re.compile(r"[\x00-\x20\x7f]").search
_NAMES: Final[dict[str, bytes]] = {}
"""Header names already checked, lower-cased and encoded."""


def _encode_name(name: str) -> bytes:
    if _TOKEN(name) is None:
        raise ValueError(f"invalid header name {name!r}")
    encoded = name.lower().encode("ascii")
    if len(_NAMES) < 1024:
        _NAMES[name] = encoded
    return encoded


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int
    authority: str
    """What goes in ``:authority``: the host, and the port unless it is the default."""
    address: str
    """``host:port``, as error messages name the server."""
    prefix: str
    """The base URL's path, without a trailing slash."""
    unix_socket: str | None = None
    """The unix socket to connect to instead of ``host:port``, if any."""

    @classmethod
    def parse(cls, base_url: str, unix_socket: str | None = None) -> _Origin:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"base_url must be http:// or https://, not {base_url!r}")
        if not parts.hostname:
            raise ValueError(f"base_url {base_url!r} has no host")
        if parts.query or parts.fragment:
            raise ValueError(f"base_url {base_url!r} must not have a query or a fragment")
        default_port = 443 if parts.scheme == "https" else 80
        port = parts.port or default_port
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        authority = host if port == default_port else f"{host}:{port}"
        address = f"{host}:{port}" if unix_socket is None else f"unix:{unix_socket}"
        return cls(
            parts.scheme,
            parts.hostname,
            port,
            authority,
            address,
            parts.path.rstrip("/"),
            unix_socket,
        )


def check_base_url(base_url: str) -> None:
    """Check that ``base_url`` is one our client transports can reach, as they would.

    Raises:
        ValueError: it is not ``http://`` or ``https://``, has no host, or
            has a query or a fragment (the message says which).
    """
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str, not {type(base_url).__name__}")
    _Origin.parse(base_url)


@dataclass(frozen=True, slots=True)
class HTTP2TransportStatistics:
    """A snapshot of an :class:`HTTP2Transport`, as :meth:`HTTP2Transport.statistics` returns it."""

    connections: int
    """Connections held, including ones that finish their streams after a GOAWAY."""
    open_streams: int
    """Exchanges in progress."""
    connections_opened: int
    """Connections opened since the transport was created (reconnects included)."""
    connecting: bool
    """Whether a connection attempt is under way (some exchange is waiting for it)."""
    pings_sent: int
    """Keepalive PINGs sent since the transport was created (see ClientLimits)."""
    keepalive_timeouts: int
    """Connections retired because the server did not acknowledge a keepalive PING in time."""


@final
class HTTP2Transport(metaclass=NoPublicConstructor):
    """A :class:`~trioplugin.transport.ClientTransport` over HTTP/2 (h2c or TLS), full duplex.

    Create it with :func:`open_http2_transport`. Exchanges share one connection
    (streams are multiplexed, up to the server's SETTINGS_MAX_CONCURRENT_STREAMS;
    beyond it they wait for a free stream). The response of an exchange can be
    read while its request is still being written, so bidi calls work.

    Exchanges that find no connection share one attempt to open it, bounded
    by :attr:`ClientLimits.connect_timeout`; it is cancelled once all of
    them have left, and after it fails the next exchange starts a new one.
    """

    full_duplex: Final = True
    """The response can be read while the request is still being written."""

    def __init__(
        self,
        nursery: trio.Nursery,
        origin: _Origin,
        *,
        ssl_context: ssl.SSLContext | None,
        limits: ClientLimits,
    ) -> None:
        self._nursery = nursery
        self._authority = origin.authority
        self._address = origin.address
        self._scheme = origin.scheme
        self._prefix = origin.prefix
        self._scheme_header = (b":scheme", self._scheme.encode("ascii"))
        self._authority_header = (b":authority", self._authority.encode("idna"))
        self._method_headers: dict[str, tuple[bytes, bytes]] = {}
        self._limits = limits
        self._close_timeout = limits.close_timeout
        self._counters = ClientCounters()
        self._connector = Connector(
            origin.host,
            origin.port,
            origin.address,
            ssl_context=ssl_context,
            limits=limits,
            stream_window=limits.stream_window,
            connection_window=limits.connection_window,
            counters=self._counters,
            on_retire=self._retire,
            unix_socket=origin.unix_socket,
        )
        self._conn: ClientConnection | None = None
        self._connections: set[ClientConnection] = set()
        self._attempt: Attempt | None = None
        self._connections_opened = 0
        self._closed = False

    @property
    def limits(self) -> ClientLimits:
        """The waits the transport bounds on its own: connecting, keepalive PINGs."""
        return self._limits

    @property
    def base_url(self) -> str:
        """The origin and path prefix every exchange's path is appended to."""
        return f"{self._scheme}://{self._authority}{self._prefix}"

    def exchange(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        *,
        body: bytes | None = None,
    ) -> HTTP2ClientExchange:
        """Open a request to ``path`` (appended to the base URL's path); an async context manager.

        With ``body``, HEADERS and the whole body go out in one write and the
        request is ended; without, write it with ``send_data`` and
        ``end_request``. Header names are lower-cased and connection-specific
        headers (``connection``, ``host``, ...) are dropped, as HTTP/2 wants.

        Raises:
            ConnectError: on entering, ``unavailable`` if no connection can be made
                or the transport is closed.
            ValueError: on entering, an invalid method, path, header name or value.
        """
        return HTTP2ClientExchange._create(self, method, path, headers, body)

    def share(self, prefix: str = "") -> HTTP2TransportShare:
        """A share of this transport for one user: its exchanges under ``prefix``, closed apart.

        Endpoints on one origin call through one connection this way, each
        closing on its own (see :class:`HTTP2TransportShare`). ``prefix`` is
        a path (``"/api"``), appended to the base URL's path before each
        exchange's; a trailing slash is dropped.

        Raises:
            ValueError: ``prefix`` is not empty and does not start with ``/``,
                or holds whitespace.
        """
        prefix = prefix.rstrip("/")
        if prefix and (prefix[:1] != "/" or _BAD_PATH(prefix) is not None):
            raise ValueError(
                f"a share's prefix must start with '/' and hold no whitespace: {prefix!r}"
            )
        return HTTP2TransportShare._create(self, prefix)

    def _request_headers(
        self, method: str, path: str, headers: Sequence[tuple[str, str]]
    ) -> list[tuple[bytes, bytes]]:
        method_header = self._method_headers.get(method)
        if method_header is None:
            if _TOKEN(method) is None:
                raise ValueError(f"invalid HTTP method {method!r}")
            method_header = (b":method", method.encode("ascii"))
            if len(self._method_headers) < 64:
                self._method_headers[method] = method_header
        if path[:1] != "/" or _BAD_PATH(path) is not None:
            raise ValueError(f"the path must start with '/' and hold no whitespace: {path!r}")
        request = [
            method_header,
            self._scheme_header,
            self._authority_header,
            (b":path", (self._prefix + path).encode("ascii")),
        ]
        for name, value in headers:
            encoded = _NAMES.get(name) or _encode_name(name)
            if encoded in _CONNECTION_HEADERS and (
                encoded != b"te" or value.strip().lower() != "trailers"
            ):
                continue
            if _BAD_VALUE(value) is not None:
                raise ValueError(f"the value of header {name!r} holds CR, LF or NUL")
            request.append((encoded, value.strip(" \t").encode()))
        return request

    def statistics(self) -> HTTP2TransportStatistics:
        """What the transport holds right now."""
        return HTTP2TransportStatistics(
            connections=len(self._connections),
            open_streams=sum(len(conn.streams) for conn in self._connections),
            connections_opened=self._connections_opened,
            connecting=self._attempt is not None,
            pings_sent=self._counters.pings_sent,
            keepalive_timeouts=self._counters.keepalive_timeouts,
        )

    # -- connections ------------------------------------------------------------------

    async def _acquire(self) -> ClientConnection:
        """A connection with a stream slot claimed for the caller."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if self._closed:
                raise transport_closed()
            conn = self._conn
            if conn is None:
                await self._connect()
                continue
            if conn.take_slot():
                return conn
            if await conn.wait_slot():
                if conn.usable:
                    return conn
                conn.release_slot()

    async def _connect(self) -> None:
        """Wait for a connection attempt: the one under way, or a new one."""
        attempt = self._attempt
        if attempt is None:
            attempt = self._attempt = Attempt(self._limits.connect_timeout)
            self._nursery.start_soon(self._run_attempt, attempt)
        attempt.waiters += 1
        try:
            await attempt.done.wait()
        finally:
            attempt.waiters -= 1
            if attempt.waiters <= 0 and not attempt.done.is_set():
                # Everyone waiting left (cancelled): the attempt is theirs, so it ends.
                attempt.scope.cancel()
                if self._attempt is attempt:
                    self._attempt = None
        if attempt.error is not None:
            raise copy_error(attempt.error)

    async def _run_attempt(self, attempt: Attempt) -> None:
        conn = None
        try:
            with attempt.scope:  # the connect timeout; aclose() and abandonment cancel it
                try:
                    conn = await self._connector.open(attempt)
                except ConnectError as exc:
                    attempt.error = exc
                    return
                except Exception as exc:  # a failure nobody expected still answers the callers
                    attempt.error = connect_failed(self._address, exc)
                    return
            if conn is None or self._closed:
                if self._closed or attempt.waiters <= 0:
                    attempt.error = transport_closed()
                else:
                    timeout = self._limits.connect_timeout
                    attempt.error = connect_timed_out(self._address, timeout, attempt.stage)
                if conn is not None:
                    conn.fail(attempt.error)
                    await trio.aclose_forcefully(conn.stream)
                return
            self._conn = conn
            self._connections.add(conn)
            self._connections_opened += 1
            self._nursery.start_soon(self._run_connection, conn)
        finally:
            if self._attempt is attempt:
                self._attempt = None
            attempt.done.set()

    async def _run_connection(self, conn: ClientConnection) -> None:
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            self._retire(conn)

    def _retire(self, conn: ClientConnection) -> None:
        if self._conn is conn:
            self._conn = None

    async def aclose(self) -> None:
        """Close every connection (a GOAWAY, then the socket); later exchanges fail.

        Exchanges in flight fail with ``unavailable`` ("transport is closed").
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        connections = list(self._connections)
        self._conn = None
        error = transport_closing()
        if self._attempt is not None:
            self._attempt.scope.cancel()
        for conn in connections:
            conn.close(error)
        with trio.CancelScope(shield=True), trio.move_on_after(self._close_timeout):
            for conn in connections:
                await conn.done.wait()
        for conn in connections:
            conn.fail(error)  # past the grace: stop its tasks and close the socket


@asynccontextmanager
async def open_http2_transport(
    base_url: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    limits: ClientLimits | None = None,
    unix_socket: str | None = None,
) -> AsyncIterator[HTTP2Transport]:
    """Open an HTTP/2 client transport to ``base_url``; close it on exit.

    ``http://`` URLs use cleartext HTTP/2 with prior knowledge (h2c);
    ``https://`` URLs use TLS with ALPN ``h2``, on ``ssl_context`` if given
    (bring client certificates for mTLS with it; note that ALPN protocols are
    set on that context) or on a default context that verifies the server.
    A server that does not agree to HTTP/2 is refused with ``unavailable``;
    a TLS handshake that fails raises :class:`~trioplugin.transport.TLSError`,
    whose ``reason`` says why.
    A path in ``base_url`` prefixes every exchange's path. With
    ``unix_socket``, connections go to that unix socket instead of the
    URL's host and port (which still name the server: its ``:authority``,
    and the name TLS checks its certificate for).

    The first exchange opens the connection. ``limits`` (a
    :class:`~trioplugin.transport.ClientLimits`, its defaults if None) bounds
    what the transport waits for on its own, whether or not a call has a
    deadline: opening a connection (TCP, TLS and the server's first SETTINGS)
    and the keepalive PINGs that find a frozen or black-holed server; it
    also holds the receive flow-control windows (how much the server may
    send ahead of what the reader has taken) and the seconds connections get
    on exit to send their GOAWAY.

    An exception raised in the block comes out of it as raised, not wrapped in
    an ExceptionGroup.
    """
    origin = _Origin.parse(base_url, unix_socket)
    if origin.scheme == "https":
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
        ssl_context.set_alpn_protocols(["h2"])
    else:
        ssl_context = None
    async with open_transparent_nursery() as nursery:
        transport = HTTP2Transport._create(
            nursery,
            origin,
            ssl_context=ssl_context,
            limits=ClientLimits() if limits is None else limits,
        )
        try:
            yield transport
        finally:
            await transport.aclose()
