"""Prometheus metrics: trioplugin's calls and endpoints in a ``prometheus_client`` registry.

The ``prometheus`` extra (``pip install trioplugin[prometheus]``).
:class:`PrometheusMetrics` is the sink a
:class:`~trioplugin.observability.MetricsInterceptor` measures calls for:
histograms of every call's duration and sizes, and each endpoint's queue,
breaker and retry budget read when scraped. Any ``prometheus_client``
exposition serves the registry.
"""

from ..._util import publish_module_names as _publish_module_names
from ._labels import LABEL_NAMES
from ._sink import PrometheusMetrics

__all__ = [
    "LABEL_NAMES",
    "PrometheusMetrics",
]

_publish_module_names(__name__, globals())
