"""Which of a service's endpoints take calls now: ejection, its cap, health and priority."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Protocol, TypeVar, final

from ..actor import HealthStatus
from ..resilience import CircuitState

DEFAULT_MAX_EJECTION_PERCENT: Final = 50
"""At most this share of a service's endpoints is out of rotation for failing at once.

Envoy's ``max_ejection_percent`` idea (its default is 10 %, for clusters of
many hosts; a plugin's service has a handful of replicas, where 10 % would
eject none but for Envoy's at-least-one rule). At least one endpoint may be
ejected, whatever the share.
"""


class Listed(Protocol):
    """An endpoint as the rotation sees it."""

    @property
    def url(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def serving(self) -> HealthStatus: ...
    def circuit_state(self) -> CircuitState | None: ...


T = TypeVar("T", bound=Listed)


@final
class Rotation:
    """The rotation's rules, and its memory: in which order the failing endpoints failed."""

    __slots__ = ("_failing_since", "_order", "max_ejection_percent")

    def __init__(self, max_ejection_percent: int = DEFAULT_MAX_EJECTION_PERCENT) -> None:
        value = max_ejection_percent
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            raise ValueError(f"max_ejection_percent must be an int from 0 to 100, not {value!r}")
        self.max_ejection_percent = value
        self._failing_since: dict[str, int] = {}  # by URL: the earliest to fail are ejected first
        self._order = 0

    def allowed(self, endpoints: int) -> int:
        """How many of ``endpoints`` may be ejected at once."""
        if self.max_ejection_percent == 0:
            return 0
        return max(1, math.floor(endpoints * self.max_ejection_percent / 100))

    def choose(self, listed: Sequence[T]) -> tuple[list[T], dict[str, str]]:
        """The endpoints in rotation, and those ejected (URL to reason).

        An endpoint fails while its circuit is open or its health says not
        serving (a half-open circuit is back in rotation: it takes the
        probes). Of the failing ones, the earliest to fail are ejected, up
        to :meth:`allowed`; the rest stay in rotation (their breakers refuse
        calls fast). Of those in rotation, degraded ones take calls only
        when no serving one is left, and only the lowest priority present
        takes calls (SRV's rule).
        """
        failing = self._failing_since
        if not failing and _all_well(listed):  # the usual case, in one pass
            return list(listed), {}
        reasons: dict[str, str] = {}
        for endpoint in listed:
            why = _failure(endpoint)
            if why is None:
                failing.pop(endpoint.url, None)
                continue
            reasons[endpoint.url] = why
            if endpoint.url not in failing:
                self._order += 1
                failing[endpoint.url] = self._order
        for url in [url for url in failing if url not in reasons]:
            del failing[url]  # no longer listed
        earliest = sorted(reasons, key=failing.__getitem__)[: self.allowed(len(listed))]
        ejected = {url: reasons[url] for url in earliest}
        kept = [endpoint for endpoint in listed if endpoint.url not in ejected]
        serving = [endpoint for endpoint in kept if endpoint.serving is not HealthStatus.DEGRADED]
        kept = serving or kept
        if kept:
            lowest = min(endpoint.priority for endpoint in kept)
            kept = [endpoint for endpoint in kept if endpoint.priority == lowest]
        return kept, ejected


def _all_well(listed: Sequence[Listed]) -> bool:
    """Whether every endpoint serves, none is failing, and all share one priority."""
    if not listed:
        return True
    priority = listed[0].priority
    return all(
        endpoint.serving is HealthStatus.SERVING
        and endpoint.priority == priority
        and endpoint.circuit_state() is not CircuitState.OPEN
        for endpoint in listed
    )


def _failure(endpoint: Listed) -> str | None:
    if endpoint.circuit_state() is CircuitState.OPEN:
        return "circuit open"
    if endpoint.serving is HealthStatus.NOT_SERVING:
        return "not serving"
    return None
