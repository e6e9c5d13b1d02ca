"""The endpoint instruments as a custom collector: read at each scrape, nothing per call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Final, final

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ...actor import ActorStatistics
from .._instruments import ENDPOINT_INSTRUMENTS, Instrument, endpoint_readings
from ._labels import label_names, label_values

logger: Final = logging.getLogger("trioplugin.observability.prometheus")


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

    Each endpoint's ``statistics()`` is called once per collection and all
    its readings come from that one snapshot. An endpoint whose statistics
    raise is left out of that collection (logged at DEBUG). Two endpoints
    tracked under one name would give the same series twice, which
    Prometheus refuses: the one tracked first is shown.
    """

    def __init__(self) -> None:
        self._tracked: dict[object, tuple[str, Callable[[], ActorStatistics]]] = {}

    def track(self, name: str, statistics: Callable[[], ActorStatistics]) -> Callable[[], None]:
        """Read ``statistics()`` at each collection until the returned function is called."""
        token = object()
        self._tracked[token] = (name, statistics)

        def untrack() -> None:
            self._tracked.pop(token, None)

        return untrack

    def describe(self) -> Iterator[Metric]:
        """The families without samples, so that the registry knows their names."""
        for instrument in ENDPOINT_INSTRUMENTS:
            yield _family(instrument)

    def collect(self) -> Iterator[Metric]:
        """Every endpoint instrument's family, a sample per tracked endpoint (and state)."""
        families = {instrument: _family(instrument) for instrument in ENDPOINT_INSTRUMENTS}
        seen: set[tuple[Instrument, tuple[str, ...]]] = set()
        for name, statistics in list(self._tracked.values()):  # a copy: a scrape may be a thread
            try:
                readings = list(endpoint_readings(name, statistics()))
            except Exception:
                logger.debug("left out endpoint %r: its statistics failed", name, exc_info=True)
                continue
            for instrument, attributes, value in readings:
                values = label_values(instrument, attributes)
                if (instrument, values) in seen:
                    continue
                seen.add((instrument, values))
                families[instrument].add_metric(values, value)
        yield from families.values()
