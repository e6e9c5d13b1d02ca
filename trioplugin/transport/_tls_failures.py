"""What a failed TLS handshake says, from the :mod:`ssl` error's codes, and telling the peer.

:func:`classify` turns an :class:`ssl.SSLError` into a
:data:`~trioplugin.transport.TLSErrorReason` and plain words. It reads the
codes OpenSSL sets, not the message text: a certificate the client could not
verify is an :class:`ssl.SSLCertVerificationError` whose ``verify_code`` is
an ``X509_V_ERR_*`` value; an alert from the peer, or a local failure, is an
:class:`ssl.SSLError` whose ``reason`` names it (``TLSV1_ALERT_UNKNOWN_CA``).

:func:`send_pending_alert` sends the alert OpenSSL wrote for the peer when
our side of a handshake failed: trio's ``SSLStream`` raises before sending it
(python-trio/trio#3413), so without it the peer would see only the
connection close, and could not say why.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Mapping
from typing import Any, Final

import trio

from ._errors import TLSErrorReason

# X509_V_ERR_* (openssl/x509_vfy.h): the chain does not end at a CA we trust.
_UNTRUSTED_CODES: Final = frozenset(
    {
        2,  # UNABLE_TO_GET_ISSUER_CERT
        18,  # DEPTH_ZERO_SELF_SIGNED_CERT
        19,  # SELF_SIGNED_CERT_IN_CHAIN
        20,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        21,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
        27,  # CERT_UNTRUSTED
    }
)
_VALIDITY_CODES: Final[Mapping[int, str]] = {
    9: "the server's certificate is not valid yet",  # CERT_NOT_YET_VALID
    10: "the server's certificate has expired",  # CERT_HAS_EXPIRED
}
_MISMATCH_CODES: Final = frozenset(
    {
        62,  # HOSTNAME_MISMATCH
        63,  # EMAIL_MISMATCH
        64,  # IP_ADDRESS_MISMATCH
    }
)

# Alerts the server sends about the client's certificate (none, or one it refuses).
_REJECTED: Final[Mapping[str, str]] = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": (
        "the server requires a client certificate and none was presented"
    ),
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": (
        "the server requires a client certificate and none was presented"
    ),
    "TLSV1_ALERT_UNKNOWN_CA": (
        "the server rejected the client certificate: it is not signed by a CA the server trusts"
    ),
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server rejected the client certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the server rejected the client certificate",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": (
        "the server rejected the client certificate as of a type it does not support"
    ),
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server rejected the client certificate as expired",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "the server rejected the client certificate as revoked",
    "TLSV1_ALERT_ACCESS_DENIED": "the server verified the client certificate and denied access",
}

_PROTOCOL: Final[Mapping[str, str]] = {
    "WRONG_VERSION_NUMBER": "the server does not speak TLS on this port (plain HTTP?)",
    "UNKNOWN_PROTOCOL": "the server does not speak TLS on this port",
    "PACKET_LENGTH_TOO_LONG": "the server does not speak TLS on this port",
    "TLSV1_ALERT_PROTOCOL_VERSION": "client and server have no TLS version in common",
    "UNSUPPORTED_PROTOCOL": "client and server have no TLS version in common",
    "NO_PROTOCOLS_AVAILABLE": "client and server have no TLS version in common",
    "VERSION_TOO_LOW": "client and server have no TLS version in common",
    "NO_SHARED_CIPHER": "client and server have no cipher suite in common",
    "NO_CIPHERS_AVAILABLE": "client and server have no cipher suite in common",
    "TLSV1_ALERT_INSUFFICIENT_SECURITY": "the server finds the client's cipher suites too weak",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": (
        "the server refused the handshake (no cipher suite in common, or, over TLS 1.2, "
        "no client certificate where it requires one)"
    ),
    "TLSV1_ALERT_NO_APPLICATION_PROTOCOL": (
        "the server takes none of the application protocols offered (ALPN)"
    ),
    "NO_APPLICATION_PROTOCOL": "the server takes none of the application protocols offered (ALPN)",
}

_CLOSED: Final = (ssl.SSLEOFError, ssl.SSLSyscallError, ssl.SSLZeroReturnError)
"""What :mod:`ssl` raises when the connection itself ended: no TLS verdict."""

ALERT_GRACE: Final = 1.0
"""Seconds the alert of a failed handshake may take to go out."""


def classify(error: ssl.SSLError) -> tuple[TLSErrorReason, str] | None:
    """Why a handshake failed, and that in words; None if the connection merely ended.

    The words end with OpenSSL's own in parentheses, so the exact error can
    be looked up.
    """
    if isinstance(error, _CLOSED):
        return None
    if isinstance(error, ssl.SSLCertVerificationError):
        code = error.verify_code
        detail = f"(certificate verify failed: {error.verify_message or error.reason})"
        if code in _UNTRUSTED_CODES:
            return "unknown_ca", (
                f"the server's certificate is signed by a CA this client does not trust {detail}"
            )
        if code in _VALIDITY_CODES:
            return "expired", f"{_VALIDITY_CODES[code]} {detail}"
        if code in _MISMATCH_CODES:
            return "hostname_mismatch", (
                f"the server's certificate is not valid for the host this client asked for {detail}"
            )
        return "other", f"the server's certificate could not be verified {detail}"
    reason = error.reason or ""
    if reason in _REJECTED:
        return "certificate_rejected", f"{_REJECTED[reason]} ({reason})"
    if reason in _PROTOCOL:
        return "protocol", f"{_PROTOCOL[reason]} ({reason})"
    if reason:
        return "other", f"{reason.lower().replace('_', ' ')} ({reason})"
    return "other", str(error) or type(error).__name__


def rejected_by_server(error: ssl.SSLError) -> bool:
    """Whether ``error`` is the server's alert refusing (or requiring) the client certificate."""
    return not isinstance(error, ssl.SSLCertVerificationError) and error.reason in _REJECTED


async def send_pending_alert(stream: trio.SSLStream[Any]) -> bool:
    """Send what the failed handshake on ``stream`` left for the peer (its alert); never raises.

    Bounded by :data:`ALERT_GRACE`. Nothing is sent if there is nothing
    left (as when trio sends the alert itself). Whether it was sent.
    """
    # trio keeps the outgoing memory BIO private; read defensively, so a
    # trio that sends the alert itself, or names it otherwise, costs nothing.
    outgoing = getattr(stream, "_outgoing", None)
    if not isinstance(outgoing, ssl.MemoryBIO) or not outgoing.pending:
        return False
    data = outgoing.read()
    with (
        trio.move_on_after(ALERT_GRACE),
        contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError),
    ):
        await stream.transport_stream.send_all(data)
        return True
    return False
