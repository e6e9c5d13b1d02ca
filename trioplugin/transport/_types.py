"""The two seams between HTTP and RPC: what a server hands its app, what a client transport offers.

The transport layer moves bytes; it knows nothing of Connect beyond raising
:class:`~trioplugin.protocol.ConnectError` with a fitting code when the
connection fails. The rpc layer speaks Connect over these interfaces.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, final

from ..protocol import Metadata
from ._certificate import PeerCertificate

HTTPVersion = Literal["1.1", "2"]


@final
@dataclass(frozen=True, slots=True)
class TLSInfo:
    """What the TLS handshake settled, as seen from one end of a connection."""

    version: str | None
    """The negotiated protocol version, e.g. ``"TLSv1.3"``."""
    cipher: str | None
    """The negotiated cipher suite's name."""
    alpn_protocol: str | None
    """The negotiated ALPN protocol (``"h2"`` or ``"http/1.1"``), if any."""
    peer_certificate: dict[str, Any] | None = None
    """The peer's certificate as :meth:`ssl.SSLSocket.getpeercert` decodes it.

    Only set when the certificate was verified against the configured CAs
    (on a server: when client certificates are required or optional and one
    was presented and verified).
    """
    peer_certificate_der: bytes | None = field(default=None, repr=False)
    """The peer's certificate in DER form, if it presented one."""
    _certificate: PeerCertificate | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _certificate_read: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def certificate(self) -> PeerCertificate | None:
        """The verified peer certificate's fields, or None if no certificate was verified.

        Built from :attr:`peer_certificate` and :attr:`peer_certificate_der`
        when first read, then kept: a server's handler reads
        ``ctx.peer.tls.certificate.common_name`` (or its SAN lists) to know
        who the client is.
        """
        if not self._certificate_read:
            decoded = self.peer_certificate
            certificate = (
                PeerCertificate.from_ssl(decoded, self.peer_certificate_der) if decoded else None
            )
            object.__setattr__(self, "_certificate", certificate)
            object.__setattr__(self, "_certificate_read", True)
        return self._certificate


@final
@dataclass(frozen=True, slots=True)
class Peer:
    """The other end of a connection."""

    address: tuple[str, int] | str | None
    """The remote (host, port), a unix socket path, or None if unknown."""
    http_version: HTTPVersion
    """The HTTP version the exchange runs on."""
    tls: TLSInfo | None = None
    """The TLS session, or None for a cleartext connection."""


class ServerExchange(Protocol):
    """One HTTP request and its response, as the server hands it to the app.

    The request body is read with :meth:`receive_data`; the response is
    written with :meth:`send_head`, :meth:`send_data` and :meth:`end` (or all
    at once with :meth:`send_response`). Headers are lower-cased. If the
    client goes away, reads and writes raise
    :class:`~trioplugin.transport.StreamClosed`.
    """

    @property
    def method(self) -> str:
        """The HTTP method, e.g. ``"POST"``."""
        ...

    @property
    def path(self) -> str:
        """The request path, percent-decoding not applied, without the query."""
        ...

    @property
    def query(self) -> str:
        """The raw query string (after ``?``), or ``""``."""
        ...

    @property
    def headers(self) -> Metadata:
        """The request headers."""
        ...

    @property
    def peer(self) -> Peer:
        """The client: address, HTTP version and TLS session."""
        ...

    async def receive_data(self) -> bytes:
        """The next chunk of the request body; ``b""`` once the body has ended."""
        ...

    async def send_head(self, status: int, headers: Sequence[tuple[str, str]]) -> None:
        """Start the response."""
        ...

    async def send_data(self, data: bytes) -> None:
        """Write part of the response body (waits for flow control)."""
        ...

    async def end(self) -> None:
        """Finish the response."""
        ...

    async def send_response(
        self, status: int, headers: Sequence[tuple[str, str]], body: bytes
    ) -> None:
        """Send a whole response at once: head, body and end."""
        ...


ServerApp = Callable[[ServerExchange], Awaitable[None]]
"""What a server runs for each request; it runs in its own task per request."""


class ClientExchange(Protocol):
    """One HTTP request in flight from a client, and its response.

    Write the request body with :meth:`send_data` and :meth:`end_request`
    (unless it was given whole when the exchange was opened), read the
    response with :meth:`receive_head` and :meth:`receive_data`. Leaving the
    exchange's context before the response has ended aborts the request.
    """

    async def send_data(self, data: bytes) -> None:
        """Write part of the request body (waits for flow control)."""
        ...

    async def end_request(self) -> None:
        """Finish the request body."""
        ...

    async def receive_head(self) -> tuple[int, Metadata]:
        """The response status and headers, once they arrive."""
        ...

    async def receive_data(self) -> bytes:
        """The next chunk of the response body; ``b""`` once it has ended."""
        ...

    @property
    def peer(self) -> Peer | None:
        """The server, once connected (None if the transport cannot tell)."""
        ...


class ClientTransport(Protocol):
    """Opens HTTP exchanges to one origin (one plugin endpoint)."""

    @property
    def full_duplex(self) -> bool:
        """Whether the response can be read while the request is still being written."""
        ...

    def exchange(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        *,
        body: bytes | None = None,
    ) -> AbstractAsyncContextManager[ClientExchange]:
        """Open a request to ``path`` (appended to the origin's base path).

        With ``body``, the request is sent whole and ended at once; without,
        write it with :meth:`ClientExchange.send_data`.

        Raises:
            ConnectError: ``unavailable`` if no connection can be made.
        """
        ...

    async def aclose(self) -> None:
        """Close every connection; later exchanges fail."""
        ...
