"""How a service handle picks one of the endpoints in rotation: round robin, or two choices."""

from __future__ import annotations

import random as _random
from collections.abc import Sequence
from typing import Protocol, TypeVar, final, runtime_checkable

from ..resilience import RandomSource


class Candidate(Protocol):
    """An endpoint a balancer may pick: what it is, what it weighs, how busy it is."""

    @property
    def url(self) -> str:
        """The endpoint's base URL (its identity)."""
        ...

    @property
    def weight(self) -> int:
        """Its SRV weight (1 where the source has none)."""
        ...

    @property
    def in_flight(self) -> int:
        """Calls the service handle has sent it that have not ended."""
        ...


C = TypeVar("C", bound=Candidate)


@runtime_checkable
class Balancer(Protocol):
    """Picks the endpoint for a call among those in rotation (never an empty list)."""

    def pick(self, candidates: Sequence[C]) -> C:
        """One of ``candidates``."""
        ...


def _weights(candidates: Sequence[Candidate]) -> list[int]:
    """Each candidate's weight; all alike when every one is 0 (RFC 2782's rule)."""
    weights = [candidate.weight for candidate in candidates]
    return weights if any(weights) else [1] * len(weights)


@final
class RoundRobin:
    """Each endpoint in turn, as often as its weight says (smooth weighted round robin).

    With weights 5, 1, 1 the turns go a a b a c a a, not a a a a a b c: the
    heavy endpoint's calls are spread between the others' (nginx's rule).
    An endpoint that joins the rotation starts its count afresh.
    """

    __slots__ = ("_current",)

    def __init__(self) -> None:
        self._current: dict[str, int] = {}

    def pick(self, candidates: Sequence[C]) -> C:
        """The next candidate in turn."""
        if len(candidates) == 1:
            return candidates[0]
        weights = _weights(candidates)
        current = {candidate.url: self._current.get(candidate.url, 0) for candidate in candidates}
        best = 0
        for index, candidate in enumerate(candidates):
            current[candidate.url] += weights[index]
            if current[candidate.url] > current[candidates[best].url]:
                best = index
        chosen = candidates[best]
        current[chosen.url] -= sum(weights)
        self._current = current
        return chosen

    def __repr__(self) -> str:
        return "RoundRobin()"


@final
class PowerOfTwoChoices:
    """Two endpoints drawn at random (by weight), and the less busy of them: the default.

    Busy is calls in flight over weight, so an endpoint of weight 2 carries
    twice the calls of one of weight 1 before it loses a draw. Two random
    choices spread load almost as well as always choosing the least busy,
    without every caller herding to the same endpoint (Mitzenmacher's
    result; Envoy's and Finagle's least-request balancers). ``random``
    (``random()`` in [0, 1)) makes the draws repeatable in tests.
    """

    __slots__ = ("_random",)

    def __init__(self, random: RandomSource | None = None) -> None:
        if random is not None and not callable(getattr(random, "random", None)):
            raise TypeError(f"random must have a random() method, not {random!r}")
        self._random: RandomSource = random if random is not None else _random.Random()

    def pick(self, candidates: Sequence[C]) -> C:
        """The less busy of two candidates drawn by weight."""
        count = len(candidates)
        if count == 1:
            return candidates[0]
        weights = _weights(candidates)
        if min(weights) == max(weights):  # alike (the usual case): two distinct, uniformly
            draw = self._random.random
            first = int(draw() * count)
            second = int(draw() * (count - 1))
            second += second >= first
            a, b = candidates[first], candidates[second]
            return b if b.in_flight < a.in_flight else a
        first = self._draw(weights, exclude=None)
        second = self._draw(weights, exclude=first)
        a, b = candidates[first], candidates[second]
        # Compare in_flight / weight without dividing (a weight may be 0).
        if b.in_flight * max(weights[first], 1) < a.in_flight * max(weights[second], 1):
            return b
        return a

    def _draw(self, weights: list[int], exclude: int | None) -> int:
        total = sum(weight for index, weight in enumerate(weights) if index != exclude)
        if total == 0:  # only zero weights left besides the excluded one
            return next(index for index in range(len(weights)) if index != exclude)
        point = self._random.random() * total
        for index, weight in enumerate(weights):
            if index == exclude or weight == 0:
                continue
            point -= weight
            if point < 0:
                return index
        return max(index for index, weight in enumerate(weights) if index != exclude and weight)

    def __repr__(self) -> str:
        return "PowerOfTwoChoices()"
