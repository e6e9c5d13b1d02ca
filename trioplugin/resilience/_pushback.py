"""A server's pushback: how long it asks a client to wait before trying again, if at all."""

from __future__ import annotations

from typing import Final

from ..protocol import Metadata

RETRY_AFTER: Final = "retry-after"
"""HTTP's header (RFC 9110 §10.2.3), read in its delay-seconds form."""

GRPC_RETRY_PUSHBACK_MS: Final = "grpc-retry-pushback-ms"
"""gRPC's pushback header or trailer (proposal A6, "Pushback"), in milliseconds."""

REFUSED: Final = -1.0
"""What :func:`pushback` returns when the server says not to retry."""


def pushback(*sources: Metadata) -> float | None:
    """The wait the server asked for, in seconds; None if it asked nothing; :data:`REFUSED`.

    ``grpc-retry-pushback-ms`` is read before ``Retry-After`` (it is the more
    precise). A value that is negative or not a number means "do not retry"
    (as A6 says of gRPC's header), and so does a ``Retry-After`` that is not
    a number of seconds.
    """
    for source in sources:
        value = source.first(GRPC_RETRY_PUSHBACK_MS)
        if value is not None:
            return _parse(value, scale=0.001)
    for source in sources:
        value = source.first(RETRY_AFTER)
        if value is not None:
            return _parse(value, scale=1.0)
    return None


def _parse(value: str, *, scale: float) -> float:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return REFUSED
    return int(text) * scale
