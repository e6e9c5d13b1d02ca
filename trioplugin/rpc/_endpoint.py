"""The endpoint a client's interceptors serve, and interceptors with state per endpoint."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, final, runtime_checkable

from ._interceptor import InterceptorLike, intercept_function


def _discard(event: object) -> None:
    """Publish nowhere (an endpoint without subscribers)."""


@final
@dataclass(frozen=True, slots=True)
class Endpoint:
    """One plugin endpoint, as the interceptors bound to it know it.

    An endpoint actor (or a plain :class:`Client`) gives one to every
    :class:`PerEndpoint` interceptor when it starts, so that state such as a
    circuit breaker or a retry budget is kept per endpoint.
    """

    name: str
    """The name the endpoint was connected under (a client's base URL otherwise)."""
    url: str
    """The endpoint's base URL."""
    publish: Callable[[Any], None] = field(default=_discard, repr=False, compare=False)
    """Hands an event to the endpoint's subscribers (``handle.events()``); never blocks."""
    statistics: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    """A snapshot of the endpoint actor's counters (an
    :class:`~trioplugin.actor.ActorStatistics`), for metrics read when scraped;
    None for an endpoint no actor runs (a plain :class:`Client`)."""
    circuit_state: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    """The state of the endpoint's circuit breaker now (a
    :class:`~trioplugin.resilience.CircuitState`, None without one), cheaper
    than a whole :attr:`statistics` snapshot; None where no actor runs it."""


@runtime_checkable
class PerEndpoint(Protocol):
    """An interceptor that keeps state per endpoint: it is bound to each one it serves.

    Given to several ``connect()`` calls (or clients), the same object is
    bound once per endpoint, and each binding keeps its own state; the bound
    interceptor is what runs the calls. A bound interceptor may have an
    ``endpoint`` attribute (the endpoint it is bound to: it is then not bound
    again to that one) and a ``detach()`` method, called once the endpoint
    has closed (to let go of what it registered elsewhere, e.g. a listener
    on a shared breaker).
    """

    def for_endpoint(self, endpoint: Endpoint) -> InterceptorLike:
        """The interceptor, with state of its own, for calls to ``endpoint``."""
        ...


def check_interceptors(interceptors: Sequence[object]) -> tuple[InterceptorLike, ...]:
    """Refuse anything that is not an interceptor, before any call is made.

    Raises:
        TypeError: an element is neither an interceptor nor a :class:`PerEndpoint`
            one (the message says which and why).
    """
    for interceptor in interceptors:
        if isinstance(interceptor, type) or not isinstance(interceptor, PerEndpoint):
            intercept_function(interceptor)
    return tuple(interceptors)  # type: ignore[arg-type]


def bind_interceptors(
    interceptors: Sequence[InterceptorLike], endpoint: Endpoint
) -> tuple[InterceptorLike, ...]:
    """The interceptors as they run for ``endpoint``: each :class:`PerEndpoint` one bound.

    Raises:
        TypeError: an element, or what binding it gave, is not an interceptor.
    """
    bound: list[InterceptorLike] = []
    for interceptor in check_interceptors(interceptors):
        if isinstance(interceptor, PerEndpoint) and (
            getattr(interceptor, "endpoint", None) is not endpoint
        ):
            interceptor = interceptor.for_endpoint(endpoint)
            intercept_function(interceptor)
        bound.append(interceptor)
    return tuple(bound)


def detach_interceptors(interceptors: Sequence[InterceptorLike]) -> None:
    """Tell bound interceptors that their endpoint has closed (those with ``detach()``)."""
    for interceptor in interceptors:
        detach = getattr(interceptor, "detach", None)
        if callable(detach):
            detach()
