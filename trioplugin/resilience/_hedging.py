"""Hedged calls: copies of one idempotent unary call race, the first success wins."""

from __future__ import annotations

from typing import Any, Protocol

import trio

from ..protocol import ConnectError
from ..rpc import Call, CallNext
from ..transport import TLSError
from ._policy import HedgingPolicy


class HedgeHost(Protocol):
    """What a hedged call needs of the retry interceptor that runs it."""

    def allow_hedge(self, call: Call[Any, Any], attempt: int) -> bool:
        """Whether one more hedge may go (it spends the budget, and is announced)."""
        ...

    def record_outcome(self, *, failure: bool) -> None:
        """An attempt ended: a success, or a failure the budget counts."""
        ...


class _Race:
    __slots__ = ("error", "failed", "won")

    def __init__(self) -> None:
        self.won = False
        self.error: ConnectError | None = None
        self.failed = trio.Event()


async def hedge(
    call: Call[Any, Any], call_next: CallNext, policy: HedgingPolicy, host: HedgeHost
) -> None:
    """Run ``call`` as up to ``policy.max_attempts`` racing attempts (see :class:`HedgingPolicy`).

    Each attempt is one ``call_next``; the winner's response and metadata
    are the call's. The losers are cancelled as soon as it answers.

    Raises:
        ConnectError: a fatal failure at once, or the last failure when every
            attempt has failed.
    """
    race = _Race()
    async with trio.open_nursery() as nursery:

        async def attempt() -> None:
            try:
                await call_next(call)
            except ConnectError as error:
                fatal = isinstance(error, TLSError) or error.code not in policy.non_fatal_codes
                if not fatal:  # A6: a fatal code is neither a failure nor a success
                    host.record_outcome(failure=True)
                if race.won:
                    return
                race.error = error
                if fatal:
                    nursery.cancel_scope.cancel()
                else:
                    race.failed.set()
            else:
                host.record_outcome(failure=False)
                race.won = True
                nursery.cancel_scope.cancel()

        for index in range(policy.max_attempts):
            if index and not host.allow_hedge(call, index + 1):
                break
            nursery.start_soon(attempt)
            if index + 1 == policy.max_attempts:
                break
            race.failed = trio.Event()
            with trio.move_on_after(policy.delay):
                await race.failed.wait()
    if race.won:
        return
    assert race.error is not None
    raise race.error
