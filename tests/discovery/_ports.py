"""Loopback ports for servers the tests restart: free for TCP and UDP, not ephemeral.

dnsmasq listens on one port for both UDP and TCP, and both it and etcd are
restarted on the same port within a test. A port the kernel hands out for
port 0 is from the ephemeral range, the same range every outgoing TCP
connection on the machine takes its local port from (the tests' own, and
those of other test runs alongside): such a connection can take the port
between a probe and a start, or while the server is down for a restart,
and the server then fails with "Address already in use". Ports below the
ephemeral range are only ever taken by a process asking for them.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000
_TRIES = 200
_random = random.SystemRandom()  # not the random module's: a seeded run would pick alike
_given: set[int] = set()  # never the same port twice in one run (etcd asks for two at once)


def _ephemeral_start() -> int:
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A port on 127.0.0.1 that nothing has bound for TCP or UDP, below the ephemeral range.

    Never one it gave before in this process.

    Raises:
        RuntimeError: none found in 200 tries.
    """
    highest = max(_ephemeral_start() - 1, _LOWEST + 1)
    for _ in range(_TRIES):
        port = _random.randint(_LOWEST, highest)
        if port in _given:
            continue
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
            ):
                tcp.bind(("127.0.0.1", port))
                udp.bind(("127.0.0.1", port))
        except OSError:
            continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port from {_LOWEST} to {highest} in {_TRIES} tries")
