"""The retry interceptor: the reference's, deadline-aware, budgeted, state per endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, final

import trio

from ..protocol import ConnectError
from ..rpc import Call, CallNext, Endpoint, interruptible_sleep
from ._backoff import BackoffSchedule
from ._errors import AttemptTimeoutError, CircuitOpenError
from ._events import RetryScheduled
from ._hedging import hedge
from ._limiters import RetryLimiter, RetryLimiterStatistics
from ._policy import HedgingPolicy, RetryPolicy
from ._pushback import REFUSED, pushback


@final
@dataclass(frozen=True, slots=True)
class RetryStatistics:
    """What one endpoint's retry interceptor has done."""

    calls: int
    """Calls that went through it."""
    retries: int
    """Attempts beyond the first (hedges included)."""
    hedges: int
    """Hedged attempts sent (beyond the first of a hedged call)."""
    throttled: int
    """Retries or hedges the budget refused."""
    budget: RetryLimiterStatistics | None
    """The endpoint's retry budget or throttle, if the policy has one."""


class _Counters:
    __slots__ = ("calls", "hedges", "retries", "throttled")

    def __init__(self) -> None:
        self.calls = 0
        self.retries = 0
        self.hedges = 0
        self.throttled = 0


@final
class RetryInterceptor:
    """Retries failed calls by a :class:`RetryPolicy`: connect-plugin-go's ``RetryInterceptor``.

    Give it to :meth:`PluginNursery.connect` (or a client) like any
    interceptor; each endpoint it serves gets its own budget and counters
    (bound with :meth:`for_endpoint`), unless ``limiter`` is given, which is
    then shared on purpose. Each retry is one more ``call_next``, so
    interceptors inside it see every attempt and those outside see the call.

    A retry never sleeps past the caller's deadline: when the next attempt
    could not start before it, the last error is raised at once. The caller's
    own cancellation or deadline ends the call as trio's ``Cancelled``; it is
    never retried. A stream is retried only before its first response
    message, and a method not declared idempotent only while its request
    surely never reached the handler (unless the policy opts in). With
    ``hedging``, idempotent unary calls are hedged instead of retried.
    """

    __slots__ = ("_counters", "_endpoint", "_hedging", "_limiter", "_policy", "_shared")

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        hedging: HedgingPolicy | None = None,
        limiter: RetryLimiter | None = None,
    ) -> None:
        self._policy = policy if policy is not None else RetryPolicy()
        self._hedging = hedging
        self._shared = limiter
        self._limiter = limiter if limiter is not None else _new_limiter(self._policy)
        self._endpoint: Endpoint | None = None
        self._counters = _Counters()

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy."""
        return self._policy

    @property
    def hedging(self) -> HedgingPolicy | None:
        """The hedging policy, if idempotent unary calls are hedged."""
        return self._hedging

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint this interceptor is bound to (None for the unbound original)."""
        return self._endpoint

    @property
    def limiter(self) -> RetryLimiter | None:
        """The retry budget or throttle this interceptor draws on, if any."""
        return self._limiter

    def for_endpoint(self, endpoint: Endpoint) -> RetryInterceptor:
        """A copy with counters and budget of its own (the shared limiter, if one was given)."""
        bound = RetryInterceptor(self._policy, hedging=self._hedging, limiter=self._shared)
        bound._endpoint = endpoint
        return bound

    def statistics(self) -> RetryStatistics:
        """Calls, retries, hedges and throttled retries so far, and the budget."""
        counters = self._counters
        return RetryStatistics(
            calls=counters.calls,
            retries=counters.retries,
            hedges=counters.hedges,
            throttled=counters.throttled,
            budget=self._limiter.statistics() if self._limiter is not None else None,
        )

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Run the call, retrying it by the policy."""
        if not call.is_client:
            await call_next(call)
            return
        if self.begin(call):
            await self.hedge(call, call_next)
            return
        await self.attempts(call, call_next)

    def begin(self, call: Call[Any, Any]) -> bool:
        """Count a client call about to start; say whether it is to be hedged."""
        self._counters.calls += 1
        if self._limiter is not None:
            self._limiter.record_call()
        hedging = self._hedging
        return hedging is not None and hedging.applies_to(call.method)

    async def hedge(self, call: Call[Any, Any], call_next: CallNext) -> None:
        """Run a call :meth:`begin` said is hedged."""
        assert self._hedging is not None
        await hedge(call, call_next, self._hedging, self)

    async def attempts(
        self, call: Call[Any, Any], call_next: CallNext, *, first: CallNext | None = None
    ) -> None:
        """Run a client call's attempts by the policy (after :meth:`begin`).

        ``first``, if given, is the innermost end, which a unary call's first
        attempt may run on the call itself, without a fork (see the chain).
        """
        # The attempts run from this frame (no helper coroutine in between when
        # there is no attempt timeout): every suspension of a call passes
        # through each frame of the chain, twice.
        policy = self._policy
        call.replay_limit = max(call.replay_limit, policy.max_replay_bytes)
        schedule: BackoffSchedule | None = None  # made at the first failure: most calls never fail
        timed = policy.attempt_timeout is not None
        while True:
            try:
                if first is not None and not timed and call.may_run_unforked():
                    try:
                        await first(call)
                    finally:
                        call.ran_unforked()
                elif timed:
                    await self._attempt(call, call_next)
                else:
                    await call_next(call)
            except ConnectError as error:
                if schedule is None:
                    schedule = policy.schedule()
                delay, pushed = self._next_wait(call, error, schedule)
                if delay is None:
                    raise
                self._publish(
                    RetryScheduled(
                        self._plugin(),
                        call.method.procedure,
                        call.attempt + 1,
                        delay,
                        error,
                        pushback=pushed,
                    )
                )
                self._counters.retries += 1
                await interruptible_sleep(delay)
            else:
                self.record_outcome(failure=False)
                return

    async def _attempt(self, call: Call[Any, Any], call_next: CallNext) -> None:
        timeout = self._policy.attempt_timeout
        assert timeout is not None
        with trio.move_on_after(timeout) as scope:
            await call_next(call)
        if scope.cancelled_caught:
            await trio.lowlevel.checkpoint_if_cancelled()  # the caller's own deadline wins
            raise AttemptTimeoutError(call.method.procedure, call.attempt, timeout)

    def _next_wait(
        self, call: Call[Any, Any], error: ConnectError, schedule: BackoffSchedule
    ) -> tuple[float | None, bool]:
        """How long to wait before the next attempt, or None to give up; and if it was pushback."""
        policy = self._policy
        if isinstance(error, CircuitOpenError):
            return None, False  # never hammer an open circuit, nor spend budget on it
        pushed = (
            pushback(error.metadata, call.response_headers, call.response_trailers)
            if policy.pushback
            else None
        )
        retryable = policy.retryable(error)
        if retryable or pushed is not None:
            self.record_outcome(failure=True)
        if not retryable or pushed == REFUSED:
            return None, False
        if call.attempt >= policy.max_attempts or call.responses_received:
            return None, False
        if not policy.may_resend(call.method, call.request_sent) or not call.replayable:
            return None, False
        if pushed is not None:
            schedule.reset()
            delay = pushed
        else:
            delay = schedule.next()
        if trio.current_time() + delay >= trio.current_effective_deadline():
            return None, False  # the next attempt could not start in time: fail now
        if self._limiter is not None and not self._limiter.try_acquire_retry():
            self._counters.throttled += 1
            return None, False
        return delay, pushed is not None

    # -- what hedging asks of the interceptor (see _hedging.HedgeHost) ----------------

    def allow_hedge(self, call: Call[Any, Any], attempt: int) -> bool:
        """Spend the budget on one more hedge of ``call``, and say so; False if refused."""
        if self._limiter is not None and not self._limiter.try_acquire_retry():
            self._counters.throttled += 1
            return False
        self._counters.retries += 1
        self._counters.hedges += 1
        self._publish(
            RetryScheduled(self._plugin(), call.method.procedure, attempt, 0.0, None, hedge=True)
        )
        return True

    def record_outcome(self, *, failure: bool) -> None:
        """Tell the budget how an attempt ended (a retryable failure, or a success)."""
        if self._limiter is not None:
            self._limiter.record_outcome(failure=failure)

    def _plugin(self) -> str:
        return self._endpoint.name if self._endpoint is not None else ""

    def _publish(self, event: RetryScheduled) -> None:
        if self._endpoint is not None:
            self._endpoint.publish(event)

    def __repr__(self) -> str:
        where = f" for {self._endpoint.name!r}" if self._endpoint is not None else ""
        return f"<RetryInterceptor{where} {self._policy!r}>"


def _new_limiter(policy: RetryPolicy) -> RetryLimiter | None:
    return policy.budget.new_limiter() if policy.budget is not None else None
