"""DNS lookups with dnspython's async resolver (on trio), as endpoint sets with their TTLs."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

import dns.asyncbackend
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver
import dns.rrset

from ...protocol import Code, ConnectError
from .._source import Endpoints, ServiceEndpoint, endpoint_set

LOOKUP_LIFETIME: Final = 5.0
"""How long one lookup (all its tries of all nameservers) may take, in seconds."""


def make_resolver(nameservers: list[str] | None, port: int) -> dns.asyncresolver.Resolver:
    """A resolver asking ``nameservers`` on ``port``, or the system's (resolv.conf) when None."""
    if nameservers is None:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.exception.DNSException as error:
            raise ConnectError(
                Code.UNAVAILABLE, f"cannot read the system's DNS set-up: {error}"
            ) from None
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = list(nameservers)
    resolver.port = port
    resolver.cache = None  # the TTLs drive the refreshes: every lookup asks the server
    return resolver


def _negative_ttl(response: dns.message.Message | None) -> float | None:
    """RFC 2308: a negative answer may be kept for min(SOA TTL, SOA minimum), if an SOA came."""
    if response is None:
        return None
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return float(min(rrset.ttl, rrset[0].minimum))
    return None


async def _query(
    resolver: dns.asyncresolver.Resolver, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> tuple[dns.rrset.RRset | None, dns.message.Message | None, float | None]:
    """(answer records or None when there are none, the response, the negative TTL)."""
    try:
        answer = await resolver.resolve(
            name,
            rdtype,
            raise_on_no_answer=False,
            lifetime=LOOKUP_LIFETIME,
            backend=dns.asyncbackend.get_backend("trio"),
        )
    except dns.resolver.NXDOMAIN as error:  # the name does not exist: no endpoints
        response = error.responses().get(name)  # type: ignore[no-untyped-call]
        return None, response, _negative_ttl(response)
    except dns.exception.Timeout:
        raise ConnectError(
            Code.UNAVAILABLE,
            f"DNS lookup of {name} {rdtype.name} timed out after {LOOKUP_LIFETIME} s",
        ) from None
    except dns.exception.DNSException as error:  # SERVFAIL, REFUSED, unreachable servers
        raise ConnectError(
            Code.UNAVAILABLE, f"DNS lookup of {name} {rdtype.name} failed: {error}"
        ) from None
    if answer.rrset is None:
        return None, answer.response, _negative_ttl(answer.response)
    return answer.rrset, answer.response, None


def _url(scheme: str, host: str, port: int) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"{scheme}://{host}:{port}"


def _ttl(ttls: Iterable[float | None], default: float) -> float:
    known = [ttl for ttl in ttls if ttl is not None]
    return min(known) if known else default


async def lookup_addresses(
    resolver: dns.asyncresolver.Resolver,
    host: dns.name.Name,
    port: int,
    scheme: str,
    *,
    default_ttl: float,
    priority: int = 0,
    weight: int = 1,
    response: dns.message.Message | None = None,
) -> tuple[list[ServiceEndpoint], float]:
    """``host``'s A and AAAA records as endpoints, and the shortest TTL among them.

    Records of ``response``'s additional section (an SRV answer's) are used
    when it has some for ``host``; otherwise both types are asked for.
    """
    found: list[ServiceEndpoint] = []
    ttls: list[float | None] = []
    given = []
    if response is not None:
        given = [
            rrset
            for rrset in response.additional
            if rrset.name == host and rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        ]
    if given:
        rrsets: list[dns.rrset.RRset | None] = list(given)
        ttls = [float(rrset.ttl) for rrset in given]
    else:
        rrsets = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            rrset, _, negative = await _query(resolver, host, rdtype)
            rrsets.append(rrset)
            ttls.append(float(rrset.ttl) if rrset is not None else negative)
    for rrset in rrsets:
        for record in rrset or ():
            found.append(ServiceEndpoint(_url(scheme, record.address, port), priority, weight))
    return found, _ttl(ttls, default_ttl)


async def lookup_srv(
    resolver: dns.asyncresolver.Resolver,
    name: dns.name.Name,
    scheme: str,
    *,
    resolve_targets: bool,
    default_ttl: float,
) -> tuple[Endpoints, float]:
    """``name``'s SRV records as endpoints, and the shortest TTL of what was used."""
    rrset, response, negative = await _query(resolver, name, dns.rdatatype.SRV)
    if rrset is None:
        return (), _ttl([negative], default_ttl)
    found: list[ServiceEndpoint] = []
    ttls: list[float | None] = [float(rrset.ttl)]
    # The best record of a URL listed twice is kept: lowest priority, then highest weight.
    for record in sorted(rrset, key=lambda record: (record.priority, -record.weight)):
        if record.target == dns.name.root:  # RFC 2782: "." says the service is not here
            continue
        if resolve_targets:
            addresses, ttl = await lookup_addresses(
                resolver,
                record.target,
                record.port,
                scheme,
                default_ttl=default_ttl,
                priority=record.priority,
                weight=record.weight,
                response=response,
            )
            found += addresses
            ttls.append(ttl)
        else:
            host = record.target.to_text(omit_final_dot=True)
            found.append(
                ServiceEndpoint(_url(scheme, host, record.port), record.priority, record.weight)
            )
    return endpoint_set(found), _ttl(ttls, default_ttl)
