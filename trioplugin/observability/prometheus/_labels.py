"""The Prometheus label names of the catalogue's OpenTelemetry attribute keys: one table."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from .._instruments import Instrument

LABEL_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "rpc.system.name": "system",
        "rpc.method": "method",
        "rpc.status_code": "code",
        "error.type": "error_type",
        "trioplugin.endpoint": "endpoint",
        "trioplugin.circuit.state": "state",
    }
)
"""Each OpenTelemetry attribute key the metrics carry, and the Prometheus label it becomes.

The rule: the key without its namespace, in the one word that names what it
holds (``system``, ``method``, ``code``, ``endpoint``, ``state``), except
``error_type``, where ``type`` alone would say nothing. Label values are the
attribute values unchanged; an attribute a measurement lacks (``error.type``
on a success, ``trioplugin.endpoint`` on a server) is the empty value, which
PromQL reads as an absent label.
"""


def label_names(instrument: Instrument) -> tuple[str, ...]:
    """The instrument's Prometheus label names, in the catalogue's order."""
    return tuple(LABEL_NAMES[key] for key in instrument.labels)


def label_values(instrument: Instrument, attributes: Mapping[str, str]) -> tuple[str, ...]:
    """The instrument's label values for ``attributes``, ``""`` for each one missing."""
    return tuple(attributes.get(key, "") for key in instrument.labels)
