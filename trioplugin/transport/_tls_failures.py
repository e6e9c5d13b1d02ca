"""Telling the peer why a TLS handshake failed.

:func:`send_pending_alert` sends the alert OpenSSL wrote for the peer when
our side of a handshake failed: trio's ``SSLStream`` raises before sending it
(python-trio/trio#3413), so without it the peer would see only the
connection close, and could not say why.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Any, Final

import trio

ALERT_GRACE: Final = 1.0
"""Seconds the alert of a failed handshake may take to go out."""


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
