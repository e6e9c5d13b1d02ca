"""Prometheus metrics: trioplugin's calls and endpoints in a ``prometheus_client`` registry.

The ``prometheus`` extra (``pip install trioplugin[prometheus]``).
:class:`PrometheusMetrics` is the sink a
:class:`~trioplugin.observability.MetricsInterceptor` measures calls for:
histograms of every call's duration and sizes, and each endpoint's queue,
breaker and retry budget read when scraped. :func:`open_metrics_server`
(or :func:`serve_metrics`, for :meth:`trio.Nursery.start`) serves a registry
at ``GET /metrics`` on trio, with no thread; any other ``prometheus_client``
exposition serves it as well::

    registry = CollectorRegistry()
    metrics = MetricsInterceptor(PrometheusMetrics(registry))
    async with open_metrics_server(registry, port=9464), open_plugin_nursery() as host:
        kv = await host.connect("kv", url, interceptors=[metrics, breaker, retry])
"""

from ..._util import publish_module_names as _publish_module_names
from ._http import METRICS_PATH, open_metrics_server, serve_metrics
from ._labels import LABEL_NAMES
from ._sink import PrometheusMetrics

__all__ = [
    "LABEL_NAMES",
    "METRICS_PATH",
    "PrometheusMetrics",
    "open_metrics_server",
    "serve_metrics",
]

_publish_module_names(__name__, globals())
