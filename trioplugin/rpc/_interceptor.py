"""The interceptor protocol: one shape for client and server, unary and streaming."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol

from ._call import Call

CallNext = Callable[[Call[Any, Any]], Awaitable[None]]
"""Runs the rest of the chain for a call; returns when the call has ended."""


class Interceptor(Protocol):
    """Wraps calls, on a client or a server, of every kind.

    ``intercept`` gets the :class:`Call` and ``call_next``; it does its work
    around ``await call_next(call)``, which returns once the call has ended
    (the response is in, or the stream is over) and raises the call's
    :class:`~trioplugin.protocol.ConnectError` if it failed. Raising instead
    of calling ``call_next`` stops the call. Interceptors given as a list run
    in order, the first outermost.

    Example, a client-side header::

        class AddToken:
            async def intercept(self, call, call_next):
                call.request_headers["authorization"] = "Bearer t0k3n"
                await call_next(call)
    """

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Run ``call_next(call)`` with this interceptor's behaviour around it."""
        ...


def chain(interceptors: Sequence[Interceptor], innermost: CallNext) -> CallNext:
    """Compose interceptors around ``innermost``, the first outermost."""
    call_next = innermost
    for interceptor in reversed(interceptors):
        call_next = partial(interceptor.intercept, call_next=call_next)
    return call_next
