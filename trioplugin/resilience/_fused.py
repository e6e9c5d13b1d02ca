"""The default pair, breaker then retry, run in one frame: what most calls go through."""

from __future__ import annotations

from typing import Any, final

from ..rpc import Call, CallNext
from ._breaker_interceptor import CircuitBreakerInterceptor
from ._errors import CircuitOpenError
from ._retry import RetryInterceptor


@final
class BreakerThenRetry:
    """``[CircuitBreakerInterceptor, RetryInterceptor]`` as one call_next of the chain.

    Every suspension of a call passes through each coroutine frame of its
    chain, four or five times per call; composed, the pair is five frames
    (the breaker, a guard, the retry, the attempt), fused it is two: the
    breaker's admission and report around the retry's attempts, in this
    frame. It does exactly what the two do composed (their own methods do
    the work); a server's calls take the composed path.
    """

    __slots__ = ("_attempt", "_breaker", "_first", "_general", "_retry")

    def __init__(
        self,
        breaker: CircuitBreakerInterceptor,
        retry: RetryInterceptor,
        attempt: CallNext,
        general: CallNext,
        first: CallNext | None,
    ) -> None:
        self._first = first
        self._breaker = breaker
        self._retry = retry
        self._attempt = attempt
        self._general = general

    async def __call__(self, call: Call[Any, Any]) -> None:
        if not call.is_client:
            await self._general(call)
            return
        interceptor = self._breaker
        try:
            permit = interceptor.breaker.admit()
        except CircuitOpenError as refused:
            permit = await interceptor._admit_after(refused)
        retry = self._retry
        with permit:
            if retry.begin(call):
                await retry.hedge(call, self._attempt)
            else:
                await retry.attempts(call, self._attempt, first=self._first)
