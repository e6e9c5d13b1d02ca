"""A plugin program for the tests: ``python -m tests.plugin.echo_plugin``, run by a host.

``TEST_PLUGIN_MODE`` makes it misbehave in one way each: ``garbage``
prints on stdout before its handshake, ``silent`` never prints it,
``crash`` exits with an error before it, ``stubborn`` serves but then
neither exits when told nor on SIGTERM (it blocks the signal),
``logs`` logs at every level, ``die-on-echo`` exits with status 1 on an
Echo of ``"die"``, ``exit-soon`` exits with status 1 a moment after it
starts serving, ``health-on-echo`` reports the health an Echo names
(``"degraded"``, ``"not_serving"``, ``"serving"``), ``refuse-all`` refuses
every call to its own services in an interceptor, ``bad-version`` prints
a core version we do not speak.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from trioplugin import Code, ConnectError
from trioplugin.plugin import HandshakeConfig, HealthReporter, HealthStatus, serve
from trioplugin.rpc import HandlerContext

CONFIG = HandshakeConfig(app_protocol_versions=(1, 2))


log = logging.getLogger("echo.plugin")


class LoggingEcho(EchoImpl):
    """Logs at every level, and prints, on each Echo call."""

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        log.debug("debug line")
        log.info("info line")
        log.warning("warning line")
        log.error("error line")
        print("printed by a handler")  # serve() sends stdout to stderr
        return await super().Echo(request, ctx)


class DyingEcho(EchoImpl):
    """Exits the process, status 1, on an Echo of "die"."""

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        if request.text == "die":
            os._exit(1)
        return await super().Echo(request, ctx)


class HealthEcho(EchoImpl):
    """Reports the health an Echo names, as its text."""

    def __init__(self, health: HealthReporter) -> None:
        super().__init__()
        self._health = health

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        self._health.set(HealthStatus(request.text), reason="asked by a test")
        return await super().Echo(request, ctx)


async def refuse(call: object, call_next: object) -> None:
    """An interceptor that lets no call through."""
    raise ConnectError(Code.UNAUTHENTICATED, "refused by the plugin's interceptor")


def exit_soon() -> None:
    time.sleep(0.3)
    os._exit(1)


def main() -> None:
    mode = os.environ.get("TEST_PLUGIN_MODE", "")
    if mode == "garbage":
        print("Loading configuration...", flush=True)
    elif mode == "silent":
        time.sleep(60)
        return
    elif mode == "crash":
        print("fatal: cannot open the store", file=sys.stderr, flush=True)
        raise SystemExit(3)
    elif mode == "bad-version":
        print("9|1|tcp|127.0.0.1:1|connect", flush=True)
        time.sleep(60)
        return
    elif mode == "stubborn":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    if mode == "exit-soon":
        threading.Thread(target=exit_soon, daemon=True).start()
    health = HealthReporter()
    implementation: EchoImpl = {
        "logs": LoggingEcho,
        "die-on-echo": DyingEcho,
    }.get(mode, EchoImpl)()
    if mode == "health-on-echo":
        implementation = HealthEcho(health)
    interceptors = [refuse] if mode == "refuse-all" else []
    serve({ECHO: implementation}, config=CONFIG, health=health, interceptors=interceptors)
    log.info("stopped")
    if mode == "stubborn":
        time.sleep(60)


if __name__ == "__main__":
    main()
