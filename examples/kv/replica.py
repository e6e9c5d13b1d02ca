"""One replica of the key-value store, served on its own: ``python -m examples.kv.replica``.

What a replica of a remote service is, on one machine: a process listening
on an address of its own (127.0.0.1, a free port), serving TLS with the
certificate it is given, accepting calls with the one bearer token in its
environment, serving the plugin health services (so hosts can watch it),
and keeping its data in the data file it shares with the other replicas
(see :class:`~examples.kv.store.KVStore`). The host of
``python -m examples.kv --replicas`` starts three. Once it listens it
prints ``serving at <url>`` on stdout; it stops, gracefully, on SIGTERM or
SIGINT, or when its stdin closes (its host went away; it writes nothing there).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import trio

from examples.kv.certificate import server_context
from examples.kv.contract import HOST_IDENTITY, TOKEN_VARIABLE
from examples.kv.kv_trioplugin import KV_SERVICE
from examples.kv.store import KVStore
from trioplugin import ServerOptions, open_connect_server
from trioplugin.auth import TokenAuth, static_secrets
from trioplugin.plugin import HealthReporter, health_services

STDIN_READ = 4096


async def serve_replica(certificate: Path, data_file: Path, token: str) -> None:
    """Serve the store until told to stop."""
    auth = TokenAuth(validate=static_secrets({token: HOST_IDENTITY}))
    options = ServerOptions(host="127.0.0.1", port=0, ssl_context=server_context(certificate))
    health = HealthReporter()  # what hosts watching this replica see: serving until it stops
    services = {KV_SERVICE: KVStore(data_file), **health_services(health)}
    async with (
        open_connect_server(services, options, interceptors=[auth.server_interceptor()]) as server,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(_until_stdin_closes, nursery.cancel_scope)
        nursery.start_soon(_until_signalled, nursery.cancel_scope)
        print(f"serving at {server.url}", flush=True)


async def _until_stdin_closes(scope: trio.CancelScope) -> None:
    async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as stdin:
        await stdin.receive_some(STDIN_READ)  # the host writes nothing: this is end of file
    scope.cancel()


async def _until_signalled(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            break
    scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.kv.replica", description=__doc__)
    parser.add_argument("--certificate", type=Path, required=True, help="its certificate and key")
    parser.add_argument("--data", type=Path, required=True, help="the data file it shares")
    arguments = parser.parse_args()
    token = os.environ.get(TOKEN_VARIABLE)
    if not token:
        sys.exit(f"kv replica: {TOKEN_VARIABLE} is not set: it names the token callers send")
    trio.run(serve_replica, arguments.certificate, arguments.data, token)


if __name__ == "__main__":
    main()
