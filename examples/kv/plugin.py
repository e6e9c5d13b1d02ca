"""The key-value plugin program: ``python -m examples.kv.plugin``, started by its host.

It accepts calls with the bearer token its host put in its environment,
and keeps its data in the file named there (so it survives a restart).
Run by hand, it says that it wants a host and exits with status 1. With
``KV_OBSERVE`` set (the host's ``--observe``) it traces the calls it serves.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trioplugin
from examples.kv.contract import (
    DATA_FILE_VARIABLE,
    HOST_IDENTITY,
    KV_PLUGINS,
    OBSERVE_VARIABLE,
    TOKEN_VARIABLE,
)
from examples.kv.kv_trioplugin import KV_SERVICE
from examples.kv.store import KVStore
from trioplugin.auth import TokenAuth, static_secrets
from trioplugin.rpc import InterceptorLike


def main() -> None:
    token = os.environ.get(TOKEN_VARIABLE)
    if token is None and KV_PLUGINS.magic_cookie_key in os.environ:
        # Started by a host that gave no token (run by hand, serve() says what is wrong).
        sys.exit(f"kv plugin: {TOKEN_VARIABLE} is not set: the host must give the token it sends")
    auth = TokenAuth(validate=static_secrets({token or "-": HOST_IDENTITY}))
    data_file = os.environ.get(DATA_FILE_VARIABLE)
    observing: list[InterceptorLike] = []
    if os.environ.get(OBSERVE_VARIABLE):
        from examples.kv.observe import plugin_interceptors  # OpenTelemetry only when asked

        observing = plugin_interceptors()
    trioplugin.serve(
        {KV_SERVICE: KVStore(Path(data_file) if data_file else None)},
        config=KV_PLUGINS,
        interceptors=[*observing, auth.server_interceptor()],
    )


if __name__ == "__main__":
    main()
