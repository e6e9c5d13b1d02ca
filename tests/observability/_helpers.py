"""What the observability tests share: a flaky server interceptor, an endpoint's statistics."""

from __future__ import annotations

from typing import Any

from trioplugin import Code, ConnectError
from trioplugin.actor import ActorState, ActorStatistics
from trioplugin.rpc import Call, CallNext, InterceptorFunction


def unavailable_first(times: int) -> InterceptorFunction:
    """A server interceptor that refuses the first ``times`` calls with ``unavailable``."""
    left = times

    async def flaky(call: Call[Any, Any], call_next: CallNext) -> None:
        nonlocal left
        if left:
            left -= 1
            raise ConnectError(Code.UNAVAILABLE, "not yet")
        await call_next(call)

    return flaky


def snapshot(name: str, *, queued: int = 0, in_flight: int = 0) -> ActorStatistics:
    """A running endpoint's statistics, with no breaker and no retries."""
    return ActorStatistics(
        plugin=name,
        state=ActorState.RUNNING,
        queued=queued,
        in_flight=in_flight,
        completed=0,
        failed=0,
        canceled=0,
        retried=0,
        circuit_state=None,
        inbox_capacity=8,
        max_in_flight=1,
        events_dropped=0,
    )
