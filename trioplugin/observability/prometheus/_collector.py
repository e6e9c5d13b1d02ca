"""The endpoint instruments as a custom collector: read at each scrape, nothing per call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, final

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ...actor import ActorStatistics
from .._instruments import ENDPOINT_INSTRUMENTS, Instrument, endpoint_readings
from .._tracking import TrackedEndpoints
from ._labels import label_names, label_values

READ_TIMEOUT: Final = 1.0
"""Seconds a scrape from another thread waits for an endpoint's trio run to read it."""


def _family(instrument: Instrument) -> GaugeMetricFamily | CounterMetricFamily:
    labels = label_names(instrument)
    if instrument.kind == "counter":
        # CounterMetricFamily adds the _total the catalogue's name already has.
        name = instrument.prometheus.removesuffix("_total")
        return CounterMetricFamily(name, instrument.description, labels=labels)
    return GaugeMetricFamily(instrument.prometheus, instrument.description, labels=labels)


@final
class EndpointCollector(Collector):
    """Queued and in-flight calls, breaker and retry budget of every tracked endpoint.

    Each endpoint's ``statistics()`` is called once per collection, in its
    own trio thread (a scrape may come from prometheus_client's HTTP server
    thread), and all its readings come from that one snapshot. An endpoint
    whose statistics raise, or whose trio run does not answer within
    ``READ_TIMEOUT``, is left out of that collection (logged at DEBUG). Two
    endpoints tracked under one name are shown as the one tracked last.
    """

    def __init__(self) -> None:
        self._tracked = TrackedEndpoints()

    def track(self, name: str, statistics: Callable[[], ActorStatistics]) -> Callable[[], None]:
        """Read ``statistics()`` at each collection until the returned function is called."""
        return self._tracked.track(name, statistics)

    def describe(self) -> Iterator[Metric]:
        """The families without samples, so that the registry knows their names."""
        for instrument in ENDPOINT_INSTRUMENTS:
            yield _family(instrument)

    def collect(self) -> Iterator[Metric]:
        """Every endpoint instrument's family, a sample per tracked endpoint (and state)."""
        families = {instrument: _family(instrument) for instrument in ENDPOINT_INSTRUMENTS}
        for name, statistics in self._tracked.read(READ_TIMEOUT):
            for instrument, attributes, value in endpoint_readings(name, statistics):
                families[instrument].add_metric(label_values(instrument, attributes), value)
        yield from families.values()
