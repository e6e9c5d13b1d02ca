"""The DNS sources against a real dnsmasq on 127.0.0.1 (tests/discovery/dns/conftest.py)."""

from __future__ import annotations

import logging
from typing import Any

import dns.name
import pytest
import trio

from tests.discovery.dns.conftest import Dnsmasq
from trioplugin.discovery import DiscoverySource, ServiceEndpoint
from trioplugin.discovery.dns import DnsAddressSource, DnsSrvSource, _lookup
from trioplugin.protocol import Code, ConnectError

SRV = "_grpc._tcp.kv.example.test"
TWO_PODS = (
    f"srv-host={SRV},pod-0.kv.example.test,8080,10,60",
    f"srv-host={SRV},pod-1.kv.example.test,8081,20,40",
    "host-record=pod-0.kv.example.test,10.0.0.7,fd00::7",
    "host-record=pod-1.kv.example.test,10.0.0.8",
)


def srv(server: Dnsmasq, name: str = SRV, **options: Any) -> DnsSrvSource:
    return DnsSrvSource(name, nameservers=["127.0.0.1"], port=server.port, **options)


def addresses(server: Dnsmasq, host: str, port: int, **options: Any) -> DnsAddressSource:
    return DnsAddressSource(host, port, nameservers=["127.0.0.1"], dns_port=server.port, **options)


