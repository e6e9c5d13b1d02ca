"""How the client transports turn OS, TLS, HTTP/2 and httpx failures into ConnectErrors.

Every failure a client transport reports is a
:class:`~trioplugin.protocol.ConnectError` whose message says, in plain words,
what happened and to which address; the original exception is kept as its
``__cause__``. The codes follow what the retry layer needs to know:
``unavailable`` means the request did not reach the server or the connection
broke (retrying may help), ``internal`` means someone broke the protocol. A
TLS handshake that failed for a reason TLS names (a certificate, a version)
is a :class:`~trioplugin.transport.TLSError`: still ``unavailable``, but
retrying cannot help, and the retry layer does not.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from typing import Final, TypeVar

import trio

from ..protocol import Code, ConnectError
from ._errors import TLSError, UnprocessedError
from ._http2 import ErrorCode, StreamReset
from ._tls_failures import classify, rejected_by_server

_E = TypeVar("_E", bound=BaseException)


def find_cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first exception of ``kind`` in ``exc``, its causes, contexts and group members."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        if current.__cause__ is not None:
            pending.append(current.__cause__)
        if current.__context__ is not None:
            pending.append(current.__context__)
    return None


def with_cause(error: ConnectError, cause: BaseException | None) -> ConnectError:
    error.__cause__ = cause
    return error


def describe_os_error(exc: OSError) -> str:
    """An OS error in words: its ``strerror`` (and errno name), or its text."""
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed ({exc.strerror or exc})"
    if exc.errno is not None and exc.strerror:
        name = errno.errorcode.get(exc.errno)
        # The errno's own words: trio's strerror repeats the address ("error connecting to ...").
        words = (os.strerror(exc.errno) if name else exc.strerror).lower()
        return f"{words} ({name})" if name else words
    return str(exc) or type(exc).__name__


def _leaf_os_error(exc: BaseException) -> OSError | None:
    """The most telling OSError under ``exc`` (trio wraps per-address failures in a group)."""
    found = None
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc
    for candidate in (exc.__cause__, exc.__context__):
        if isinstance(candidate, BaseExceptionGroup):
            for member in candidate.exceptions:
                leaf = _leaf_os_error(member)
                if leaf is not None:
                    return leaf
        elif candidate is not None:
            found = _leaf_os_error(candidate)
            if found is not None:
                return found
    return exc if isinstance(exc, OSError) else None


def connect_failed(address: str, exc: BaseException) -> ConnectError:
    """The connection to ``address`` could not be opened (refused, DNS, unreachable, timeout)."""
    if isinstance(exc, trio.TooSlowError | TimeoutError):
        reason = "timed out"
    else:
        leaf = _leaf_os_error(exc)
        reason = describe_os_error(leaf) if leaf is not None else (str(exc) or type(exc).__name__)
    return with_cause(
        UnprocessedError(Code.UNAVAILABLE, f"cannot connect to {address}: {reason}"), exc
    )


def connect_timed_out(address: str, timeout: float, stage: str) -> ConnectError:
    """No connection to ``address`` within ``timeout`` seconds; ``stage`` is what it waited for."""
    return UnprocessedError(
        Code.UNAVAILABLE,
        f"cannot connect to {address}: timed out after {timeout:g} s ({stage})",
    )


def not_h2(address: str, first_bytes: bytes) -> ConnectError:
    """The first bytes the server at ``address`` sent cannot start an HTTP/2 SETTINGS frame."""
    return UnprocessedError(
        Code.UNAVAILABLE,
        f"{address} does not speak HTTP/2: its first bytes were {first_bytes!r}",
    )


def frame_too_large(address: str, length: int, limit: int, *, handshake: bool) -> ConnectError:
    """The server at ``address`` sent a frame header claiming more than SETTINGS_MAX_FRAME_SIZE.

    During the ``handshake`` no request has gone out, so the error says it is
    safe to send again.
    """
    message = (
        f"{address} sent a frame of {length} bytes, over the limit of {limit} bytes "
        "(SETTINGS_MAX_FRAME_SIZE); the connection was closed (FRAME_SIZE_ERROR)"
    )
    if handshake:
        return UnprocessedError(Code.UNAVAILABLE, message)
    return ConnectError(Code.UNAVAILABLE, message)


def keepalive_timed_out(address: str, timeout: float) -> ConnectError:
    """The server at ``address`` did not acknowledge a keepalive PING in time."""
    return ConnectError(
        Code.UNAVAILABLE,
        f"connection to {address} lost: no reply to a keepalive PING within {timeout:g} s",
    )


def describe_ssl_error(exc: ssl.SSLError) -> str:
    """A TLS failure in plain words, e.g. why the server's certificate was rejected."""
    classified = classify(exc)
    if classified is not None:
        return classified[1]
    if exc.reason:
        return exc.reason.lower().replace("_", " ")
    return str(exc) or type(exc).__name__


def _tls_error(address: str, ssl_error: ssl.SSLError, exc: BaseException) -> TLSError | None:
    classified = classify(ssl_error)
    if classified is None:
        return None
    reason, words = classified
    error = TLSError(reason, f"TLS handshake with {address} failed: {words}")
    error.__cause__ = exc
    return error


def tls_failed(address: str, exc: BaseException) -> UnprocessedError:
    """The TLS handshake with ``address`` failed; the message says why.

    A :class:`TLSError` when TLS gave a verdict (``exc`` holds an
    :class:`ssl.SSLError` that is not the connection ending); otherwise the
    server closed or reset the connection mid-handshake, and the plain
    :class:`UnprocessedError` says so.
    """
    ssl_error = find_cause(exc, ssl.SSLError)
    if ssl_error is not None:
        error = _tls_error(address, ssl_error, exc)
        if error is not None:
            return error
    reason = (
        "the server closed the connection during the handshake (it may require a "
        "client certificate, or reject the one presented)"
    )
    closed = UnprocessedError(Code.UNAVAILABLE, f"TLS handshake with {address} failed: {reason}")
    closed.__cause__ = exc
    return closed


