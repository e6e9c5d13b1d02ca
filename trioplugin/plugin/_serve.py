"""The plugin side: serve a plugin's services to the host that started it.

A plugin's ``__main__`` calls :func:`serve`. It checks that a host started
it, listens on 127.0.0.1, prints the handshake line, and serves the
plugin's services beside the built-in handshake, health and control
services, until the host says to stop (the Shutdown call), SIGTERM or
SIGINT arrives, or the host is gone. Then in-flight calls get the grace
period to finish.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Final, TextIO

import trio

from ..actor import HealthStatus
from ..rpc import ConnectApp, InterceptorLike, ServerOptions, Service, open_connect_server
from ._builtin import builtin_services
from ._certificates import make_identity, server_context
from ._config import (
    CORE_PROTOCOL_VERSION,
    HandshakeConfig,
    listed_versions,
    negotiate_version,
)
from ._env import NotStartedByHost, PluginEnvironment, refusal
from ._handshake_line import HandshakeLine
from ._health import HealthReporter
from ._host_watch import wait_until_host_gone
from ._logs import JSONLinesHandler

logger = logging.getLogger("trioplugin.plugin")

EXIT_NOT_STARTED_BY_HOST: Final = 1
"""The exit status of a plugin run by hand, or by a host it cannot talk to."""


class PluginServeError(Exception):
    """A plugin cannot serve: not started by a host, or no app protocol version in common."""


def serve(
    services: Mapping[Service, object],
    *,
    config: HandshakeConfig | None = None,
    health: HealthReporter | None = None,
    interceptors: Sequence[InterceptorLike] = (),
    options: ServerOptions | None = None,
    log_level: int | None = logging.INFO,
) -> None:
    """Serve ``services`` to the host that started this process; for a plugin's ``__main__``.

    Example::

        if __name__ == "__main__":
            trioplugin.serve({KV_SERVICE: Store()}, config=KV_PLUGINS)

    Runs trio until the plugin is told to stop, then returns. Run by hand
    (no host's magic cookie in the environment), or by a host with no app
    protocol version in common, it says so on stderr and exits with status
    1. See :func:`serve_plugin` for the arguments.
    """
    try:
        trio.run(
            lambda: serve_plugin(
                services,
                config=config,
                health=health,
                interceptors=interceptors,
                options=options,
                log_level=log_level,
            )
        )
    except PluginServeError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EXIT_NOT_STARTED_BY_HOST) from None


async def serve_plugin(
    services: Mapping[Service, object],
    *,
    config: HandshakeConfig | None = None,
    health: HealthReporter | None = None,
    interceptors: Sequence[InterceptorLike] = (),
    options: ServerOptions | None = None,
    log_level: int | None = logging.INFO,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> None:
    """Serve ``services`` to this process's host until it says to stop; :func:`serve` in trio.

    ``config`` is the contract shared with the host (default
    :class:`HandshakeConfig`); ``health`` reports the plugin's health to
    the host (a fresh :class:`HealthReporter`, serving, if None);
    ``interceptors`` wrap the plugin's services (the built-in handshake,
    health and control services are served without them: the host reaches
    those with no credentials of the plugin's, guarded by the launch's
    mTLS — with it off, by nothing but the loopback); ``options`` are the
    server's (its host and port are the handshake's: 127.0.0.1 and the
    port the host asked for, else a free one; its TLS is automatic mTLS
    when the host asks for it). ``log_level``, unless None, sends the
    root logger's records at that level and above to stderr as JSON lines
    for the host. ``environ`` and ``stdout`` default to the process's.

    Raises:
        PluginServeError: no host started this process, or the host speaks
            no app protocol version this plugin speaks.
    """
    config = HandshakeConfig() if config is None else config
    health = HealthReporter() if health is None else health
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    try:
        env = PluginEnvironment.read(config, environ)
    except NotStartedByHost:
        raise PluginServeError(refusal(config, os.path.basename(sys.argv[0]))) from None
    version = _app_version(config, env)
    stop = _StopRequest()
    ssl_context = None
    certificate = None
    if env.client_certificate is not None:
        identity = make_identity("trioplugin plugin")
        ssl_context = server_context(identity, env.client_certificate)
        certificate = identity.certificate_der
    builtins = builtin_services(config, health, stop.request, list(services))
    with _plugin_logging(log_level), _stdout_to_stderr(stdout):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_on_signals, stop)
            nursery.start_soon(_stop_when_host_gone, env, stop)
            server_options = _server_options(options, env.port, ssl_context)
            # The plugin's interceptors (its authentication, say) wrap its own services;
            # the host reaches the built-in ones over the launch's mTLS alone.
            app = ConnectApp(services, server_options, interceptors=interceptors)
            for service, implementation in builtins.items():
                app.add_service(service, implementation, interceptors=())
            unix = env.unix_socket if hasattr(socket, "AF_UNIX") else None
            listeners = None if unix is None else [await _unix_listener(unix)]
            async with open_connect_server(app, server_options, listeners=listeners) as server:
                if unix is None:
                    line = HandshakeLine(
                        CORE_PROTOCOL_VERSION,
                        version,
                        "tcp",
                        f"127.0.0.1:{server.port}",
                        certificate,
                    )
                else:
                    line = HandshakeLine(CORE_PROTOCOL_VERSION, version, "unix", unix, certificate)
                stdout.write(line.format() + "\n")
                stdout.flush()
                await stop.requested.wait()
                logger.info("stopping: %s", stop.reason)
                health.set(HealthStatus.NOT_SERVING, reason=stop.reason)
                grace = stop.grace
                if grace is not None:
                    with trio.move_on_after(grace):
                        await server.aclose()
            nursery.cancel_scope.cancel()


class _StopRequest:
    def __init__(self) -> None:
        self.requested = trio.Event()
        self.reason = ""
        self.grace: float | None = None

    def request(self, grace: float | None, reason: str) -> None:
        if not self.requested.is_set():
            self.reason = reason or "the host asked"
            self.grace = grace
            self.requested.set()


async def _stop_on_signals(stop: _StopRequest) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:  # ends: the nursery is cancelled once the server stops
            stop.request(None, f"{signal.Signals(signum).name} received")


async def _stop_when_host_gone(env: PluginEnvironment, stop: _StopRequest) -> None:
    reason = await wait_until_host_gone(host_pid=env.host_pid, watch_stdin=env.watch_stdin)
    stop.request(None, reason)


def _app_version(config: HandshakeConfig, env: PluginEnvironment) -> int:
    ours = config.app_protocol_versions
    if env.host_versions is None:
        return max(ours)
    version = negotiate_version(ours, env.host_versions)
    if version is None:
        raise PluginServeError(
            "this plugin and its host have no app protocol version in common: the plugin "
            f"speaks {listed_versions(ours)}, the host {listed_versions(env.host_versions)}"
        )
    return version


def _server_options(
    options: ServerOptions | None, port: int, ssl_context: ssl.SSLContext | None
) -> ServerOptions:
    options = ServerOptions() if options is None else options
    chosen = dataclasses.replace(options, host="127.0.0.1", port=port)
    if ssl_context is not None:
        chosen = dataclasses.replace(chosen, ssl_context=ssl_context)
    if port and not _port_free(port):
        logger.warning("port %d is taken: listening on a free port instead", port)
        chosen = dataclasses.replace(chosen, port=0)
    return chosen


async def _unix_listener(path: str) -> trio.SocketListener:
    # A socket file left by a predecessor that died (a restart) would make bind fail.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await sock.bind(path)
        sock.listen()
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


@contextlib.contextmanager
def _plugin_logging(level: int | None) -> Iterator[None]:
    if level is None:
        yield
        return
    root = logging.getLogger()
    handler = JSONLinesHandler(sys.stderr)
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@contextlib.contextmanager
def _stdout_to_stderr(stdout: TextIO) -> Iterator[None]:
    # The handshake line goes to ``stdout``; a print() in a handler would
    # otherwise land in the pipe the host reads for it: send those to stderr.
    if stdout is not sys.stdout:
        yield
        return
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = stdout
