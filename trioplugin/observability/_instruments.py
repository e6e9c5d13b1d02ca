"""What the metrics adapters emit, once: each instrument's names, unit, kind and labels.

The OpenTelemetry adapter uses the ``otel`` names and the attribute keys;
the Prometheus adapter the ``prometheus`` names and the label names. Both
read the same :class:`~trioplugin.observability.CallRecord` and the same
endpoint statistics through the functions below, so their content is the
same by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from ..actor import ActorStatistics
from ..resilience import CircuitState
from ._metrics import RPC_SYSTEM, CallRecord

DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1,
    2.5,
    5,
    7.5,
    10,
)
"""Seconds: the boundaries the OpenTelemetry RPC conventions give ``rpc.*.call.duration``."""

SIZE_BUCKETS: Final = (0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)
"""Bytes: 0 (an empty message), then powers of four from 64 B to 16 MiB."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """One metric, as both adapters name it."""

    otel: str
    prometheus: str
    kind: Literal["histogram", "counter", "gauge"]
    unit: str
    """UCUM, as OpenTelemetry wants it (``s``, ``By``, ``{call}``)."""
    description: str
    labels: tuple[str, ...]
    """OpenTelemetry attribute keys, in the order the Prometheus labels take."""


def _per_call(side: str, what: str, otel: str, prometheus: str, unit: str, text: str) -> Instrument:
    labels: tuple[str, ...] = ("rpc.system.name", "rpc.method", "rpc.status_code", "error.type")
    if side == "client":
        labels += ("trioplugin.endpoint",)
    return Instrument(otel, prometheus, "histogram", unit, f"{text} ({what}).", labels)


def _call_instruments(side: str) -> tuple[Instrument, Instrument, Instrument]:
    what = "outgoing" if side == "client" else "incoming"
    return (
        _per_call(
            side,
            what,
            f"rpc.{side}.call.duration",
            f"rpc_{side}_call_duration_seconds",
            "s",
            "Duration of a Remote Procedure Call, every attempt included",
        ),
        _per_call(
            side,
            what,
            f"trioplugin.rpc.{side}.request.size",
            f"trioplugin_rpc_{side}_request_size_bytes",
            "By",
            "Encoded size of a call's request messages, summed",
        ),
        _per_call(
            side,
            what,
            f"trioplugin.rpc.{side}.response.size",
            f"trioplugin_rpc_{side}_response_size_bytes",
            "By",
            "Encoded size of a call's response messages, summed",
        ),
    )


CLIENT_CALLS: Final = _call_instruments("client")
"""Duration, request size and response size of the calls a client makes."""
SERVER_CALLS: Final = _call_instruments("server")
"""Duration, request size and response size of the calls a server answers."""


def _endpoint(
    name: str, prometheus: str, kind: Literal["counter", "gauge"], unit: str, text: str
) -> Instrument:
    labels: tuple[str, ...] = ("trioplugin.endpoint",)
    if name == "circuit.state":
        labels += ("trioplugin.circuit.state",)
    return Instrument(f"trioplugin.endpoint.{name}", prometheus, kind, unit, text, labels)


QUEUED: Final = _endpoint(
    "calls.queued", "trioplugin_endpoint_queued_calls", "gauge", "{call}",
    "Calls waiting in the endpoint actor's inbox for admission.",
)  # fmt: skip
IN_FLIGHT: Final = _endpoint(
    "calls.in_flight", "trioplugin_endpoint_in_flight_calls", "gauge", "{call}",
    "Calls the endpoint actor has admitted and that are running.",
)  # fmt: skip
CIRCUIT_STATE: Final = _endpoint(
    "circuit.state", "trioplugin_endpoint_circuit_state", "gauge", "1",
    "1 for the state the endpoint's circuit breaker is in, 0 for the others.",
)  # fmt: skip
CIRCUIT_OPENED: Final = _endpoint(
    "circuit.opened", "trioplugin_endpoint_circuit_opened_total", "counter", "{transition}",
    "Times the endpoint's circuit breaker opened.",
)  # fmt: skip
CIRCUIT_REJECTED: Final = _endpoint(
    "circuit.rejected", "trioplugin_endpoint_circuit_rejected_total", "counter", "{call}",
    "Calls the endpoint's open circuit breaker refused.",
)  # fmt: skip
RETRIES: Final = _endpoint(
    "retries", "trioplugin_endpoint_retries_total", "counter", "{attempt}",
    "Attempts beyond the first a call's retry policy made (hedges included).",
)  # fmt: skip
HEDGES: Final = _endpoint(
    "hedges", "trioplugin_endpoint_hedges_total", "counter", "{attempt}",
    "Hedged attempts sent beyond the first of a hedged call.",
)  # fmt: skip
RETRIES_THROTTLED: Final = _endpoint(
    "retries.throttled", "trioplugin_endpoint_retries_throttled_total", "counter", "{attempt}",
    "Retries or hedges the endpoint's retry budget refused.",
)  # fmt: skip
RETRY_BUDGET: Final = _endpoint(
    "retry_budget.balance", "trioplugin_endpoint_retry_budget_tokens", "gauge", "{token}",
    "Retries the endpoint's retry budget (or throttle) allows now.",
)  # fmt: skip

ENDPOINT_INSTRUMENTS: Final = (
    QUEUED,
    IN_FLIGHT,
    CIRCUIT_STATE,
    CIRCUIT_OPENED,
    CIRCUIT_REJECTED,
    RETRIES,
    HEDGES,
    RETRIES_THROTTLED,
    RETRY_BUDGET,
)
"""Read from an endpoint actor's statistics when metrics are collected."""


def call_attributes(record: CallRecord) -> dict[str, str]:
    """The attributes of a call's measurements, keyed as the instruments' labels.

    ``error.type`` only when it failed, and ``trioplugin.endpoint`` only on
    a client bound to an endpoint, as OpenTelemetry wants; a Prometheus
    label left out reads as empty.
    """
    attributes = {
        "rpc.system.name": RPC_SYSTEM,
        "rpc.method": record.rpc_method,
        "rpc.status_code": record.code,
    }
    if record.error_type is not None:
        attributes["error.type"] = record.error_type
    if record.endpoint is not None and record.side == "client":
        attributes["trioplugin.endpoint"] = record.endpoint
    return attributes


Reading = tuple[Instrument, dict[str, str], float]
"""An instrument, its attributes, and its value now."""


def endpoint_readings(name: str, statistics: ActorStatistics) -> Iterator[Reading]:
    """What the endpoint instruments read now for the endpoint ``name``.

    The breaker's and the retry budget's only when the endpoint has them.
    """
    labels = {"trioplugin.endpoint": name}
    yield QUEUED, labels, statistics.queued
    yield IN_FLIGHT, labels, statistics.in_flight
    circuit = statistics.circuit
    if circuit is not None:
        for state in CircuitState:
            value = 1.0 if circuit.state is state else 0.0
            yield CIRCUIT_STATE, labels | {"trioplugin.circuit.state": state.value}, value
        yield CIRCUIT_OPENED, labels, circuit.times_opened
        yield CIRCUIT_REJECTED, labels, circuit.rejected
    retry = statistics.retry
    if retry is not None:
        yield RETRIES, labels, retry.retries
        yield HEDGES, labels, retry.hedges
        yield RETRIES_THROTTLED, labels, retry.throttled
        if retry.budget is not None:
            yield RETRY_BUDGET, labels, retry.budget.balance
