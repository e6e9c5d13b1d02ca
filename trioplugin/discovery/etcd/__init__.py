"""etcd as a registry: plugins register under a lease, the host watches the prefix.

A plugin runs in ``async with open_etcd_registration(prefix, name, url):``,
which puts the key ``prefix + name`` under a lease with a TTL and keeps the
lease alive; the host reads and watches every key under ``prefix`` with an
:class:`EtcdSource`. Leaving the plugin's block revokes the lease, so the
key goes at once; a plugin that dies loses it when the TTL runs out.

Both talk to etcd's v3 API through its JSON gateway (``/v3/...``, etcd 3.4
and later) with httpx on trio, which trioplugin has anyway: the Python etcd
clients are gRPC with blocking calls (python-etcd3, unmaintained) or
asyncio only (aetcd). This package is not imported by
``trioplugin.discovery``, so httpx is imported only when it is.
"""

from ..._util import publish_module_names as _publish_module_names
from ._registration import EtcdRegistration, open_etcd_registration
from ._source import EtcdSource

__all__ = ["EtcdRegistration", "EtcdSource", "open_etcd_registration"]

_publish_module_names(__name__, globals())
