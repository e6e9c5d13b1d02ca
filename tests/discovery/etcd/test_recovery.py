"""etcd restarted mid-watch, started after the watch, and a watch from a compacted revision."""

from __future__ import annotations

import logging

import pytest
import trio

from tests.discovery.etcd._server import EtcdServer, endpoint_value, next_answer
from trioplugin.discovery import ServiceEndpoint
from trioplugin.discovery.etcd._client import Compacted, EtcdClient


async def test_a_watch_recovers_from_an_etcd_restart(
    own_etcd: EtcdServer, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = "/services/kv/"
    with caplog.at_level(logging.WARNING, logger="trioplugin.discovery"):
        async with own_etcd.source(prefix).watch() as answers:
            assert await next_answer(answers) == ()
            async with own_etcd.register(
                prefix, "a", "http://10.0.0.7:8080", ttl=10
            ) as registration:
                assert await next_answer(answers) == (ServiceEndpoint("http://10.0.0.7:8080"),)
                await trio.to_thread.run_sync(own_etcd.stop)
                await trio.to_thread.run_sync(own_etcd.start)
                # A change made after the restart reaches the watch, which kept its set.
                own_etcd.put(prefix + "b", endpoint_value("http://10.0.0.8:8080"))
                assert [e.url for e in await next_answer(answers, within=10)] == [
                    "http://10.0.0.7:8080",
                    "http://10.0.0.8:8080",
                ]
                assert registration.registrations == 1  # etcd kept the lease across its restart
            assert await next_answer(answers) == (ServiceEndpoint("http://10.0.0.8:8080"),)
    assert any(
        "etcd watch of '/services/kv/' failed, keeping the last 1 endpoints" in m
        for m in (r.getMessage() for r in caplog.records)
    )


async def test_a_watch_entered_before_etcd_starts_answers_once_it_does(
    own_etcd: EtcdServer,
) -> None:
    own_etcd.put("/p/a", endpoint_value("http://10.0.0.7:8080"))
    await trio.to_thread.run_sync(own_etcd.stop)
    async with own_etcd.source("/p/").watch() as answers:
        with trio.move_on_after(0.3):
            await answers.receive()
            pytest.fail("an answer while etcd is down")
        await trio.to_thread.run_sync(own_etcd.start)
        assert await next_answer(answers, within=10) == (ServiceEndpoint("http://10.0.0.7:8080"),)


async def test_a_registration_outlives_an_etcd_restart(own_etcd: EtcdServer) -> None:
    async with own_etcd.register("/p/", "a", "http://10.0.0.7:8080", ttl=2) as registration:
        await trio.to_thread.run_sync(own_etcd.stop)
        await trio.to_thread.run_sync(own_etcd.start)
        # Renewed (etcd gives its leases a fresh TTL when it starts) or granted anew.
        async with own_etcd.source("/p/").watch() as answers:
            assert await next_answer(answers) == (ServiceEndpoint("http://10.0.0.7:8080"),)
            with trio.move_on_after(1.5 * registration.ttl):
                await answers.receive()  # the key must not vanish for good
                assert await next_answer(answers, within=3) != ()


async def test_a_watch_from_a_compacted_revision_is_refused_as_compacted(
    etcd_server: EtcdServer, prefix: str
) -> None:
    first = etcd_server.put(prefix + "a", "1")
    latest = etcd_server.put(prefix + "a", "2")
    etcd_server.compact(latest)
    async with EtcdClient([etcd_server.url]) as client:
        # etcd confirms the watch, then cancels it: the first read says why.
        with pytest.raises(Compacted) as caught:
            async with client.watch(prefix.encode(), first) as stream:
                await stream.next_events()
    assert caught.value.compact_revision == latest
