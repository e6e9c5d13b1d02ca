"""Transport-level exceptions the app side may see."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias, final, get_args

from ..protocol import Code, ConnectError, Metadata


class StreamClosed(Exception):
    """The peer went away or reset the stream; nothing more can be read or written."""


class UnprocessedError(ConnectError):
    """A client call failed before the server processed its request: it is safe to send again.

    Raised (code ``unavailable``) when no connection could be made, the
    transport was closed, or the server refused the stream (HTTP/2
    ``REFUSED_STREAM``, or a ``GOAWAY`` that did not cover it). Even a method
    with side effects may be retried after one of these. A TLS handshake
    that failed for a reason TLS names is the subclass :class:`TLSError`.
    """


TLSErrorReason: TypeAlias = Literal[
    "unknown_ca", "expired", "hostname_mismatch", "certificate_rejected", "protocol", "other"
]
"""Why a TLS handshake failed, as :attr:`TLSError.reason` says (see :class:`TLSError`)."""

_TLS_REASONS: Final[frozenset[str]] = frozenset(get_args(TLSErrorReason))


@final
class TLSError(UnprocessedError):
    """A client's TLS handshake failed, and TLS said why: code ``unavailable``, nothing was sent.

    Both HTTP versions of our client (and the httpx transport, as far as
    httpx keeps the :mod:`ssl` error) raise it alike. The message names the
    address and says the cause in plain words, e.g. ``TLS handshake with
    127.0.0.1:8443 failed: the server's certificate is signed by a CA this
    client does not trust (certificate verify failed: unable to get local
    issuer certificate)``; the :mod:`ssl` error is its ``__cause__`` chain.

    :attr:`reason` is one of:

    - ``"unknown_ca"``: the server's certificate is not signed by a CA this
      client trusts (or is self-signed);
    - ``"expired"``: the server's certificate has expired, or is not valid yet;
    - ``"hostname_mismatch"``: the server's certificate is not issued for the
      host name or IP address the client connected to;
    - ``"certificate_rejected"``: the server rejected this client's
      certificate, or required one and none was presented (its alert
      ``certificate_required``, ``bad_certificate``, ``unknown_ca``,
      ``certificate_expired``, ...). Over TLS 1.3 that verdict comes after the
      client has finished its side of the handshake, at the first read: it is
      still reported as this error, and the request was still not processed;
    - ``"protocol"``: no TLS version, cipher suite or ALPN protocol in common,
      or the server does not speak TLS on that port at all;
    - ``"other"``: any other TLS failure (the message has OpenSSL's words).

    A server that closes the connection during the handshake without a TLS
    alert gives a plain :class:`UnprocessedError`: nothing says why.

    The default retry rule does not retry it (a handshake that failed over
    a certificate fails again the same way; a retry only hides the cause);
    the circuit breaker's default rule counts it as a failure.

    Raises:
        ValueError: ``reason`` is not one of the above.
    """

    reason: TLSErrorReason
    """Why the handshake failed: one of the six reasons above."""

    def __init__(
        self, reason: TLSErrorReason, message: str, *, metadata: Metadata | None = None
    ) -> None:
        if reason not in _TLS_REASONS:
            raise ValueError(f"reason must be one of {sorted(_TLS_REASONS)}, not {reason!r}")
        super().__init__(Code.UNAVAILABLE, message, metadata=metadata)
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        # The inherited reduction would call __init__ with (code, message).
        return (TLSError, (self.reason, self.message))

    def __repr__(self) -> str:
        return f"TLSError({self.reason!r}, {self.message!r})"
