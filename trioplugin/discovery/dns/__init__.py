"""DNS discovery: endpoints from SRV records, or from a host's addresses (the ``dns`` extra).

:class:`DnsSrvSource` reads a service's SRV records (Kubernetes headless
services, Consul's DNS interface, Nomad); :class:`DnsAddressSource` reads a
host's A and AAAA records and gives each address one port. Both follow
the :class:`~trioplugin.discovery.DiscoverySource` protocol and honour the
answers' TTLs.

This package is the only part of trioplugin that imports dnspython
(``pip install trioplugin[dns]``), whose async resolver runs on trio.
"""

from ..._util import publish_module_names as _publish_module_names
from ._sources import DnsAddressSource, DnsSrvSource

__all__ = [
    "DnsAddressSource",
    "DnsSrvSource",
]

_publish_module_names(__name__, globals())
