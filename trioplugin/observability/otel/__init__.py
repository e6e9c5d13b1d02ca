"""OpenTelemetry for trioplugin's calls and endpoints: traces and metrics (the ``otel`` extra).

:class:`TracingInterceptor` traces every call, client and server, after the
OpenTelemetry semantic conventions for Connect RPC, and carries the trace
context in the request headers (W3C ``traceparent``, with the global
propagator), so a host's call, the plugin's handler and the calls that
handler makes read as one trace. Its :class:`AttemptTracer` companion adds a
span per attempt of a retried call.

:class:`OtelMetrics` is a :class:`~trioplugin.observability.MetricsSink`:
given to a :class:`~trioplugin.observability.MetricsInterceptor`, it
records each call's duration and sizes in histograms named as the
OpenTelemetry RPC conventions name them, and observes each endpoint's
queued and in-flight calls, circuit breaker and retries at every
collection.

This package is the only part of trioplugin that imports OpenTelemetry, and
it needs the API only (``pip install trioplugin[otel]``); the application
installs the SDK and its exporters, as OpenTelemetry intends.
"""

from ..._util import publish_module_names as _publish_module_names
from ._metrics import OtelMetrics
from ._tracing import AttemptTracer, TracingInterceptor

__all__ = [
    "AttemptTracer",
    "OtelMetrics",
    "TracingInterceptor",
]

_publish_module_names(__name__, globals())
