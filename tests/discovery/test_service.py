"""One service handle over several real replicas on 127.0.0.1: spread, change, eject, retry."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.discovery._replicas import (
    QUICK_RETRY,
    REQUEST,
    Replica,
    SteeredSource,
    breaker,
    call,
    endpoint,
    next_event,
    start_replicas,
)
from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from trioplugin.actor import ActorState, StateChanged
from trioplugin.discovery import (
    EndpointAdded,
    EndpointEjected,
    EndpointRemoved,
    EndpointReturned,
    Endpoints,
    RoundRobin,
    ServiceEndpoint,
    ServiceOptions,
    StaticSource,
    open_service,
)
from trioplugin.plugin import open_plugin_nursery
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import CircuitState, RetryPolicy


async def test_round_robin_spreads_calls_evenly(nursery: trio.Nursery) -> None:
    replicas = await start_replicas(nursery, 3)
    source = StaticSource([replica.url for replica in replicas])
    async with open_service(
        "echo", source, services=[ECHO], service=ServiceOptions(balancer=RoundRobin)
    ) as service:
        await call(service, 30)
        assert [replica.calls for replica in replicas] == [10, 10, 10]
        stats = service.statistics()
        assert [endpoint.calls for endpoint in stats.endpoints] == [10, 10, 10]
        assert (stats.added, stats.in_rotation, stats.retries) == (3, 3, 0)


async def test_weights_share_the_calls(nursery: trio.Nursery) -> None:
    heavy, light = await start_replicas(nursery, 2)
    source = StaticSource(
        [ServiceEndpoint(heavy.url, weight=3), ServiceEndpoint(light.url, weight=1)]
    )
    async with open_service(
        "echo", source, services=[ECHO], service=ServiceOptions(balancer=RoundRobin)
    ) as service:
        await call(service, 40)
    assert (heavy.calls, light.calls) == (30, 10)


async def test_two_choices_send_to_the_idle_replica(nursery: trio.Nursery) -> None:
    busy, idle = await start_replicas(nursery, 2)
    busy.held = trio.Event()
    source = StaticSource([busy.url, idle.url])
    async with (
        open_service("echo", source, services=[ECHO]) as service,
        trio.open_nursery() as calls,
    ):
        echo = service.stub(ECHO)
        while not busy.entered.is_set():  # calls in the background until one is held
            calls.start_soon(echo.Echo, REQUEST)
            await trio.testing.wait_all_tasks_blocked()
        held = busy.calls
        # Round robin would not do it; two choices by in-flight calls must: while the
        # busy replica holds a call, each call goes to the idle one (one in flight at a time).
        await call(service, 20)
        assert busy.calls == held
        busy.held.set()


async def test_a_lower_priority_takes_calls_only_when_the_first_is_out(
    nursery: trio.Nursery,
) -> None:
    first, backup = await start_replicas(nursery, 2)
    source = StaticSource(
        [ServiceEndpoint(first.url, priority=0), ServiceEndpoint(backup.url, priority=1)]
    )
    async with open_service(
        "echo",
        source,
        services=[ECHO],
        interceptors=[breaker()],
        service=ServiceOptions(retry=QUICK_RETRY),
    ) as service:
        await call(service, 5)
        assert (first.calls, backup.calls) == (5, 0)
        first.failing = True
        await call(service, 3)  # the first fails twice and opens; the retries reach the backup
        assert endpoint(service, first.url).ejected == "circuit open"
        assert backup.calls >= 3


async def test_endpoints_come_and_go_without_losing_a_call(nursery: trio.Nursery) -> None:
    a, b, c = await start_replicas(nursery, 3)
    source = SteeredSource([a.url])
    async with open_service("echo", source, services=[ECHO]) as service, service.events() as events:
        await call(service, 3)
        source.set([a.url, b.url, c.url])
        added = {(await next_event(events)).url for _ in range(2)}
        assert added == {b.url, c.url}
        await call(service, 30)
        assert min(a.calls, b.calls, c.calls) > 0
        a.held = trio.Event()
        a.entered = trio.Event()
        handle_of_a = service.endpoints[a.url]
        async with handle_of_a.events() as of_a:
            async with trio.open_nursery() as calls:
                results: list[str] = []
                started = 0

                async def one() -> None:
                    results.append((await service.stub(ECHO).Echo(REQUEST)).text)

                while not a.entered.is_set():
                    calls.start_soon(one)
                    started += 1
                    await trio.testing.wait_all_tasks_blocked()
                source.set([b.url, c.url])  # a leaves while it holds calls
                removed = await next_event(events)
                assert isinstance(removed, EndpointRemoved)
                assert removed.url == a.url
                assert set(service.endpoints) == {b.url, c.url}
                leaving = endpoint(service, a.url)
                assert leaving.draining and leaving.in_flight > 0
                before = a.calls
                await call(service, 10)
                assert a.calls == before  # out of rotation at once
                a.held.set()  # a's calls finish: none is lost
            assert results == ["hi"] * started  # every call a held answered
            with trio.fail_after(5):  # the drain closes a's actor once its calls are done
                async for event in of_a:
                    if isinstance(event, StateChanged) and event.new is ActorState.CLOSED:
                        break
        assert a.url not in {endpoint.url for endpoint in service.statistics().endpoints}
        stats = service.statistics()
        assert (stats.added, stats.removed) == (3, 1)


async def test_a_failing_replica_is_ejected_and_comes_back(nursery: trio.Nursery) -> None:
    good, bad, other = await start_replicas(nursery, 3)
    bad.failing = True
    source = StaticSource([good.url, bad.url, other.url])
    async with (
        open_service(
            "echo",
            source,
            services=[ECHO],
            interceptors=[breaker(timeout=0.2)],
            service=ServiceOptions(retry=QUICK_RETRY, balancer=RoundRobin),
        ) as service,
        service.events() as events,
    ):
        await call(service, 12)  # every call succeeds: bad's failures are retried elsewhere
        ejected = await next_event(events)
        assert isinstance(ejected, EndpointEjected)
        assert (ejected.url, ejected.reason) == (bad.url, "circuit open")
        assert bad.calls == 2  # the breaker's threshold: then it is out of rotation
        assert good.calls + other.calls >= 12
        stats = service.statistics()
        assert stats.ejections == 1 and stats.in_rotation == 2 and stats.retries == 2
        bad.failing = False
        with trio.fail_after(5):
            while True:  # the breaker half-opens after its timeout; calls find it again
                await call(service)
                if endpoint(service, bad.url).circuit_state is not CircuitState.OPEN:
                    break
                await trio.sleep(0.05)
        await call(service, 6)
        returned = await next_event(events)
        assert isinstance(returned, EndpointReturned) and returned.url == bad.url
        assert bad.calls > 2


async def test_all_failing_fails_fast_and_clearly(nursery: trio.Nursery) -> None:
    replicas = await start_replicas(nursery, 2)
    for replica in replicas:
        replica.failing = True
    source = StaticSource([replica.url for replica in replicas])
    async with open_service(
        "echo",
        source,
        services=[ECHO],
        interceptors=[breaker()],
        service=ServiceOptions(retry=QUICK_RETRY),
    ) as service:
        echo = service.stub(ECHO)
        for _ in range(4):
            with pytest.raises(ConnectError) as failed:
                await echo.Echo(REQUEST)
            assert failed.value.code is Code.UNAVAILABLE
        sent = sum(replica.calls for replica in replicas)
        # Both circuits are open now: one ejected (the cap: half of two), the other
        # refuses at once. No call reaches a replica any more.
        with pytest.raises(ConnectError, match="circuit") as failed:
            await echo.Echo(REQUEST)
        assert failed.value.code is Code.UNAVAILABLE
        assert sum(replica.calls for replica in replicas) == sent
        stats = service.statistics()
        assert sorted(endpoint.ejected or "" for endpoint in stats.endpoints) == [
            "",
            "circuit open",
        ]


async def test_a_retry_goes_to_another_replica(nursery: trio.Nursery) -> None:
    bad, good = await start_replicas(nursery, 2)
    bad.failing = True
    source = StaticSource([bad.url, good.url])
    async with open_service(
        "echo", source, services=[ECHO], service=ServiceOptions(retry=QUICK_RETRY)
    ) as service:
        for _ in range(10):
            await call(service)
        # Each call that met bad went to good next, never to bad twice.
        assert bad.calls <= 10
        assert good.calls == 10
        assert service.statistics().retries == bad.calls


async def test_no_retry_without_a_policy(nursery: trio.Nursery) -> None:
    (bad,) = await start_replicas(nursery, 1)
    bad.failing = True
    async with open_service(
        "echo", StaticSource([bad.url]), services=[ECHO], service=ServiceOptions(retry=None)
    ) as service:
        with pytest.raises(ConnectError, match="failing"):
            await service.stub(ECHO).Echo(REQUEST)
    assert bad.calls == 1


async def test_an_unreachable_replica_is_passed_over_at_once(nursery: trio.Nursery) -> None:
    gone, good = await start_replicas(nursery, 2)
    assert gone.server is not None
    await gone.server.aclose()  # its port now refuses connections: nothing is ever sent
    slow = RetryPolicy(initial_backoff=60, max_backoff=60, jitter=False)
    async with open_service(
        "echo",
        StaticSource([gone.url, good.url]),
        services=[ECHO],
        service=ServiceOptions(retry=slow, balancer=RoundRobin),
    ) as service:
        # Put has side effects (no idempotency declared): a call that may have reached a
        # replica is not sent again, but one that reached none goes on, without a backoff.
        put = service.stub(ECHO).Put
        for _ in range(4):
            with trio.fail_after(5):
                assert (await put(REQUEST)).text == "hi"
        assert good.calls == 4
        assert service.statistics().retries == 2  # every other call was the gone one's first


async def test_a_service_with_no_endpoints_says_so() -> None:
    async with open_service("echo", StaticSource([]), services=[ECHO]) as service:
        with pytest.raises(ConnectError, match="'echo' has no endpoints") as failed:
            await service.stub(ECHO).Echo(REQUEST)
        assert failed.value.code is Code.UNAVAILABLE
        assert service.statistics().unavailable == 1


async def test_every_call_kind_goes_through(nursery: trio.Nursery) -> None:
    replicas = await start_replicas(nursery, 2)
    source = StaticSource([replica.url for replica in replicas])
    async with open_service("echo", source, services={"echo": ECHO}) as service:
        echo = service.dispense("echo")
        async with echo.ServerStream(EchoRequest(repeat=3)) as responses:
            assert [r.index async for r in responses] == [0, 1, 2]
        assert (await echo.ClientStream([EchoRequest(text="a"), EchoRequest(text="b")])).text == (
            "a,b"
        )
        async with echo.Bidi() as stream:
            await stream.send(EchoRequest(text="ping"))
            assert (await stream.receive()).text == "ping"
            await stream.close_send()
        assert sum(endpoint.in_flight for endpoint in service.statistics().endpoints) == 0
        with pytest.raises(LookupError, match="service 'echo' has no service named 'kv'"):
            service.dispense("kv")


async def test_bad_arguments_are_refused_clearly() -> None:
    source = StaticSource([])
    with pytest.raises(TypeError, match="DiscoverySource"):
        async with open_service("echo", object()):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match="Balancer"):
        async with open_service("echo", source, service=ServiceOptions(balancer=object)):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match="ServiceOptions"):
        async with open_service("echo", source, service=object()):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match=r"ServiceOptions\.balancer must make a Balancer"):
        ServiceOptions(balancer=RoundRobin())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ServiceOptions\.max_ejection_percent"):
        ServiceOptions(max_ejection_percent=101)
    with pytest.raises(ValueError, match=r"ServiceOptions\.drain_timeout"):
        ServiceOptions(drain_timeout=-1)
    with pytest.raises(TypeError, match=r"ServiceOptions\.retry"):
        ServiceOptions(retry=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        async with open_service("", source):
            pass


def test_replica_helper_is_a_replica() -> None:
    assert Replica().failing is False
    assert isinstance(EndpointAdded("s", "http://a:1"), EndpointAdded)


async def test_a_plugin_host_connects_a_service(nursery: trio.Nursery) -> None:
    replicas = await start_replicas(nursery, 2)
    source = StaticSource([replica.url for replica in replicas])
    async with open_plugin_nursery({"echo": ECHO}) as host:
        service = await host.connect_service(
            "echo", source, service=ServiceOptions(balancer=RoundRobin)
        )
        assert host.services == {"echo": service}
        assert (await service.dispense("echo").Echo(REQUEST)).text == "hi"
        with pytest.raises(ValueError, match="already connected"):
            await host.connect_service("echo", source)
        await service.aclose()
        assert service.closed and host.services == {}
        with pytest.raises(ConnectError, match="closed") as failed:
            await service.dispense("echo").Echo(REQUEST)
        assert failed.value.code is Code.UNAVAILABLE
        again = await host.connect_service("echo", source)
        await call(again, 2)
    assert again.closed  # the host closed it on the way out
    assert sum(replica.calls for replica in replicas) == 3


async def test_a_source_that_cannot_answer_fails_the_connect() -> None:
    class Broken(SteeredSource):
        async def resolve(self) -> Endpoints:
            raise ConnectError(Code.UNAVAILABLE, "the registry is down")

    async with open_plugin_nursery() as host:
        with pytest.raises(ConnectError, match="registry is down"):
            await host.connect_service("echo", Broken())
        assert host.services == {}


async def test_a_removed_endpoint_stuck_past_the_drain_timeout_is_closed(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    stuck, other = await start_replicas(nursery, 2)
    stuck.held = trio.Event()  # never set: its calls never end by themselves
    source = SteeredSource([ServiceEndpoint(stuck.url), ServiceEndpoint(other.url, priority=1)])
    async with (
        open_service(
            "echo", source, services=[ECHO], service=ServiceOptions(drain_timeout=30)
        ) as service,
        service.endpoints[stuck.url].events() as of_stuck,
    ):
        failed: list[ConnectError] = []

        async def held_call() -> None:
            with trio.fail_after(120), pytest.raises(ConnectError) as raised:
                await service.stub(ECHO).Echo(REQUEST)
            failed.append(raised.value)

        async with trio.open_nursery() as calls:
            calls.start_soon(held_call)
            await stuck.entered.wait()
            removed_at = trio.current_time()
            source.set([other.url])
        waited = trio.current_time() - removed_at
        assert 30 <= waited < 31  # its call had the drain's time, then its actor closed
        assert failed and failed[0].code in (Code.UNAVAILABLE, Code.CANCELED)
        with trio.fail_after(1):
            async for event in of_stuck:  # ends: its actor reports it closed
                if isinstance(event, StateChanged) and event.new is ActorState.CLOSED:
                    break
        assert [stats.url for stats in service.statistics().endpoints] == [other.url]
