"""The server side of TLS: ALPN set-up, the handshake under a timeout, and what it settled."""

from __future__ import annotations

import ssl
from typing import Final

import trio

from ._types import TLSInfo

ALPN_PROTOCOLS: Final = ["h2", "http/1.1"]
"""What the server offers in ALPN, preferred first."""


def configure_alpn(context: ssl.SSLContext) -> None:
    """Offer HTTP/2 and HTTP/1.1 through ALPN on ``context`` (which is changed in place)."""
    context.set_alpn_protocols(ALPN_PROTOCOLS)


class HandshakeFailed(Exception):
    """The TLS handshake did not complete (the client may well be no TLS client at all)."""


async def tls_handshake(
    transport: trio.SocketStream, context: ssl.SSLContext
) -> tuple[trio.SSLStream[trio.SocketStream], TLSInfo]:
    """Run the server side of a TLS handshake on ``transport``.

    Run it under a timeout: a cancelled handshake leaves the stream unusable.

    Raises:
        HandshakeFailed: the handshake failed. The caller closes ``transport``.
    """
    stream = trio.SSLStream(transport, context, server_side=True, https_compatible=True)
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        reason = getattr(cause, "reason", None) or type(cause).__name__
        raise HandshakeFailed(f"TLS handshake failed: {reason}") from exc
    return stream, tls_info(stream)


def tls_info(stream: trio.SSLStream[trio.SocketStream]) -> TLSInfo:
    """What the finished handshake on ``stream`` settled, the peer's certificate included."""
    cipher = stream.cipher()
    # getpeercert() is {} when a certificate was received but not verified
    # (CERT_NONE): only a verified certificate is handed to the app.
    peer_certificate = stream.getpeercert() or None
    return TLSInfo(
        version=stream.version(),
        cipher=cipher[0] if cipher else None,
        alpn_protocol=stream.selected_alpn_protocol(),
        peer_certificate=dict(peer_certificate) if peer_certificate else None,
        peer_certificate_der=stream.getpeercert(binary_form=True),
    )
