"""Observability: what a plugin host's calls did, for operators.

:class:`LoggingInterceptor` logs one record per call (and, through its
companion, one per attempt), client and server, with structured fields and
no secrets. :class:`MetricsInterceptor` measures calls for a
:class:`MetricsSink`. What needs OpenTelemetry or prometheus_client (this
package imports neither) is in :mod:`trioplugin.observability.otel` (the
tracing interceptor and the OpenTelemetry metrics sink; the ``otel`` extra)
and ``trioplugin.observability.prometheus`` (the ``prometheus`` extra).
"""

from .._util import publish_module_names as _publish_module_names
from ._logging import CLIENT_LOGGER, SERVER_LOGGER, AttemptLogger, LoggingInterceptor
from ._metrics import RPC_SYSTEM, CallRecord, MetricsInterceptor, MetricsSink
from ._redact import REDACTED, SENSITIVE_HEADERS

__all__ = [
    "CLIENT_LOGGER",
    "REDACTED",
    "RPC_SYSTEM",
    "SENSITIVE_HEADERS",
    "SERVER_LOGGER",
    "AttemptLogger",
    "CallRecord",
    "LoggingInterceptor",
    "MetricsInterceptor",
    "MetricsSink",
]

_publish_module_names(__name__, globals())
