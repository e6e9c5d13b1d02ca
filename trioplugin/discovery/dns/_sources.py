"""The DNS sources: SRV records of a service name, and A/AAAA records of a host with a port."""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Final, final

import dns.exception
import dns.name
import trio

from .._refresh import check_refresh, watch_lookups
from .._source import Endpoints, endpoint_set
from ._lookup import lookup_addresses, lookup_srv, make_resolver

DEFAULT_MIN_REFRESH: Final = 1.0
DEFAULT_MAX_REFRESH: Final = 300.0


def _check_name(what: str, name: object) -> dns.name.Name:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a DNS name (str), not {type(name).__name__}")
    if not name.strip(".").strip():
        raise ValueError(f"{what} must be a DNS name, not {name!r}")
    try:
        return dns.name.from_text(name)
    except dns.exception.DNSException as error:
        raise ValueError(f"{what} {name!r} is not a valid DNS name: {error}") from None


def _check_port(what: str, port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"{what} must be an int from 1 to 65535, not {port!r}")
    return port


def _check_scheme(scheme: object) -> str:
    if scheme not in ("http", "https"):
        raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
    return str(scheme)


def _check_nameservers(nameservers: object) -> list[str] | None:
    if nameservers is None:
        return None
    if isinstance(nameservers, str) or not isinstance(nameservers, Sequence):
        raise TypeError(
            f"nameservers must be a list of IP addresses (or None), not {nameservers!r}"
        )
    if not nameservers:
        raise ValueError("nameservers must name at least one server (or be None for resolv.conf)")
    for server in nameservers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ValueError(f"a nameserver must be an IP address, not {server!r}") from None
    return [str(server) for server in nameservers]


class _DnsSource(ABC):
    """What both DNS sources share: the servers asked, the refresh bounds, resolve and watch.

    A subclass says what one lookup is (:meth:`_lookup`); ``what`` names the
    records looked up in the warning of a failed refresh.
    """

    __slots__ = ("_dns_port", "_max_refresh", "_min_refresh", "_nameservers", "_scheme", "_what")

    def __init__(
        self,
        what: str,
        *,
        scheme: object,
        nameservers: object,
        dns_port: object,
        dns_port_name: str,
        min_refresh: float,
        max_refresh: float,
    ) -> None:
        self._what = what
        self._scheme = _check_scheme(scheme)
        self._nameservers = _check_nameservers(nameservers)
        self._dns_port = _check_port(dns_port_name, dns_port)
        check_refresh(min_refresh, max_refresh)
        self._min_refresh = float(min_refresh)
        self._max_refresh = float(max_refresh)

    @abstractmethod
    async def _lookup(self) -> tuple[Endpoints, float]:
        """One lookup: the endpoints, and how long they may be kept (seconds)."""

    async def resolve(self) -> Endpoints:
        """The endpoints the DNS records give now.

        Raises:
            ConnectError: ``unavailable``, when the lookup failed (the message says how).
        """
        endpoints, _ = await self._lookup()
        return endpoints

    def watch(self) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Endpoints]]:
        """``async with source.watch() as answers``: the set now, then each changed set.

        Raises:
            ConnectError: ``unavailable`` on entry, when the first lookup failed.
        """
        return watch_lookups(
            self._lookup,
            what=self._what,
            min_refresh=self._min_refresh,
            max_refresh=self._max_refresh,
        )


