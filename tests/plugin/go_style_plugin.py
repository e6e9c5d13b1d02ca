"""A plugin that behaves as one written with connect-plugin-go (run by the tests as a host would).

It does what connect-plugin-go's ``Serve`` does, as far as a host can
tell: listens on ``PORT`` (all interfaces, cleartext HTTP) and prints no
handshake line; answers ``connectplugin.v1.HandshakeService/Handshake``
only for its one app protocol version (``GO_PLUGIN_VERSION``, default 1;
else ``failed_precondition: version mismatch: client=X, server=Y``) and
a wrong cookie with ``invalid_argument``; serves no health and no
PluginControl; logs plain text on stderr; exits on SIGTERM or SIGINT.
``GO_PLUGIN_MODE=crash`` exits with status 3 before it listens.
"""

from __future__ import annotations

import os
import signal
import sys

import trio

from tests.echo_service import ECHO, EchoImpl
from trioplugin import Code, ConnectError
from trioplugin.plugin import DEFAULT_MAGIC_COOKIE_KEY, DEFAULT_MAGIC_COOKIE_VALUE
from trioplugin.plugin.protos.connectplugin.v1.handshake_pb2 import (
    HandshakeRequest,
    HandshakeResponse,
)
from trioplugin.plugin.protos.connectplugin.v1.handshake_trioplugin import HANDSHAKE_SERVICE
from trioplugin.rpc import HandlerContext, ServerOptions, open_connect_server


class GoHandshake:
    """connect-plugin-go's handshake rules: the cookie, core version 1, one app version."""

    def __init__(self, version: int) -> None:
        self.version = version

    async def Handshake(self, request: HandshakeRequest, ctx: HandlerContext) -> HandshakeResponse:
        if (
            request.magic_cookie_key != DEFAULT_MAGIC_COOKIE_KEY
            or request.magic_cookie_value != DEFAULT_MAGIC_COOKIE_VALUE
        ):
            raise ConnectError(
                Code.INVALID_ARGUMENT,
                "invalid magic cookie - this may not be a connect-plugin server",
            )
        if request.app_protocol_version != self.version:
            raise ConnectError(
                Code.FAILED_PRECONDITION,
                f"version mismatch: client={request.app_protocol_version}, server={self.version}",
            )
        return HandshakeResponse(core_protocol_version=1, app_protocol_version=self.version)


async def main() -> None:
    if os.environ.get("GO_PLUGIN_MODE") == "crash":
        print("2026/12/03 10:00:00 cannot open the store", file=sys.stderr, flush=True)
        raise SystemExit(3)
    port = int(os.environ["PORT"])
    version = int(os.environ.get("GO_PLUGIN_VERSION", "1"))
    services = {ECHO: EchoImpl(), HANDSHAKE_SERVICE: GoHandshake(version)}
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_connect_server(services, ServerOptions(host="0.0.0.0", port=port)):
            print(f"2026/12/03 10:00:00 serving on :{port}", file=sys.stderr, flush=True)
            async for _ in signals:
                break
    print("2026/12/03 10:00:01 stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    trio.run(main)
