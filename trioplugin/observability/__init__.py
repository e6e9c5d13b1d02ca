"""Observability: what a plugin host's calls did, for operators — logging first.

:class:`LoggingInterceptor` logs one record per call (and, through its
companion, one per attempt), client and server, with structured fields and
no secrets. Tracing is in :mod:`trioplugin.observability.otel`, which
imports OpenTelemetry (this package does not); metrics come next.
"""

from .._util import publish_module_names as _publish_module_names
from ._logging import CLIENT_LOGGER, SERVER_LOGGER, AttemptLogger, LoggingInterceptor
from ._redact import REDACTED, SENSITIVE_HEADERS

__all__ = [
    "CLIENT_LOGGER",
    "REDACTED",
    "SENSITIVE_HEADERS",
    "SERVER_LOGGER",
    "AttemptLogger",
    "LoggingInterceptor",
]

_publish_module_names(__name__, globals())
