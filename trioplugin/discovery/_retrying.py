"""A service handle's retries: its policy, one budget for every endpoint, and when to go again."""

from __future__ import annotations

from typing import Any, final

import trio

from ..protocol import ConnectError
from ..resilience import BackoffSchedule, RetryLimiter, RetryPolicy, pushback
from ..rpc import MethodInfo
from ._stats import Counters


@final
class ServiceRetry:
    """The retry rules of one service handle (``policy`` None: no call is tried again)."""

    __slots__ = ("_counters", "_limiter", "policy")

    def __init__(self, policy: RetryPolicy | None, counters: Counters) -> None:
        self.policy = policy
        self._counters = counters
        self._limiter: RetryLimiter | None = (
            policy.budget.new_limiter()
            if policy is not None and policy.budget is not None
            else None
        )

    def started(self) -> None:
        """A call began (the budget counts calls)."""
        if self._limiter is not None:
            self._limiter.record_call()

    def succeeded(self) -> None:
        """A call's attempt succeeded."""
        if self._limiter is not None:
            self._limiter.record_outcome(failure=False)

    def schedule(self) -> BackoffSchedule | None:
        """A call's backoff sequence, made at its first failure."""
        return None if self.policy is None else self.policy.schedule()

    async def before_retry(
        self,
        method: MethodInfo[Any, Any],
        error: ConnectError,
        attempts: int,
        schedule: BackoffSchedule | None,
        *,
        sent: bool,
        now: bool,
    ) -> None:
        """Return when the next attempt may start; re-raise ``error`` if none is to be made.

        ``sent``: the request may have reached the endpoint. ``now``: the next
        attempt goes without a backoff (to another endpoint, this one unreached).
        """
        policy = self.policy
        if policy is None or schedule is None:
            raise error
        pushed = pushback(error.metadata) if policy.pushback else None
        retryable = policy.retryable(error)
        if (retryable or pushed is not None) and self._limiter is not None:
            self._limiter.record_outcome(failure=True)
        if not retryable or (pushed is not None and pushed < 0) or attempts >= policy.max_attempts:
            raise error
        if not policy.may_resend(method, request_sent=sent):
            raise error  # it may have been processed: only an idempotent method goes again
        delay = 0.0 if now else pushed if pushed is not None else schedule.next()
        if trio.current_time() + delay >= trio.current_effective_deadline():
            raise error  # the next attempt could not start in time: fail now
        if self._limiter is not None and not self._limiter.try_acquire_retry():
            raise error
        self._counters.retries += 1
        await trio.sleep(delay)
