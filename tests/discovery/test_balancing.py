"""The balancers and the rotation rules, on plain records (no I/O)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest

from trioplugin.actor import HealthStatus
from trioplugin.discovery import (
    DEFAULT_MAX_EJECTION_PERCENT,
    PowerOfTwoChoices,
    RoundRobin,
)
from trioplugin.discovery._rotation import Rotation
from trioplugin.resilience import CircuitState


@dataclass
class Endpoint:
    url: str
    weight: int = 1
    in_flight: int = 0
    priority: int = 0
    serving: HealthStatus = HealthStatus.SERVING
    state: CircuitState | None = CircuitState.CLOSED

    def circuit_state(self) -> CircuitState | None:
        return self.state


def test_round_robin_takes_turns() -> None:
    endpoints = [Endpoint("a"), Endpoint("b"), Endpoint("c")]
    balancer = RoundRobin()
    assert [balancer.pick(endpoints).url for _ in range(6)] == list("abcabc")


def test_round_robin_spreads_a_heavy_endpoint_smoothly() -> None:
    endpoints = [Endpoint("a", weight=5), Endpoint("b"), Endpoint("c")]
    balancer = RoundRobin()
    assert "".join(balancer.pick(endpoints).url for _ in range(7)) == "aabacaa"


def test_round_robin_with_only_zero_weights_is_even() -> None:
    endpoints = [Endpoint("a", weight=0), Endpoint("b", weight=0)]
    balancer = RoundRobin()
    assert Counter(balancer.pick(endpoints).url for _ in range(10)) == {"a": 5, "b": 5}


def test_round_robin_follows_a_changing_set() -> None:
    balancer = RoundRobin()
    a, b, c = Endpoint("a"), Endpoint("b"), Endpoint("c")
    picks = [balancer.pick([a, b]).url for _ in range(4)]
    picks += [balancer.pick([a, b, c]).url for _ in range(3)]
    assert picks[:4] == list("abab")
    assert sorted(picks[4:]) == list("abc")


def test_two_choices_prefer_the_less_busy() -> None:
    busy, idle = Endpoint("busy", in_flight=5), Endpoint("idle")
    balancer = PowerOfTwoChoices(random.Random(1))
    assert {balancer.pick([busy, idle]).url for _ in range(20)} == {"idle"}


def test_two_choices_weigh_the_load() -> None:
    # Weight 2 with 3 in flight (1.5 each) beats weight 1 with 2 in flight.
    heavy, light = Endpoint("heavy", weight=2, in_flight=3), Endpoint("light", in_flight=2)
    assert PowerOfTwoChoices(random.Random(2)).pick([heavy, light]).url == "heavy"


def test_two_choices_draw_by_weight() -> None:
    endpoints = [Endpoint("a", weight=8), Endpoint("b", weight=1), Endpoint("c", weight=1)]
    balancer = PowerOfTwoChoices(random.Random(3))
    picks = Counter(balancer.pick(endpoints).url for _ in range(3000))
    # All idle: the first draw wins ties, so picks follow the weights.
    assert picks["a"] > 5 * picks["b"] and picks["a"] > 5 * picks["c"]
    assert picks["b"] > 0 and picks["c"] > 0


def test_two_choices_of_one_is_that_one() -> None:
    only = Endpoint("only")
    assert PowerOfTwoChoices().pick([only]) is only


def test_a_bad_random_source_is_refused() -> None:
    with pytest.raises(TypeError, match="random"):
        PowerOfTwoChoices(object())  # type: ignore[arg-type]


def test_an_open_circuit_is_ejected_and_half_open_is_back() -> None:
    a, b, c = Endpoint("a"), Endpoint("b"), Endpoint("c")
    rotation = Rotation()
    b.state = CircuitState.OPEN
    kept, ejected = rotation.choose([a, b, c])
    assert [e.url for e in kept] == ["a", "c"] and ejected == {"b": "circuit open"}
    b.state = CircuitState.HALF_OPEN
    kept, ejected = rotation.choose([a, b, c])
    assert len(kept) == 3 and ejected == {}


def test_the_cap_keeps_the_latest_to_fail_in_rotation() -> None:
    endpoints = [Endpoint(name) for name in "abcd"]
    rotation = Rotation(50)
    for name in "cab":  # c fails first, then a, then b
        endpoints["abcd".index(name)].state = CircuitState.OPEN
        kept, ejected = rotation.choose(endpoints)
    assert set(ejected) == {"c", "a"}
    assert [e.url for e in kept] == ["b", "d"]
    assert rotation.allowed(4) == 2 and rotation.allowed(1) == 1 and rotation.allowed(3) == 1


def test_no_ejection_at_zero_percent() -> None:
    endpoints = [Endpoint("a", state=CircuitState.OPEN), Endpoint("b")]
    kept, ejected = Rotation(0).choose(endpoints)
    assert len(kept) == 2 and ejected == {}


def test_health_takes_part() -> None:
    serving = Endpoint("a")
    degraded = Endpoint("b", serving=HealthStatus.DEGRADED)
    down = Endpoint("c", serving=HealthStatus.NOT_SERVING)
    rotation = Rotation(100)
    kept, ejected = rotation.choose([serving, degraded, down])
    assert [e.url for e in kept] == ["a"] and ejected == {"c": "not serving"}
    serving.state = CircuitState.OPEN  # degraded takes calls when no serving one is left
    kept, _ = rotation.choose([serving, degraded, down])
    assert [e.url for e in kept] == ["b"]


def test_only_the_lowest_priority_takes_calls() -> None:
    first, backup = Endpoint("a", priority=0), Endpoint("b", priority=10)
    rotation = Rotation()
    assert [e.url for e in rotation.choose([first, backup])[0]] == ["a"]
    first.state = CircuitState.OPEN
    assert [e.url for e in rotation.choose([first, backup])[0]] == ["b"]


def test_the_percent_is_checked() -> None:
    assert DEFAULT_MAX_EJECTION_PERCENT == 50
    for bad in (-1, 101, 1.5, True):
        with pytest.raises(ValueError, match="max_ejection_percent"):
            Rotation(bad)  # type: ignore[arg-type]
