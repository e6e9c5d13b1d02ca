"""A refusal says what opened the circuit: the last failure the breaker counted."""

from __future__ import annotations

import pickle

import pytest

from tests.resilience.test_breaker import half_open, opened, outage
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import CircuitOpenError


def test_an_open_circuits_refusal_names_the_failure_that_opened_it() -> None:
    r = opened(failure_threshold=2)
    refused = r.rejection()
    assert refused.last_failure is not None
    assert refused.last_failure.code is Code.UNAVAILABLE
    assert refused.message.startswith("circuit open for 'kv'")
    assert refused.message.endswith("(last failure: unavailable: connection refused)")


def test_a_later_failure_replaces_it_and_a_half_open_refusal_names_it_too() -> None:
    r = half_open(failure_threshold=1, max_probes=1)
    probe = r.breaker.admit()
    refused = r.rejection()  # the one probe slot is taken
    assert refused.reason == "half_open"
    assert refused.last_failure is not None
    probe.record(ConnectError(Code.INTERNAL, "plugin crashed"))
    again = r.rejection()
    assert again.last_failure is not None
    assert again.message.endswith("(last failure: internal: plugin crashed)")


def test_a_forced_open_circuit_names_no_failure() -> None:
    r = opened()
    r.breaker.force_open()
    refused = r.rejection()
    assert refused.reason == "forced"
    assert refused.last_failure is None
    assert "last failure" not in refused.message


def test_the_cause_survives_pickling() -> None:
    refused = CircuitOpenError("kv", 1.5, last_failure=outage())
    copy = pickle.loads(pickle.dumps(refused))
    assert copy.last_failure is not None
    assert copy.last_failure.message == "connection refused"
    assert copy.message == refused.message


def test_a_healthy_breaker_keeps_no_cause() -> None:
    r = opened(failure_threshold=1)
    r.clock.now = 10.0
    for _ in range(2):
        r.breaker.admit().record(None)  # the probes close it
    r.breaker.force_open()
    with pytest.raises(CircuitOpenError) as caught:
        r.breaker.admit()
    assert caught.value.last_failure is None
