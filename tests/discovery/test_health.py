"""A service handle follows each endpoint: its health service, and its breaker as it opens."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.discovery._replicas import (
    QUICK_RETRY,
    REQUEST,
    breaker,
    call,
    endpoint,
    start_replicas,
    wait_for,
)
from tests.echo_service import ECHO
from trioplugin.actor import HealthStatus
from trioplugin.discovery import (
    EndpointEjected,
    EndpointHealthChanged,
    EndpointReturned,
    ServiceOptions,
    StaticSource,
    open_service,
)
from trioplugin.plugin import open_plugin_nursery, watch_health
from trioplugin.protocol import ConnectError

WATCHED = ServiceOptions(retry=QUICK_RETRY, health=watch_health)


async def test_a_replica_not_serving_is_ejected_until_it_serves(nursery: trio.Nursery) -> None:
    sick, well = await start_replicas(nursery, 2, health="connect")
    source = StaticSource([sick.url, well.url])
    async with open_plugin_nursery({"echo": ECHO}) as host:
        service = await host.connect_service("echo", source)  # health watched by default
        async with service.events() as events:
            sick.health.set(HealthStatus.NOT_SERVING, reason="its disk is full")
            ejected = await wait_for(events, EndpointEjected, sick.url)
            assert ejected.reason == "not serving"
            assert endpoint(service, sick.url).serving is HealthStatus.NOT_SERVING
            before = sick.calls
            await call(service, 10)
            assert (sick.calls, well.calls) == (before, 10)
            sick.health.set(HealthStatus.SERVING)
            await wait_for(events, EndpointReturned, sick.url)
        await call(service, 20)
        assert sick.calls > before


async def test_a_degraded_replica_takes_calls_only_when_none_serves(
    nursery: trio.Nursery,
) -> None:
    slow, fast = await start_replicas(nursery, 2, health="connect")
    source = StaticSource([slow.url, fast.url])
    async with (
        open_service("echo", source, services=[ECHO], service=WATCHED) as service,
        service.events() as events,
    ):
        slow.health.set(HealthStatus.DEGRADED, reason="its cache is cold")
        changed = await wait_for(events, EndpointHealthChanged, slow.url)
        assert (changed.old, changed.new) == (HealthStatus.SERVING, HealthStatus.DEGRADED)
        await call(service, 10)
        assert (slow.calls, fast.calls) == (0, 10)
        fast.health.set(HealthStatus.NOT_SERVING)
        await wait_for(events, EndpointHealthChanged, fast.url)
        await call(service, 4)
        assert (slow.calls, fast.calls) == (4, 10)


async def test_grpc_health_is_watched_where_the_plugin_one_is_not_served(
    nursery: trio.Nursery,
) -> None:
    sick, well = await start_replicas(nursery, 2, health="grpc")
    source = StaticSource([sick.url, well.url])
    async with (
        open_service("echo", source, services=[ECHO], service=WATCHED) as service,
        service.events() as events,
    ):
        sick.health.set(HealthStatus.NOT_SERVING)
        assert (await wait_for(events, EndpointEjected, sick.url)).reason == "not serving"
        await call(service, 5)
        assert (sick.calls, well.calls) == (0, 5)


async def test_an_endpoint_without_health_services_is_taken_as_serving(
    nursery: trio.Nursery,
) -> None:
    plain, watched = await start_replicas(nursery, 2)
    source = StaticSource([plain.url, watched.url])
    async with open_service("echo", source, services=[ECHO], service=WATCHED) as service:
        await call(service, 10)
        assert plain.calls + watched.calls == 10
        assert {stats.serving for stats in service.statistics().endpoints} == {HealthStatus.SERVING}
        assert service.statistics().in_rotation == 2


async def test_health_is_not_watched_unless_asked(nursery: trio.Nursery) -> None:
    sick, well = await start_replicas(nursery, 2, health="connect")
    sick.health.set(HealthStatus.NOT_SERVING)
    source = StaticSource([sick.url, well.url])
    async with open_service("echo", source, services=[ECHO]) as service:  # no health watch
        await trio.testing.wait_all_tasks_blocked()
        assert endpoint(service, sick.url).serving is HealthStatus.SERVING
        assert service.statistics().in_rotation == 2


async def test_an_opened_circuit_is_ejected_at_once_without_another_call(
    nursery: trio.Nursery,
) -> None:
    bad, good = await start_replicas(nursery, 2)
    bad.failing = True
    source = StaticSource([bad.url, good.url])
    async with (
        open_service(
            "echo",
            source,
            services=[ECHO],
            interceptors=[breaker()],
            service=ServiceOptions(retry=None),
        ) as service,
        service.events() as events,
    ):
        handle = service.endpoints[bad.url]
        echo = handle.stub(ECHO)  # straight to the bad endpoint, past the service's picks
        for _ in range(2):
            with trio.fail_after(5), pytest.raises(ConnectError):
                await echo.Echo(REQUEST)
        # No call through the service and no statistics(): the breaker's own event
        # is what makes the service eject it.
        ejected = await wait_for(events, EndpointEjected, bad.url)
        assert ejected.reason == "circuit open"
