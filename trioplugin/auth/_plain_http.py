"""A warning when a secret would cross the network in clear text."""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Sequence
from typing import final
from urllib.parse import urlsplit

from ..rpc import Endpoint


class InsecureCredentialsWarning(UserWarning):
    """A bearer token or API key is about to be sent over plain HTTP off this machine.

    Anyone on the path can read it. Use ``https://`` (or a unix socket or
    loopback address for a plugin on the same host). Warned once per endpoint.
    """


def is_off_host_plain_http(url: str) -> bool:
    """Whether ``url`` is cleartext HTTP to a host other than this machine's loopback."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: it may resolve anywhere


@final
class PlainHTTPWarner:
    """Warns, once, that ``providers``' secrets go to ``endpoint`` in clear text."""

    __slots__ = ("_endpoint", "_pending")

    def __init__(self, endpoint: Endpoint, providers: Sequence[str]) -> None:
        self._endpoint = endpoint
        self._pending = bool(providers) and is_off_host_plain_http(endpoint.url)

    def check(self) -> None:
        """Warn if this is the first call that sends the secret in clear text."""
        if self._pending:
            self._pending = False
            warnings.warn(
                f"sending credentials to {self._endpoint.url} over plain HTTP: anyone on "
                "the network path can read them; use https:// (or a loopback address)",
                InsecureCredentialsWarning,
                stacklevel=2,
            )
