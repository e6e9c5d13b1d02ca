"""OpenTelemetry for trioplugin's calls and endpoints (the ``otel`` extra).

:class:`OtelMetrics` is a :class:`~trioplugin.observability.MetricsSink`:
given to a :class:`~trioplugin.observability.MetricsInterceptor`, it
records each call's duration and sizes in histograms named as the
OpenTelemetry RPC conventions name them, and observes each endpoint's
queued and in-flight calls, circuit breaker and retries at every
collection. It needs only the OpenTelemetry API (``pip install
trioplugin[otel]``); the application brings the SDK and its exporters.
"""

from ..._util import publish_module_names as _publish_module_names
from ._metrics import OtelMetrics

__all__ = [
    "OtelMetrics",
]

_publish_module_names(__name__, globals())
