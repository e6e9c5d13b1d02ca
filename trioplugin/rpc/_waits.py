"""Waits in interceptors that whoever runs the call can end: ``interruptible_sleep``.

A call that runs in its caller's task (an endpoint actor's fast path) has
no cancel scope of the actor's around it: a trio scope costs more to enter
and leave than the rest of that path. Such a call can wait in two places
only: in the transport, which the actor ends by closing it, and in an
interceptor (a retry's backoff, a breaker's wait for half-open), which
sleeps through :func:`interruptible_sleep`. The actor marks the calls it
runs this way with a :class:`WaitCloser` in a context variable, and closing
it ends every such sleep at once.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final, final

import trio

from ..protocol import Code, ConnectError


@final
class WaitCloser:
    """Ends the interruptible sleeps of the calls it marks, once closed."""

    __slots__ = ("_scopes", "closed")

    def __init__(self) -> None:
        self._scopes: set[trio.CancelScope] = set()
        self.closed = False

    def close(self) -> None:
        """End every sleep under way, and any that starts from now on."""
        self.closed = True
        for scope in self._scopes:
            scope.cancel()


CURRENT_CLOSER: Final[ContextVar[WaitCloser | None]] = ContextVar(
    "trioplugin_wait_closer", default=None
)
"""The closer of the call running in this context, if its runner set one."""


async def interruptible_sleep(seconds: float) -> None:
    """Sleep in an interceptor, ending early if the call's runner closes.

    Outside an endpoint actor's fast path this is ``trio.sleep``. There, if
    the actor closes first, it raises ``ConnectError(canceled)``, so that the
    call is answered at once instead of after its backoff.
    """
    closer = CURRENT_CLOSER.get()
    if closer is None:
        await trio.sleep(seconds)
        return
    if not closer.closed:
        scope = trio.CancelScope()
        closer._scopes.add(scope)
        try:
            with scope:
                await trio.sleep(seconds)
        finally:
            closer._scopes.discard(scope)
        if not scope.cancelled_caught:
            return
    raise ConnectError(Code.CANCELED, "the endpoint closed while the call waited to go on")
