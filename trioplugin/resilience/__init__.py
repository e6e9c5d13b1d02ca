"""Resilience: retry and circuit breaking, owned by each endpoint's actor.

The reference is connect-plugin-go's interceptors guide: :class:`RetryPolicy`
and :class:`RetryInterceptor`, :class:`CircuitBreakerConfig`,
:class:`CircuitBreaker` and :class:`CircuitBreakerInterceptor`, with the same
names, fields and defaults. Beyond it: deadline-aware retries, pushback,
retry budgets (:class:`RetryBudget`, :class:`RetryThrottling`), hedging,
sliding failure-rate windows and operator controls. Both interceptors keep
their state per endpoint (see ``docs/guides/interceptors.md``).
"""

from .._util import publish_module_names as _publish_module_names
from ._backoff import BackoffSchedule, Jitter, RandomSource, exponential_backoff
from ._breaker import (
    DEFAULT_FAILURE_CODES,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerStatistics,
    CircuitState,
    Permit,
    StateListener,
    is_failure_by_default,
)
from ._breaker_interceptor import YIELD_EVERY, CircuitBreakerInterceptor, raise_refusal
from ._errors import AttemptTimeoutError, CircuitOpenError, timed_out_remotely
from ._events import CircuitStateChanged, RetryScheduled
from ._limiters import RetryBudget, RetryLimiter, RetryLimiterStatistics, RetryThrottling
from ._policy import (
    DEFAULT_MAX_REPLAY_BYTES,
    RETRYABLE_CODES,
    HedgingPolicy,
    RetryPolicy,
    is_retryable_by_default,
)
from ._pushback import GRPC_RETRY_PUSHBACK_MS, RETRY_AFTER, pushback
from ._retry import RetryInterceptor, RetryStatistics
from ._windows import FailureRateWindow

__all__ = [
    "DEFAULT_FAILURE_CODES",
    "DEFAULT_MAX_REPLAY_BYTES",
    "GRPC_RETRY_PUSHBACK_MS",
    "RETRYABLE_CODES",
    "RETRY_AFTER",
    "YIELD_EVERY",
    "AttemptTimeoutError",
    "BackoffSchedule",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitBreakerInterceptor",
    "CircuitBreakerStatistics",
    "CircuitOpenError",
    "CircuitState",
    "CircuitStateChanged",
    "FailureRateWindow",
    "HedgingPolicy",
    "Jitter",
    "Permit",
    "RandomSource",
    "RetryBudget",
    "RetryInterceptor",
    "RetryLimiter",
    "RetryLimiterStatistics",
    "RetryPolicy",
    "RetryScheduled",
    "RetryStatistics",
    "RetryThrottling",
    "StateListener",
    "exponential_backoff",
    "is_failure_by_default",
    "is_retryable_by_default",
    "pushback",
    "raise_refusal",
    "timed_out_remotely",
]

_publish_module_names(__name__, globals())
