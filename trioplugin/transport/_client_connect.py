"""Opening a client connection: TCP, then TLS when asked, with errors that say why not."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Protocol

import trio

from ._client_errors import connect_failed, no_h2, tls_failed
from ._tls_failures import send_pending_alert
from ._types import TLSInfo

TCP_CONNECT = "the TCP connect"
TLS_HANDSHAKE = "the TLS handshake"


class Progress(Protocol):
    """Where an opening connection has got to; a connect timeout's message names it."""

    stage: str


@dataclass(slots=True)
class Stage:
    """A plain :class:`Progress` for callers with nothing else to hold it."""

    stage: str = TCP_CONNECT


@dataclass(frozen=True, slots=True)
class OpenedStream:
    """A connected stream (TLS on top when asked), its socket and who is at the other end."""

    stream: trio.abc.Stream
    tcp: trio.SocketStream
    tls: TLSInfo | None
    peer_address: tuple[str, int]


async def open_client_stream(
    host: str,
    port: int,
    address: str,
    *,
    ssl_context: ssl.SSLContext | None,
    progress: Progress,
    require_h2: bool = False,
    unix_socket: str | None = None,
) -> OpenedStream:
    """Connect to ``host:port`` and do the TLS handshake on ``ssl_context`` if given.

    With ``unix_socket``, connect to that socket instead (``host`` is then
    only the name TLS checks the server's certificate for).

    ``progress.stage`` says how far it got (for a timeout the caller's scope
    enforces). With ``require_h2``, a server that does not agree to ALPN
    ``h2`` is refused.

    Raises:
        ConnectError: ``unavailable`` (an UnprocessedError) that says why: refused,
            name resolution, TLS (a TLSError when TLS named the cause), or the
            ALPN the server chose.
    """
    progress.stage = TCP_CONNECT
    try:
        if unix_socket is None:
            tcp = await trio.open_tcp_stream(host, port)
        else:
            tcp = await trio.open_unix_socket(unix_socket)
    except OSError as exc:
        raise connect_failed(address, exc) from exc
    stream: trio.abc.Stream = tcp
    tls_info = None
    try:
        if ssl_context is not None:
            progress.stage = TLS_HANDSHAKE
            tls = trio.SSLStream(tcp, ssl_context, server_hostname=host, https_compatible=True)
            try:
                await tls.do_handshake()
            except (trio.BrokenResourceError, ssl.SSLError) as exc:
                await send_pending_alert(tls)  # the server learns why, too
                raise tls_failed(address, exc) from exc
            alpn = tls.selected_alpn_protocol()
            if require_h2 and alpn != "h2":
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
        try:
            peername = tcp.socket.getpeername()
        except OSError as exc:
            raise connect_failed(address, exc) from exc
    except BaseException:
        tcp.socket.close()
        raise
    if unix_socket is not None:  # a unix peer has a path, not a port
        return OpenedStream(stream, tcp, tls_info, (unix_socket, 0))
    return OpenedStream(stream, tcp, tls_info, (str(peername[0]), int(peername[1])))
