"""DnsSrvSource driving a service handle: a real dnsmasq's SRV records naming real replicas.

The replicas are echo servers on 127.0.0.1 (tests/discovery/_replicas.py);
the records point at their ports through a name dnsmasq resolves to
127.0.0.1 (``resolve_targets=True``, so the system's resolver is not
asked). Changing the records restarts dnsmasq with the new ones, as the
source's own tests do; the handle's events say when it followed.
"""

from __future__ import annotations

import pytest
import trio

from tests.discovery._replicas import (
    Replica,
    call,
    endpoint,
    start_replicas,
    wait_closed,
    wait_for_all,
)
from tests.discovery.dns.conftest import Dnsmasq
from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from trioplugin.discovery import (
    EndpointAdded,
    EndpointRemoved,
    RoundRobin,
    ServiceOptions,
    open_service,
)
from trioplugin.discovery.dns import DnsSrvSource
from trioplugin.protocol import Code, ConnectError

SRV = "_echo._tcp.echo.example.test"
TARGET = "replicas.echo.example.test"
REQUEST = EchoRequest(text="hi")


def port_of(replica: Replica) -> int:
    return int(replica.url.rsplit(":", 1)[1])


def records(*replicas: Replica | tuple[Replica, int, int]) -> list[str]:
    """dnsmasq lines: an SRV record per replica (or (replica, priority, weight)), one A record."""
    lines = [f"host-record={TARGET},127.0.0.1"]
    for item in replicas:
        replica, priority, weight = (item, 0, 1) if isinstance(item, Replica) else item
        lines.append(f"srv-host={SRV},{TARGET},{port_of(replica)},{priority},{weight}")
    return lines


async def serve(server: Dnsmasq, lines: list[str]) -> None:
    """Restart dnsmasq with ``lines`` (in a thread: it waits for dnsmasq to start)."""
    await trio.to_thread.run_sync(lambda: server.serve(*lines))


def source(server: Dnsmasq) -> DnsSrvSource:
    # The records' TTL is 1 s (dnsmasq_ttl_1): the source looks again every second.
    return DnsSrvSource(
        SRV, nameservers=["127.0.0.1"], port=server.port, resolve_targets=True, min_refresh=0.1
    )


async def test_the_handle_follows_the_srv_records(
    nursery: trio.Nursery, dnsmasq_ttl_1: Dnsmasq
) -> None:
    server = dnsmasq_ttl_1
    a, b, c = await start_replicas(nursery, 3)
    await serve(server, records(a, b))
    async with (
        open_service(
            "echo", source(server), services=[ECHO], service=ServiceOptions(balancer=RoundRobin)
        ) as service,
        service.events() as events,
    ):
        assert set(service.endpoints) == {a.url, b.url}
        await call(service, 20)
        assert (a.calls, b.calls, c.calls) == (10, 10, 0)

        # Two calls: round robin sends one to a, which holds it, and one to b.
        a.held = trio.Event()
        a.entered = trio.Event()
        results: list[str] = []
        answered = trio.Event()

        async def one() -> None:
            with trio.fail_after(15):
                results.append((await service.stub(ECHO).Echo(REQUEST)).text)
            answered.set()

        async with service.endpoints[a.url].events() as of_a:
            async with trio.open_nursery() as calls:
                for _ in range(2):
                    calls.start_soon(one)
                with trio.fail_after(5):
                    await a.entered.wait()
                    await answered.wait()  # b's

                await serve(server, records(b, c))  # a leaves while it holds a call; c joins
                await wait_for_all(
                    events, EndpointAdded("echo", c.url), EndpointRemoved("echo", a.url)
                )
                assert set(service.endpoints) == {b.url, c.url}
                leaving = endpoint(service, a.url)
                assert leaving.draining
                assert leaving.in_flight == 1
                held, before_b = a.calls, b.calls
                await call(service, 20)
                assert a.calls == held  # out of rotation at once: no new call reaches a
                assert (b.calls - before_b, c.calls) == (10, 10)
                a.held.set()  # a's call finishes: none is lost
            assert results == ["hi"] * 2
            assert a.calls == 11
            await wait_closed(of_a)  # its call done, the drain closes a's actor
        stats = service.statistics()
        assert [endpoint.url for endpoint in stats.endpoints] == sorted([b.url, c.url])
        assert (stats.added, stats.removed) == (3, 1)


async def test_srv_priorities_and_weights_steer_the_calls(
    nursery: trio.Nursery, dnsmasq_ttl_1: Dnsmasq
) -> None:
    server = dnsmasq_ttl_1
    heavy, light, backup = await start_replicas(nursery, 3)
    await serve(server, records((heavy, 0, 3), (light, 0, 1), (backup, 10, 1)))
    async with (
        open_service(
            "echo", source(server), services=[ECHO], service=ServiceOptions(balancer=RoundRobin)
        ) as service,
        service.events() as events,
    ):
        stats = {endpoint.url: endpoint for endpoint in service.statistics().endpoints}
        assert (stats[heavy.url].weight, stats[backup.url].priority) == (3, 10)
        await call(service, 40)
        assert (heavy.calls, light.calls, backup.calls) == (30, 10, 0)

        await serve(server, records((light, 0, 1), (backup, 10, 1)))  # heavy leaves
        await wait_for_all(events, EndpointRemoved("echo", heavy.url))
        await call(service, 10)
        assert (heavy.calls, light.calls, backup.calls) == (30, 20, 0)

        await serve(server, records((backup, 10, 1)))  # only the lower priority is left
        await wait_for_all(events, EndpointRemoved("echo", light.url))
        await call(service, 10)
        assert (heavy.calls, light.calls, backup.calls) == (30, 20, 10)


async def test_scaled_to_zero_and_back(nursery: trio.Nursery, dnsmasq_ttl_1: Dnsmasq) -> None:
    server = dnsmasq_ttl_1
    (replica,) = await start_replicas(nursery, 1)
    await serve(server, records(replica))
    async with (
        open_service("echo", source(server), services=[ECHO]) as service,
        service.events() as events,
    ):
        await call(service, 3)
        await serve(server, [])  # the name is gone (NXDOMAIN): no endpoints
        await wait_for_all(events, EndpointRemoved("echo", replica.url))
        with pytest.raises(ConnectError, match="'echo' has no endpoints") as failed:
            await service.stub(ECHO).Echo(REQUEST)
        assert failed.value.code is Code.UNAVAILABLE
        await serve(server, records(replica))
        await wait_for_all(events, EndpointAdded("echo", replica.url))
        await call(service, 3)
        assert replica.calls == 6
