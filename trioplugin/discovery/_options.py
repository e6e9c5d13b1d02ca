"""How a service handle spreads, retries, ejects and drains calls: one record, however opened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, final

from .._checks import check_int, check_seconds, check_type
from ..actor import HealthStatus, PluginHandle
from ..resilience import RetryPolicy
from ._balancing import Balancer, PowerOfTwoChoices
from ._rotation import DEFAULT_MAX_EJECTION_PERCENT

DEFAULT_DRAIN_TIMEOUT: Final = 30.0
"""Seconds a removed endpoint's calls have to finish before its actor closes (Kubernetes'
default termination grace period)."""

DEFAULT_SERVICE_RETRY: Final = RetryPolicy()
"""A service handle's retries unless told otherwise: the reference's default policy (3 attempts,
0.1 s doubling to 10 s, jittered), each retry on another endpoint where there is one."""

HealthWatch = Callable[[PluginHandle, Callable[[HealthStatus], None]], Awaitable[None]]
"""Watches one endpoint's health through its handle: ``await watch(handle, report)``.

It calls ``report`` with the status now and then with each change, returns
when the endpoint's stream ends, and raises
:class:`~trioplugin.ConnectError` when it cannot watch (``unimplemented``
or ``not_found``: the endpoint has no health service, and is taken as
serving). :func:`trioplugin.plugin.watch_health` watches the plugin health
services.
"""


@final
@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """How a service handle balances, retries, ejects, drains and watches health.

    Given to :func:`open_service` or :meth:`trioplugin.PluginNursery.connect_service`;
    one record may serve many services (each gets its own balancer, budget
    and rotation). Checked when made: a wrong value fails there, naming
    the field. Example::

        ServiceOptions(balancer=RoundRobin, retry=None, max_ejection_percent=34)
    """

    balancer: Callable[[], Balancer] = PowerOfTwoChoices
    """Makes the service's balancer, which picks among the endpoints in rotation
    (:class:`PowerOfTwoChoices` by default, or :class:`RoundRobin`)."""

    retry: RetryPolicy | None = DEFAULT_SERVICE_RETRY
    """Retries failed unary calls on another endpoint (None: never)."""

    max_ejection_percent: int = DEFAULT_MAX_EJECTION_PERCENT
    """The share of the endpoints (0 to 100) that may be out of rotation for failing at once;
    at least one may be, unless it is 0."""

    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    """Seconds a removed endpoint's calls have to finish before its actor closes."""

    health: HealthWatch | None = None
    """Watches each endpoint's health (None: health is not watched, every endpoint serves).
    :meth:`~trioplugin.PluginNursery.connect_service` watches the plugin health
    services unless given options of its own."""

    def __post_init__(self) -> None:
        if not callable(self.balancer):
            raise TypeError(
                "ServiceOptions.balancer must make a Balancer (a class such as RoundRobin, "
                f"or a function), not {type(self.balancer).__name__}"
            )
        if self.retry is not None:
            check_type(self, "retry", RetryPolicy, "a RetryPolicy or None")
        check_int(self, "max_ejection_percent", 0, 100)
        check_seconds(self, "drain_timeout", zero=True)
        if self.health is not None and not callable(self.health):
            raise TypeError(
                "ServiceOptions.health must be a HealthWatch (an async function) or None, "
                f"not {type(self.health).__name__}"
            )

    def new_balancer(self) -> Balancer:
        """A balancer for one service, checked to be one."""
        balancer = self.balancer()
        if not isinstance(balancer, Balancer):
            raise TypeError(
                f"ServiceOptions.balancer made {balancer!r}, not a Balancer (a pick method)"
            )
        return balancer
