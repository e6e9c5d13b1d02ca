"""EtcdSource driving a service handle: real replicas registered in a real etcd.

The replicas are echo servers on 127.0.0.1 (tests/discovery/_replicas.py),
registered with open_etcd_registration: in this process, or by a child
process that holds the lease and is killed, so that its key goes only when
the lease expires. The handle's events say when it followed.
"""

from __future__ import annotations

import signal

import trio

from tests.discovery._replicas import call, start_replicas, wait_for_all
from tests.discovery.etcd._server import EtcdServer
from tests.echo_service import ECHO
from trioplugin.discovery import (
    EndpointAdded,
    EndpointRemoved,
    RoundRobin,
    ServiceOptions,
    open_service,
)

TTL = 2
"""The dying holder's lease, in seconds (the shortest etcd grants)."""


async def test_the_handle_follows_the_registrations(
    nursery: trio.Nursery, etcd_server: EtcdServer, prefix: str
) -> None:
    a, b, c, d = await start_replicas(nursery, 4)
    async with (
        etcd_server.register(prefix, "a", a.url),
        etcd_server.register(prefix, "b", b.url),
        open_service(
            "echo",
            etcd_server.source(prefix),
            services=[ECHO],
            service=ServiceOptions(balancer=RoundRobin),
        ) as service,
        service.events() as events,
        trio.open_nursery() as holders,
    ):
        assert set(service.endpoints) == {a.url, b.url}
        await call(service, 20)
        assert (a.calls, b.calls) == (10, 10)

        # c is registered by another process, which will die without revoking its lease.
        holder = await etcd_server.register_elsewhere(holders, prefix, "c", c.url, ttl=TTL)
        await wait_for_all(events, EndpointAdded("echo", c.url))
        await call(service, 30)
        assert (a.calls, b.calls, c.calls) == (20, 20, 10)

        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        killed = trio.current_time()
        assert etcd_server.get(prefix + "c") is not None  # nobody revoked it
        # etcd checks its leases every 0.5 s: the key goes within TTL + 0.5 s of the last
        # renewal, and the watch tells the handle at once.
        await wait_for_all(events, EndpointRemoved("echo", c.url), within=TTL + 1.5)
        assert trio.current_time() - killed > 0.5  # the lease ran out; nothing deleted it
        assert set(service.endpoints) == {a.url, b.url}
        await call(service, 20)
        assert (a.calls, b.calls, c.calls) == (30, 30, 10)  # c still serves, but is not listed

        async with etcd_server.register(prefix, "d", d.url):  # a new replica joins
            await wait_for_all(events, EndpointAdded("echo", d.url))
            await call(service, 30)
            assert (a.calls, b.calls, c.calls, d.calls) == (40, 40, 10, 10)
        # Leaving the block revoked d's lease: gone at once, not after its TTL of 10 s.
        await wait_for_all(events, EndpointRemoved("echo", d.url), within=2)
        await call(service, 2)
        assert (a.calls, b.calls, d.calls) == (41, 41, 10)
        stats = service.statistics()
        assert (stats.added, stats.removed, stats.in_rotation) == (4, 2, 2)
