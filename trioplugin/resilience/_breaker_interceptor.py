"""The circuit-breaker interceptor: one breaker per endpoint unless shared on purpose."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, NoReturn, final

import trio

from ..rpc import Call, CallNext, Endpoint, interruptible_sleep
from ._breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState, Permit
from ._errors import CircuitOpenError
from ._events import CircuitStateChanged

_WAKE_UPS = 3
"""Sleeps a caller waiting for half-open may take (clock arithmetic can wake it an ulp early)."""

YIELD_EVERY: Final = 64
"""A refusal lets other tasks run at least once in this many (see :func:`raise_refusal`)."""

_DEADLINE_EVERY: Final = 8
"""A refusal looks for a deadline that has passed once in this many."""


async def raise_refusal(error: CircuitOpenError, breaker: CircuitBreaker) -> NoReturn:
    """Raise a breaker's refusal, as a checkpoint that costs microseconds.

    A full checkpoint per refusal would cost more than the refusal itself;
    none at all would let a caller that loops on refused calls ignore its
    cancellation and starve every other task. So a refusal checks for
    cancellation every time, for a deadline that has passed (which trio
    notices only at a full checkpoint) every few times, and lets the
    scheduler run once every :data:`YIELD_EVERY` refusals.
    """
    count = breaker.rejected
    if count % YIELD_EVERY == 0 or (
        count % _DEADLINE_EVERY == 0 and trio.current_effective_deadline() <= trio.current_time()
    ):
        await trio.lowlevel.checkpoint()
    else:
        await trio.lowlevel.checkpoint_if_cancelled()
    raise error


@final
class CircuitBreakerInterceptor:
    """Fails calls fast while an endpoint keeps failing (the reference's interceptor of that name).

    Given a :class:`CircuitBreakerConfig` (or nothing, for the defaults),
    every endpoint it is bound to gets a breaker of its own, named after the
    endpoint; given a :class:`CircuitBreaker`, that one breaker is shared by
    every endpoint it serves — only do that on purpose. While the circuit is
    open a call raises :class:`CircuitOpenError` (``unavailable``) without
    touching the server; the retry interceptor never retries it.

    With ``wait_for_half_open``, a caller whose deadline lies after the
    moment the circuit will admit a probe (or who set none) waits for that
    moment instead of failing at once; if the probe slot is taken by then,
    it fails.

    Placed outside the retry interceptor (the reference order) it counts
    logical calls — a call that failed after all its retries is one failure;
    inside it, it counts attempts.
    """

    __slots__ = ("_breaker", "_config", "_detach", "_endpoint", "_shared", "_wait")

    _calls_next_once: Final = True
    """It runs ``call_next`` at most once per call: the chain gives it the rest as it is."""

    def __init__(
        self,
        breaker: CircuitBreaker | CircuitBreakerConfig | None = None,
        *,
        wait_for_half_open: bool = False,
    ) -> None:
        if breaker is not None and not isinstance(breaker, CircuitBreaker | CircuitBreakerConfig):
            raise TypeError(
                "give a CircuitBreakerConfig (a breaker per endpoint) or a CircuitBreaker "
                f"(shared), not {type(breaker).__name__}"
            )
        self._shared = breaker if isinstance(breaker, CircuitBreaker) else None
        if isinstance(breaker, CircuitBreaker):
            self._config = breaker.config
        else:
            self._config = breaker if breaker is not None else CircuitBreakerConfig()
        self._wait = wait_for_half_open
        self._endpoint: Endpoint | None = None
        self._detach: Callable[[], None] | None = None
        self._breaker = self._shared or CircuitBreaker(self._config)

    @property
    def breaker(self) -> CircuitBreaker:
        """The breaker this interceptor consults (the endpoint's own, once bound)."""
        return self._breaker

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint this interceptor is bound to (None for the unbound original)."""
        return self._endpoint

    @property
    def wait_for_half_open(self) -> bool:
        """Whether a caller with time to spare waits for the half-open instant."""
        return self._wait

    @property
    def state(self) -> CircuitState:
        """The breaker's state (the reference's ``State()``)."""
        return self._breaker.state

    def for_endpoint(self, endpoint: Endpoint) -> CircuitBreakerInterceptor:
        """A copy for ``endpoint``: a breaker of its own, or the shared one."""
        bound = CircuitBreakerInterceptor(
            self._shared or self._config, wait_for_half_open=self._wait
        )
        if self._shared is None:
            bound._breaker = CircuitBreaker(self._config, name=endpoint.name)
        bound._endpoint = endpoint

        def announce(old: CircuitState, new: CircuitState) -> None:
            endpoint.publish(CircuitStateChanged(endpoint.name, old, new))

        bound._detach = bound._breaker.add_listener(announce)
        return bound

    def detach(self) -> None:
        """Stop announcing the breaker's transitions to the endpoint (it has closed)."""
        if self._detach is not None:
            self._detach()
            self._detach = None

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Admit the call (or refuse it at once), run it, and report how it ended."""
        try:
            permit = self._breaker.admit()
        except CircuitOpenError as refused:
            permit = await self._admit_after(refused)
        with permit:
            await call_next(call)

    async def _admit_after(self, refused: CircuitOpenError) -> Permit:
        """Refuse the call, or (``wait_for_half_open``) wait for the half-open instant."""
        breaker = self._breaker
        for _ in range(_WAKE_UPS):
            if not self._may_wait(refused):
                break
            # Woken a float's rounding before the half-open instant, sleep the rest.
            await interruptible_sleep(refused.retry_after)
            try:
                return breaker.admit()
            except CircuitOpenError as again:
                refused = again
        await raise_refusal(refused, breaker)

    def _fuse(
        self, following: object
    ) -> Callable[[CallNext, CallNext, CallNext | None], CallNext] | None:
        """Run with a retry interceptor right inside it in one frame (see rpc's chain)."""
        from ._fused import BreakerThenRetry
        from ._retry import RetryInterceptor

        if type(following) is not RetryInterceptor:
            return None
        retry = following

        def fused(attempt: CallNext, general: CallNext, first: CallNext | None) -> CallNext:
            return BreakerThenRetry(self, retry, attempt, general, first)

        return fused

    def _may_wait(self, refused: CircuitOpenError) -> bool:
        if not self._wait or not math.isfinite(refused.retry_after) or refused.retry_after <= 0:
            return False
        return trio.current_time() + refused.retry_after < trio.current_effective_deadline()

    def __repr__(self) -> str:
        where = f" for {self._endpoint.name!r}" if self._endpoint is not None else ""
        return f"<CircuitBreakerInterceptor{where} {self._breaker.state}>"