class WarningSeen(logging.Handler):
    """Sets an event at a warning on trioplugin.discovery (logging runs in trio's thread)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.event = trio.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.event.set()


async def test_srv_records_are_endpoints_with_their_priorities_and_weights(
    dnsmasq: Dnsmasq,
) -> None:
    dnsmasq.serve(*TWO_PODS)
    source = srv(dnsmasq)
    assert isinstance(source, DiscoverySource)
    assert await source.resolve() == (
        ServiceEndpoint("http://pod-0.kv.example.test:8080", priority=10, weight=60),
        ServiceEndpoint("http://pod-1.kv.example.test:8081", priority=20, weight=40),
    )
    https = srv(dnsmasq, scheme="https")
    assert (await https.resolve())[0].url == "https://pod-0.kv.example.test:8080"


async def test_srv_targets_resolved_to_addresses(dnsmasq: Dnsmasq) -> None:
    dnsmasq.serve(*TWO_PODS)
    assert await srv(dnsmasq, resolve_targets=True).resolve() == (
        ServiceEndpoint("http://10.0.0.7:8080", priority=10, weight=60),
        ServiceEndpoint("http://10.0.0.8:8081", priority=20, weight=40),
        ServiceEndpoint("http://[fd00::7]:8080", priority=10, weight=60),
    )


async def test_a_target_of_dot_is_no_endpoint(dnsmasq: Dnsmasq) -> None:
    # srv-host without a target: RFC 2782's "." (the service is decidedly not here).
    dnsmasq.serve(f"srv-host={SRV}")
    assert await srv(dnsmasq).resolve() == ()


async def test_the_answers_ttl_is_read(dnsmasq: Dnsmasq) -> None:
    dnsmasq.serve(*TWO_PODS)
    resolver = _lookup.make_resolver(["127.0.0.1"], dnsmasq.port)
    name = dns.name.from_text(SRV)
    _, ttl = await _lookup.lookup_srv(
        resolver, name, "http", resolve_targets=False, default_ttl=1.0
    )
    assert ttl == 7


async def test_a_and_aaaa_records_are_endpoints(dnsmasq: Dnsmasq) -> None:
    dnsmasq.serve(*TWO_PODS)
    assert await addresses(dnsmasq, "pod-0.kv.example.test", 9000).resolve() == (
        ServiceEndpoint("http://10.0.0.7:9000"),
        ServiceEndpoint("http://[fd00::7]:9000"),
    )
    # A only: the AAAA lookup's empty answer is no failure.
    assert await addresses(dnsmasq, "pod-1.kv.example.test", 9000).resolve() == (
        ServiceEndpoint("http://10.0.0.8:9000"),
    )


async def test_nxdomain_is_the_empty_set(dnsmasq: Dnsmasq) -> None:
    dnsmasq.serve(*TWO_PODS)
    assert await srv(dnsmasq, "_grpc._tcp.gone.example.test").resolve() == ()
    assert await addresses(dnsmasq, "gone.example.test", 80).resolve() == ()


async def test_an_unreachable_server_is_unavailable(
    dnsmasq: Dnsmasq, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lookup, "LOOKUP_LIFETIME", 0.3)
    with trio.fail_after(10), pytest.raises(ConnectError) as caught:
        await srv(dnsmasq).resolve()  # never started
    assert caught.value.code is Code.UNAVAILABLE
    assert f"DNS lookup of {SRV}. SRV" in caught.value.message
    with trio.fail_after(10), pytest.raises(ConnectError):
        async with srv(dnsmasq).watch():
            pytest.fail("entered")


async def test_the_watch_looks_again_at_the_ttl_and_sends_the_changed_set(
    dnsmasq_ttl_1: Dnsmasq,
) -> None:
    server = dnsmasq_ttl_1
    server.serve(*TWO_PODS)
    with trio.fail_after(10):
        async with srv(server, min_refresh=0.1).watch() as answers:
            first = await answers.receive()
            assert [e.url for e in first] == [
                "http://pod-0.kv.example.test:8080",
                "http://pod-1.kv.example.test:8081",
            ]
            server.serve(f"srv-host={SRV},pod-2.kv.example.test,8082,5,1")  # restarted
            assert await answers.receive() == (
                ServiceEndpoint("http://pod-2.kv.example.test:8082", priority=5, weight=1),
            )
            server.serve()  # scaled to zero: NXDOMAIN
            assert await answers.receive() == ()


async def test_the_address_watch_sends_changed_addresses(dnsmasq_ttl_1: Dnsmasq) -> None:
    server = dnsmasq_ttl_1
    server.serve("host-record=web.example.test,10.1.0.1")
    with trio.fail_after(10):
        async with addresses(server, "web.example.test", 80, min_refresh=0.1).watch() as answers:
            assert await answers.receive() == (ServiceEndpoint("http://10.1.0.1:80"),)
            server.serve("host-record=web.example.test,10.1.0.2,fd00::2")  # one A, one AAAA
            assert await answers.receive() == (
                ServiceEndpoint("http://10.1.0.2:80"),
                ServiceEndpoint("http://[fd00::2]:80"),
            )


async def test_a_failed_refresh_keeps_the_last_set_until_the_server_is_back(
    dnsmasq_ttl_1: Dnsmasq, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lookup, "LOOKUP_LIFETIME", 0.3)
    server = dnsmasq_ttl_1
    server.serve(*TWO_PODS)
    seen = WarningSeen()
    logger = logging.getLogger("trioplugin.discovery")
    logger.addHandler(seen)
    try:
        with trio.fail_after(15):
            async with srv(server, min_refresh=0.1).watch() as answers:
                assert len(await answers.receive()) == 2
                server.stop()
                await seen.event.wait()
                with pytest.raises(trio.WouldBlock):
                    answers.receive_nowait()  # nothing sent for the failure
                server.serve(f"srv-host={SRV},pod-2.kv.example.test,8082,5,1")
                assert [e.url for e in await answers.receive()] == [
                    "http://pod-2.kv.example.test:8082"
                ]
    finally:
        logger.removeHandler(seen)
    assert (
        f"refreshing the SRV records of {SRV} failed (DNS lookup of {SRV}. SRV"
        in (seen.messages[0])
    )
    assert "keeping its last 2 endpoint(s)" in seen.messages[0]


async def test_the_system_resolver_is_the_default() -> None:
    source = DnsSrvSource("_x._tcp.example.test.")
    assert source.name == "_x._tcp.example.test"
    assert repr(source) == "DnsSrvSource('_x._tcp.example.test', scheme='http')"
    assert repr(DnsAddressSource("h.example.test", 80)) == (
        "DnsAddressSource('h.example.test', 80, scheme='http')"
    )


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"name": 7}, TypeError, "name must be a DNS name"),
        ({"name": ""}, ValueError, "name must be a DNS name, not ''"),
        ({"name": "a" * 64 + ".test"}, ValueError, "is not a valid DNS name"),
        ({"scheme": "ftp"}, ValueError, "scheme must be 'http' or 'https', not 'ftp'"),
        ({"nameservers": "127.0.0.1"}, TypeError, "nameservers must be a list of IP addresses"),
        ({"nameservers": []}, ValueError, "nameservers must name at least one server"),
        ({"nameservers": ["dns.example"]}, ValueError, "a nameserver must be an IP address"),
        ({"port": 0}, ValueError, "port must be an int from 1 to 65535, not 0"),
        ({"resolve_targets": 1}, TypeError, "resolve_targets must be a bool"),
        ({"min_refresh": -1}, ValueError, "min_refresh must be finite seconds > 0"),
        ({"min_refresh": 10, "max_refresh": 5}, ValueError, "max_refresh .* must be >="),
    ],
)
def test_bad_srv_arguments(arguments: dict[str, Any], error: type[Exception], match: str) -> None:
    name = arguments.pop("name", SRV)
    with pytest.raises(error, match=match):
        DnsSrvSource(name, **arguments)


@pytest.mark.parametrize(
    ("host", "port", "options", "match"),
    [
        ("h.example.test", 0, {}, "port must be an int from 1 to 65535, not 0"),
        ("h.example.test", True, {}, "port must be an int from 1 to 65535, not True"),
        ("h.example.test", 80, {"dns_port": 70000}, "dns_port must be an int from 1 to 65535"),
        ("", 80, {}, "host must be a DNS name"),
    ],
)
def test_bad_address_arguments(host: str, port: int, options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DnsAddressSource(host, port, **options)
