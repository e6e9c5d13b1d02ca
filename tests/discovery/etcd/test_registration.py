"""open_etcd_registration against a real etcd: register, revoke on exit, lease expiry and loss."""

from __future__ import annotations

import base64
import json
import logging
import signal
from typing import Any

import pytest
import trio

from tests.discovery.etcd._server import EtcdServer, next_answer
from trioplugin.discovery import ServiceEndpoint
from trioplugin.discovery.etcd import EtcdRegistration, open_etcd_registration
from trioplugin.protocol import Code, ConnectError


async def test_the_key_holds_the_endpoint_under_a_lease(
    etcd_server: EtcdServer, prefix: str
) -> None:
    async with etcd_server.register(
        prefix, "a", "http://10.0.0.7:8080", ttl=5, weight=3
    ) as registration:
        assert registration.key == prefix + "a"
        assert registration.endpoint == ServiceEndpoint("http://10.0.0.7:8080", weight=3)
        assert registration.ttl == 5
        assert registration.registrations == 1
        assert registration.lease > 0
        assert f"lease {registration.lease:x}" in repr(registration)
        value = etcd_server.get(prefix + "a")
        assert value is not None
        assert json.loads(value) == {"url": "http://10.0.0.7:8080", "priority": 0, "weight": 3}
        left = etcd_server.call("lease/timetolive", {"ID": str(registration.lease), "keys": True})
        assert int(left["TTL"]) > 0
    assert etcd_server.get(prefix + "a") is None  # revoked on exit


async def test_a_watch_sees_a_registration_appear_and_vanish_at_once(
    etcd_server: EtcdServer, prefix: str
) -> None:
    async with etcd_server.source(prefix).watch() as answers:
        assert await next_answer(answers) == ()
        async with etcd_server.register(prefix, "a", "http://10.0.0.7:8080", ttl=30):
            assert await next_answer(answers) == (ServiceEndpoint("http://10.0.0.7:8080"),)
        # Not after the TTL of 30 s: the revoke on exit deletes the key now.
        assert await next_answer(answers, within=2) == ()


async def test_a_cancelled_block_still_revokes(etcd_server: EtcdServer, prefix: str) -> None:
    with trio.CancelScope() as scope:
        async with etcd_server.register(prefix, "a", "http://10.0.0.7:8080", ttl=30):
            scope.cancel()
            await trio.sleep_forever()
    assert etcd_server.get(prefix + "a") is None


async def test_an_error_in_the_block_comes_out_as_raised_and_revokes(
    etcd_server: EtcdServer, prefix: str
) -> None:
    with pytest.raises(KeyError, match="mine"):
        async with etcd_server.register(prefix, "a", "http://10.0.0.7:8080"):
            raise KeyError("mine")
    assert etcd_server.get(prefix + "a") is None


async def test_the_key_of_a_dead_process_vanishes_when_its_lease_expires(
    etcd_server: EtcdServer, prefix: str
) -> None:
    # The lease expiry: a plugin killed with SIGKILL cannot revoke; its key goes after the
    # TTL, while one kept alive in this process stays past its own TTL.
    kept = ServiceEndpoint("http://10.0.0.7:8080")
    dying = ServiceEndpoint("http://10.0.0.9:9")
    async with (
        etcd_server.register(prefix, "kept", kept.url, ttl=2),
        etcd_server.source(prefix).watch() as answers,
        trio.open_nursery() as nursery,
    ):
        assert await next_answer(answers) == (kept,)
        process = await etcd_server.register_elsewhere(nursery, prefix, "dying", dying.url, ttl=2)
        assert await next_answer(answers, within=10) == (kept, dying)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        killed = trio.current_time()
        assert etcd_server.get(prefix + "dying") is not None  # nobody revoked it
        # etcd checks leases every 0.5 s: the key goes within TTL + 0.5 s of the last renewal.
        assert await next_answer(answers, within=2 + 1.5) == (kept,)
        assert trio.current_time() - killed > 0.5  # the lease ran out; nothing deleted it at once
        assert etcd_server.get(prefix + "kept") is not None


async def test_a_lost_lease_is_granted_anew_and_the_key_put_again(
    etcd_server: EtcdServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="trioplugin.discovery"):
        async with (
            etcd_server.register(prefix, "a", "http://10.0.0.7:8080", ttl=2) as registration,
            etcd_server.source(prefix).watch() as answers,
        ):
            assert len(await next_answer(answers)) == 1
            first = registration.lease
            etcd_server.revoke(first)  # as if etcd had lost it
            assert await next_answer(answers) == ()
            # The next keepalive (a third of the TTL later) finds the lease gone.
            assert len(await next_answer(answers, within=3)) == 1
            [record] = etcd_server.call("kv/range", {"key": b64(prefix + "a")})["kvs"]
            assert int(record["lease"]) not in (0, first)
        assert etcd_server.get(prefix + "a") is None  # the new lease was revoked on exit
    assert any(
        f"etcd lease {first:x} of {prefix + 'a'!r} was lost" in r.getMessage()
        for r in caplog.records
    )


async def test_registering_without_etcd_fails_at_entry(refused_url: str) -> None:
    with pytest.raises(ConnectError) as caught:
        async with open_etcd_registration("/p/", "a", "http://10.0.0.7:1", endpoints=[refused_url]):
            pytest.fail("entered without etcd")
    assert caught.value.code is Code.UNAVAILABLE
    assert "etcd lease grant failed" in caught.value.message
    assert refused_url in caught.value.message


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"prefix": ""}, ValueError, "prefix must not be empty"),
        ({"key_name": ""}, ValueError, "key_name must not be empty"),
        ({"key_name": 1}, TypeError, "key_name must be a str"),
        ({"ttl": 0}, ValueError, "ttl must be >= 1"),
        ({"ttl": 1.5}, TypeError, "whole seconds"),
        ({"ttl": True}, TypeError, "whole seconds"),
        ({"url": "10.0.0.7:1"}, ValueError, "http:// or https://"),
        ({"priority": -1}, ValueError, "priority"),
        ({"weight": 70000}, ValueError, "weight"),
        ({"endpoints": "http://127.0.0.1:2379"}, TypeError, "not one URL"),
    ],
)
async def test_bad_arguments_fail_before_any_call(
    kwargs: dict[str, Any], error: type[Exception], match: str, refused_url: str
) -> None:
    arguments: dict[str, Any] = {
        "prefix": "/p/",
        "key_name": "a",
        "url": "http://10.0.0.7:1",
        "endpoints": [refused_url],
    } | kwargs
    with pytest.raises(error, match=match):
        async with open_etcd_registration(**arguments):
            pass


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_the_registration_is_made_by_the_library_only() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        EtcdRegistration()  # type: ignore[call-arg]
