"""The server side of TLS: ALPN set-up, the handshake under a timeout, and what it settled."""

from __future__ import annotations

import ssl
from typing import Final

import trio

from ._tls_failures import ALERT_GRACE, send_pending_alert
from ._types import TLSInfo

ALPN_PROTOCOLS: Final = ["h2", "http/1.1"]
"""What the server offers in ALPN, preferred first."""


def configure_alpn(context: ssl.SSLContext) -> None:
    """Offer HTTP/2 and HTTP/1.1 through ALPN on ``context`` (which is changed in place)."""
    context.set_alpn_protocols(ALPN_PROTOCOLS)


LINGER_BYTES: Final = 256 * 1024
"""What a refused client may still send while it reads our alert; beyond it, the socket closes."""


class HandshakeFailed(Exception):
    """The TLS handshake did not complete (the client may well be no TLS client at all)."""

    def __init__(self, message: str, *, alerted: bool) -> None:
        super().__init__(message)
        self.alerted = alerted
        """Whether the client was sent the alert that says why (see :func:`linger`)."""


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
        # The alert tells the client why (no certificate, an unknown CA, ...):
        # without it, a TLS 1.3 client sees only the connection close.
        alerted = await send_pending_alert(stream)
        cause = exc.__cause__
        reason = getattr(cause, "reason", None) or type(cause).__name__
        raise HandshakeFailed(f"TLS handshake failed: {reason}", alerted=alerted) from exc
    return stream, tls_info(stream)


async def linger(transport: trio.SocketStream) -> None:
    """After an alert: end our side, and take what the client still sends, until it closes.

    Over TLS 1.3 the client finishes its handshake before the server has
    judged its certificate, and starts writing its request. Closing a
    socket with such bytes unread makes the kernel reset the connection,
    and a client whose write fails on that reset may never read the alert
    that says why it was refused. So the server sends its FIN and reads
    (and drops) what comes, for at most :data:`~._tls_failures.ALERT_GRACE`
    seconds or :data:`LINGER_BYTES`, as HTTP servers' lingering close does.
    Never raises.
    """
    with trio.move_on_after(ALERT_GRACE):
        try:
            await transport.send_eof()
            taken = 0
            while taken < LINGER_BYTES:
                data = await transport.receive_some(65_536)
                if not data:
                    return
                taken += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return


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
