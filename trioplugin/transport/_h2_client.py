"""A client transport over one multiplexed HTTP/2 connection of our own, on trio and h2.

This is the fast path to a plugin and the only client transport that can do
full-duplex streaming (httpx cannot). One transport talks to one origin over
one connection at a time, opened on the first exchange and opened again after
it dies or after the server's GOAWAY.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final, final
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import trio

from ..protocol import Code, ConnectError
from ._client_errors import (
    connect_failed,
    connection_lost,
    copy_error,
    no_h2,
    tls_failed,
    transport_closed,
    transport_closing,
)
from ._h2_client_connection import ClientConnection, ClientH2State
from ._h2_client_exchange import H2ClientExchange
from ._types import Peer, TLSInfo

DEFAULT_STREAM_WINDOW: Final = 2 * 1024 * 1024
"""The receive window each stream starts with (SETTINGS_INITIAL_WINDOW_SIZE)."""
DEFAULT_CONNECTION_WINDOW: Final = 16 * 1024 * 1024
"""The receive window of the whole connection."""
_DEFAULT_WINDOW: Final = 65_535
_HANDSHAKE_RECEIVE_SIZE: Final = 65_536
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


@final
class _Attempt:
    """A connection being opened, which every exchange that needs one waits for."""

    __slots__ = ("done", "error", "scope")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.error: ConnectError | None = None
        self.scope = trio.CancelScope()


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

    @classmethod
    def parse(cls, base_url: str) -> _Origin:
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
        return cls(
            parts.scheme, parts.hostname, port, authority, f"{host}:{port}", parts.path.rstrip("/")
        )


@dataclass(frozen=True, slots=True)
class H2TransportStatistics:
    """A snapshot of an :class:`H2Transport`, as :meth:`H2Transport.statistics` returns it."""

    connections: int
    """Connections held, including ones that finish their streams after a GOAWAY."""
    open_streams: int
    """Exchanges in progress."""
    connections_opened: int
    """Connections opened since the transport was created (reconnects included)."""


@final
class H2Transport:
    """A :class:`~trioplugin.transport.ClientTransport` over HTTP/2 (h2c or TLS), full duplex.

    Create it with :func:`open_h2_transport`. Exchanges share one connection
    (streams are multiplexed, up to the server's SETTINGS_MAX_CONCURRENT_STREAMS;
    beyond it they wait for a free stream). The response of an exchange can be
    read while its request is still being written, so bidi calls work.
    """

    full_duplex: Final = True
    """The response can be read while the request is still being written."""

    def __init__(
        self,
        nursery: trio.Nursery,
        origin: _Origin,
        *,
        ssl_context: ssl.SSLContext | None,
        connect_timeout: float | None,
        stream_window: int,
        connection_window: int,
        close_timeout: float,
    ) -> None:
        self._nursery = nursery
        self._tls = origin.scheme == "https"
        self._host = origin.host
        self._port = origin.port
        self._authority = origin.authority
        self._address = origin.address
        self._scheme = origin.scheme
        self._prefix = origin.prefix
        self._scheme_header = (b":scheme", self._scheme.encode("ascii"))
        self._authority_header = (b":authority", self._authority.encode("idna"))
        self._method_headers: dict[str, tuple[bytes, bytes]] = {}
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._stream_window = stream_window
        self._connection_window = connection_window
        self._close_timeout = close_timeout
        self._conn: ClientConnection | None = None
        self._connections: set[ClientConnection] = set()
        self._attempt: _Attempt | None = None
        self._connections_opened = 0
        self._closed = False

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
    ) -> H2ClientExchange:
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
        return H2ClientExchange(self, method, path, headers, body)

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

    def statistics(self) -> H2TransportStatistics:
        """What the transport holds right now."""
        return H2TransportStatistics(
            connections=len(self._connections),
            open_streams=sum(len(conn.streams) for conn in self._connections),
            connections_opened=self._connections_opened,
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
        attempt = self._attempt
        if attempt is None:
            attempt = self._attempt = _Attempt()
            self._nursery.start_soon(self._run_attempt, attempt)
        await attempt.done.wait()
        if attempt.error is not None:
            raise copy_error(attempt.error)

    async def _run_attempt(self, attempt: _Attempt) -> None:
        conn = None
        try:
            with attempt.scope:  # aclose() cancels it
                try:
                    with trio.fail_after(self._connect_timeout or math.inf):
                        conn = await self._open_connection()
                except trio.TooSlowError as exc:
                    attempt.error = connect_failed(self._address, exc)
                    return
                except ConnectError as exc:
                    attempt.error = exc
                    return
                except Exception as exc:  # a failure nobody expected still answers the callers
                    attempt.error = connect_failed(self._address, exc)
                    return
            if conn is None or self._closed:
                attempt.error = transport_closed()
                if conn is not None:
                    conn.fail(attempt.error)
                    await trio.aclose_forcefully(conn.stream)
                return
            self._conn = conn
            self._connections.add(conn)
            self._connections_opened += 1
            self._nursery.start_soon(self._run_connection, conn)
        finally:
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

    async def _open_connection(self) -> ClientConnection:
        address = self._address
        try:
            tcp = await trio.open_tcp_stream(self._host, self._port)
        except OSError as exc:
            raise connect_failed(address, exc) from exc
        stream: trio.abc.Stream = tcp
        tls_info = None
        try:
            if self._ssl_context is not None:
                tls = trio.SSLStream(
                    tcp, self._ssl_context, server_hostname=self._host, https_compatible=True
                )
                try:
                    await tls.do_handshake()
                except (trio.BrokenResourceError, ssl.SSLError) as exc:
                    raise tls_failed(address, exc) from exc
                alpn = tls.selected_alpn_protocol()
                if alpn != "h2":
                    raise no_h2(address, alpn)
                cipher = tls.cipher()
                tls_info = TLSInfo(
                    version=tls.version(),
                    cipher=cipher[0] if cipher else None,
                    alpn_protocol=alpn,
                    peer_certificate=tls.getpeercert() or None,
                    peer_certificate_der=tls.getpeercert(binary_form=True),
                )
                stream = tls
            peername = tcp.socket.getpeername()
            peer_address = (str(peername[0]), int(peername[1]))
            h2conn = self._new_h2_connection()
            await stream.send_all(h2conn.data_to_send())
            await self._await_settings(stream, h2conn)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return ClientConnection(
            stream,
            h2conn,
            address=address,
            peer=Peer(peer_address, "2", tls=tls_info),
            stream_window=self._stream_window,
            connection_window=self._connection_window,
            on_retire=self._retire,
        )

    def _new_h2_connection(self) -> ClientH2State:
        # Header validation is done here and in the exchange, at a fraction of
        # h2's cost (see _request_headers and _h2_client_exchange._parse_head).
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        conn = ClientH2State(config)
        codes = h2.settings.SettingCodes
        conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                codes.ENABLE_PUSH: 0,
                codes.INITIAL_WINDOW_SIZE: self._stream_window,
                codes.MAX_CONCURRENT_STREAMS: 100,
                codes.MAX_HEADER_LIST_SIZE: 65_536,
            },
        )
        conn.initiate_connection()
        if self._connection_window > _DEFAULT_WINDOW:
            conn.increment_flow_control_window(self._connection_window - _DEFAULT_WINDOW)
        return conn

    async def _await_settings(
        self, stream: trio.abc.Stream, h2conn: h2.connection.H2Connection
    ) -> None:
        """Read until the server's SETTINGS: proof that it speaks HTTP/2, and its limits."""
        address = self._address
        first_bytes = b""
        while True:
            try:
                data = await stream.receive_some(_HANDSHAKE_RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                if self._tls:
                    raise tls_failed(address, exc) from exc
                raise connection_lost(address, exc) from exc
            if not data:
                if self._tls and not first_bytes:
                    raise tls_failed(address, EOFError("closed"))
                if first_bytes:
                    reason = f"it does not speak HTTP/2: its first bytes were {first_bytes!r}"
                else:
                    reason = "it may not speak HTTP/2 with prior knowledge, or refused the client"
                raise ConnectError(
                    Code.UNAVAILABLE,
                    f"{address} closed the connection before its HTTP/2 SETTINGS ({reason})",
                )
            if len(first_bytes) < 24:
                first_bytes += data[: 24 - len(first_bytes)]
            try:
                events = h2conn.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                raise ConnectError(
                    Code.UNAVAILABLE,
                    f"{address} does not speak HTTP/2: its first bytes were {first_bytes!r}",
                ) from exc
            for event in events:
                if isinstance(event, h2.events.ConnectionTerminated):
                    raise ConnectError(
                        Code.UNAVAILABLE,
                        f"{address} refused the HTTP/2 connection (GOAWAY {event.error_code!s})",
                    )
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    return

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
async def open_h2_transport(
    base_url: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    connect_timeout: float | None = 30.0,
    stream_window: int = DEFAULT_STREAM_WINDOW,
    connection_window: int = DEFAULT_CONNECTION_WINDOW,
    close_timeout: float = 1.0,
) -> AsyncIterator[H2Transport]:
    """Open an HTTP/2 client transport to ``base_url``; close it on exit.

    ``http://`` URLs use cleartext HTTP/2 with prior knowledge (h2c);
    ``https://`` URLs use TLS with ALPN ``h2``, on ``ssl_context`` if given
    (bring client certificates for mTLS with it; note that ALPN protocols are
    set on that context) or on a default context that verifies the server.
    A server that does not agree to HTTP/2 is refused with ``unavailable``.
    A path in ``base_url`` prefixes every exchange's path.

    The first exchange opens the connection (within ``connect_timeout``
    seconds, TLS and HTTP/2 handshakes included). ``stream_window`` and
    ``connection_window`` are the receive flow-control windows: how much the
    server may send ahead of what the reader has consumed. On exit,
    connections get ``close_timeout`` seconds to send their GOAWAY.
    """
    origin = _Origin.parse(base_url)
    if not 1 <= stream_window <= 2**31 - 1 or not 1 <= connection_window <= 2**31 - 1:
        raise ValueError("flow-control windows must be between 1 and 2**31 - 1")
    if origin.scheme == "https":
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
        ssl_context.set_alpn_protocols(["h2"])
    else:
        ssl_context = None
    async with trio.open_nursery() as nursery:
        transport = H2Transport(
            nursery,
            origin,
            ssl_context=ssl_context,
            connect_timeout=connect_timeout,
            stream_window=stream_window,
            connection_window=connection_window,
            close_timeout=close_timeout,
        )
        try:
            yield transport
        finally:
            await transport.aclose()