@final
class DnsSrvSource(_DnsSource):
    """A service's endpoints from the DNS SRV records of ``name`` (RFC 2782).

    What Kubernetes headless services (``_grpc._tcp.kv.default.svc.cluster.local``),
    Consul's DNS interface (``_kv._tcp.service.consul``) and Nomad expose.
    Each SRV record is a :class:`~trioplugin.discovery.ServiceEndpoint`
    with the record's priority and weight; a record whose target is ``.``
    (RFC 2782: the service is not offered here) is left out. ``name`` is
    looked up as given (absolute: no search list).

    The target's **host name** is kept in the URL by default
    (``http://kv-0.kv.default.svc.cluster.local:8080``, trailing dot
    stripped): the name is what TLS verifies, it stays the same endpoint
    when a pod's address changes, and the transport resolves it when it
    connects, with the system's resolver. When the names are known to
    ``nameservers`` only (Consul's DNS on port 8600, say), pass
    ``resolve_targets=True``: each target then becomes one endpoint per
    A/AAAA address (the SRV record's priority and weight on each), taken
    from the answer's additional section or looked up on the same servers.

    ``resolve()`` answers once. ``watch()`` looks again when the answer's
    TTL runs out (the shortest TTL used, clamped to [``min_refresh``,
    ``max_refresh``], 1 s and 300 s by default) and sends the whole set when
    it changed. A name that does not exist (NXDOMAIN) or has no SRV records
    is an answer, the empty set: a headless service scaled to zero answers
    so; it is looked at again after its negative TTL (the SOA's, if the
    server sent one) or ``min_refresh``. A lookup that fails (a timeout, no
    server reachable, SERVFAIL or REFUSED; each lookup may take up to 5 s)
    is ``unavailable`` from ``resolve()`` and from entering
    ``watch()``; once watching, the last set stays, a warning is logged
    on ``trioplugin.discovery``, and the lookup is retried after
    ``min_refresh``, doubling with jitter up to 30 s (or ``max_refresh``
    if shorter). The channel never ends because of a failure.

    Args:
        name: The SRV name (``_service._proto.domain``).
        scheme: The endpoints' URL scheme, ``"http"`` or ``"https"``.
        nameservers: The DNS servers' IP addresses; None (the default) uses
            the system's (``/etc/resolv.conf``).
        port: The port the nameservers listen on (53).
        resolve_targets: Put the targets' addresses in the URLs instead of
            their names (see above).
        min_refresh: The shortest time between lookups, in seconds.
        max_refresh: The longest time between lookups, in seconds.

    Raises:
        TypeError, ValueError: an argument is not what it must be (the
            message says which and why).
    """

    __slots__ = ("_name", "_resolve_targets")

    def __init__(
        self,
        name: str,
        *,
        scheme: str = "http",
        nameservers: Sequence[str] | None = None,
        port: int = 53,
        resolve_targets: bool = False,
        min_refresh: float = DEFAULT_MIN_REFRESH,
        max_refresh: float = DEFAULT_MAX_REFRESH,
    ) -> None:
        self._name = _check_name("name", name)
        if not isinstance(resolve_targets, bool):
            raise TypeError(f"resolve_targets must be a bool, not {resolve_targets!r}")
        super().__init__(
            f"the SRV records of {self.name}",
            scheme=scheme,
            nameservers=nameservers,
            dns_port=port,
            dns_port_name="port",
            min_refresh=min_refresh,
            max_refresh=max_refresh,
        )
        self._resolve_targets = resolve_targets

    @property
    def name(self) -> str:
        """The SRV name looked up (without the final dot)."""
        return str(self._name.to_text(omit_final_dot=True))

    async def _lookup(self) -> tuple[Endpoints, float]:
        return await lookup_srv(
            make_resolver(self._nameservers, self._dns_port),
            self._name,
            self._scheme,
            resolve_targets=self._resolve_targets,
            default_ttl=self._min_refresh,
        )

    def __repr__(self) -> str:
        return f"DnsSrvSource({self.name!r}, scheme={self._scheme!r})"


@final
class DnsAddressSource(_DnsSource):
    """A service's endpoints from the A and AAAA records of ``host``, each with ``port``.

    For a name with several addresses behind one port (a Kubernetes
    headless service's plain name, a round-robin record). Each address is
    an endpoint, ``priority=0, weight=1``; an IPv6 one in brackets
    (``http://[fd00::7]:8080``).

    Refreshing and failures go as for :class:`DnsSrvSource`: looked at again
    at the answer's shortest TTL clamped to [``min_refresh``,
    ``max_refresh``] (1 s and 300 s by default); NXDOMAIN or no address
    records is the empty set; a failed lookup is ``unavailable`` from
    ``resolve()`` and from entering ``watch()``, and once watching keeps
    the last set, logs a warning and retries with backoff.

    Args:
        host: The host name whose addresses are the endpoints.
        port: The endpoints' port.
        scheme: The endpoints' URL scheme, ``"http"`` or ``"https"``.
        nameservers: The DNS servers' IP addresses; None (the default) uses
            the system's (``/etc/resolv.conf``).
        dns_port: The port the nameservers listen on (53).
        min_refresh: The shortest time between lookups, in seconds.
        max_refresh: The longest time between lookups, in seconds.

    Raises:
        TypeError, ValueError: an argument is not what it must be (the
            message says which and why).
    """

    __slots__ = ("_host", "_port")

    def __init__(
        self,
        host: str,
        port: int,
        *,
        scheme: str = "http",
        nameservers: Sequence[str] | None = None,
        dns_port: int = 53,
        min_refresh: float = DEFAULT_MIN_REFRESH,
        max_refresh: float = DEFAULT_MAX_REFRESH,
    ) -> None:
        self._host = _check_name("host", host)
        self._port = _check_port("port", port)
        super().__init__(
            f"the addresses of {self.host}",
            scheme=scheme,
            nameservers=nameservers,
            dns_port=dns_port,
            dns_port_name="dns_port",
            min_refresh=min_refresh,
            max_refresh=max_refresh,
        )

    @property
    def host(self) -> str:
        """The host name looked up (without the final dot)."""
        return str(self._host.to_text(omit_final_dot=True))

    async def _lookup(self) -> tuple[Endpoints, float]:
        found, ttl = await lookup_addresses(
            make_resolver(self._nameservers, self._dns_port),
            self._host,
            self._port,
            self._scheme,
            default_ttl=self._min_refresh,
        )
        return endpoint_set(found), ttl

    def __repr__(self) -> str:
        return f"DnsAddressSource({self.host!r}, {self._port!r}, scheme={self._scheme!r})"