def tls_rejected(address: str, exc: BaseException) -> TLSError | None:
    """The server's refusal of the client certificate, if that is what ``exc`` is.

    Over TLS 1.3 the client's handshake is done before the server has read
    the client's certificate, so the server's alert (``certificate_required``,
    ``unknown_ca``, ...) comes at the first read: the server processed
    nothing, and the error is the :class:`TLSError` the handshake would have
    raised. None for any other failure.
    """
    ssl_error = find_cause(exc, ssl.SSLError)
    if ssl_error is None or not rejected_by_server(ssl_error):
        return None
    return _tls_error(address, ssl_error, exc)


def no_h2(address: str, negotiated: str | None) -> ConnectError:
    """The server at ``address`` did not agree to HTTP/2 in the TLS handshake.

    A :class:`TLSError` with reason ``"protocol"``: no protocol in common, which
    another attempt would not change (so the default retry rule leaves it).
    """
    got = f"it chose {negotiated!r}" if negotiated else "it chose no protocol"
    return TLSError(
        "protocol",
        f"the server at {address} does not speak HTTP/2 over TLS (ALPN h2 was offered, {got}); "
        "use ClientOptions(http_version='1.1') for it",
    )


def h2_code_name(error_code: int) -> str:
    """The name of an HTTP/2 error code (RST_STREAM, GOAWAY), or its number."""
    try:
        return ErrorCode(error_code).name
    except ValueError:
        return f"error code {error_code:#x}"


_RESET_CODES: Final[dict[int, tuple[Code, str]]] = {
    ErrorCode.REFUSED_STREAM: (
        Code.UNAVAILABLE,
        "the server refused the stream before processing it (REFUSED_STREAM); it is safe to retry",
    ),
    ErrorCode.CANCEL: (Code.CANCELED, "the server canceled the stream (CANCEL)"),
    # As gRPC's HTTP/2 mapping, which Connect follows, has it.
    ErrorCode.ENHANCE_YOUR_CALM: (
        Code.RESOURCE_EXHAUSTED,
        "the server reset the stream: too much load from this client (ENHANCE_YOUR_CALM)",
    ),
    ErrorCode.INADEQUATE_SECURITY: (
        Code.PERMISSION_DENIED,
        "the server reset the stream: the connection is not secure enough (INADEQUATE_SECURITY)",
    ),
}


def stream_reset(address: str, error_code: int) -> ConnectError:
    """The server at ``address`` reset the stream with RST_STREAM(``error_code``)."""
    known = _RESET_CODES.get(error_code)
    if known is not None:
        code, message = known
        if error_code == ErrorCode.REFUSED_STREAM:
            return UnprocessedError(code, f"{message} [{address}]")
        return ConnectError(code, f"{message} [{address}]")
    return ConnectError(
        Code.INTERNAL, f"the server at {address} reset the stream ({h2_code_name(error_code)})"
    )


def goaway_unprocessed(address: str, error_code: int) -> ConnectError:
    """The server sent GOAWAY before processing this stream: safe to retry elsewhere."""
    return UnprocessedError(
        Code.UNAVAILABLE,
        f"the server at {address} is closing the connection "
        f"(GOAWAY {h2_code_name(error_code)}) and did not process this request; "
        "it is safe to retry",
    )


def connection_lost(address: str, cause: BaseException | str | None = None) -> ConnectError:
    """The connection to ``address`` broke while the stream was in flight."""
    if cause is None:
        reason = "the server closed the connection"
    elif isinstance(cause, str):
        reason = cause
    else:
        ssl_error = find_cause(cause, ssl.SSLError)
        os_error = find_cause(cause, OSError)
        if ssl_error is not None:
            reason = describe_ssl_error(ssl_error)
        elif os_error is not None:
            reason = describe_os_error(os_error)
        else:
            reason = str(cause) or type(cause).__name__
    error = ConnectError(Code.UNAVAILABLE, f"connection to {address} lost: {reason}")
    return with_cause(error, cause if isinstance(cause, BaseException) else None)


def malformed_stream(address: str, reset: StreamReset) -> ConnectError:
    """The server at ``address`` broke the protocol on one stream, so we reset it."""
    return ConnectError(
        Code.INTERNAL,
        f"{address} broke HTTP/2 on the response ({reset.reason}); the stream was reset "
        f"({h2_code_name(reset.code)})",
    )


def protocol_error(address: str, exc: BaseException) -> ConnectError:
    """The HTTP/2 connection to ``address`` broke the protocol (the server's fault)."""
    return with_cause(
        ConnectError(Code.INTERNAL, f"HTTP/2 protocol error on the connection to {address}: {exc}"),
        exc,
    )


def transport_closed() -> ConnectError:
    """An exchange was attempted on a transport that has been closed."""
    return UnprocessedError(Code.UNAVAILABLE, "transport is closed")


def transport_closing() -> ConnectError:
    """The transport was closed while exchanges were in flight (they may have been processed)."""
    return ConnectError(Code.UNAVAILABLE, "transport is closed")


def copy_error(error: ConnectError) -> ConnectError:
    """A fresh copy of ``error`` to raise in another task (tracebacks are per raise)."""
    if isinstance(error, TLSError):
        copy: ConnectError = TLSError(error.reason, error.message, metadata=error.metadata)
    else:
        copy = type(error)(error.code, error.message, metadata=error.metadata)
    copy.__cause__ = error.__cause__
    return copy
