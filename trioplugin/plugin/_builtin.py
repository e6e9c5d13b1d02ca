"""The services every plugin serves beside its own: handshake, health and control.

Wire-compatible with connect-plugin-go: ``connectplugin.v1.HandshakeService``,
``connectplugin.health.v1.HealthService`` and ``connectplugin.v1.PluginControl``
answer as its servers do (same codes, same words), so its hosts can use our
plugins. ``grpc.health.v1.Health`` is there for standard health checkers.
Beyond connect-plugin-go: the app protocol version is negotiated over a
list (field 100) when the host sends one, and health has three states.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Final

from .._version import __version__
from ..actor import HealthStatus
from ..protocol import Code, ConnectError
from ..rpc import HandlerContext, Service
from ._config import (
    CORE_PROTOCOL_VERSION,
    HandshakeConfig,
    listed_versions,
    negotiate_version,
)
from ._health import HealthReporter
from .protos.connectplugin.health.v1 import health_pb2 as cp_health
from .protos.connectplugin.health.v1.health_trioplugin import HEALTH_SERVICE
from .protos.connectplugin.v1 import control_pb2, handshake_pb2
from .protos.connectplugin.v1.control_trioplugin import PLUGIN_CONTROL
from .protos.connectplugin.v1.handshake_trioplugin import HANDSHAKE_SERVICE
from .protos.grpc.health.v1 import health_pb2 as grpc_health
from .protos.grpc.health.v1.health_trioplugin import HEALTH

RequestShutdown = Callable[[float | None, str], None]
"""Asks the plugin to stop, with a grace period (None: its own) and a reason; returns at once."""

_CP_STATUS: Final = {
    HealthStatus.SERVING: cp_health.SERVING_STATUS_SERVING,
    HealthStatus.DEGRADED: cp_health.SERVING_STATUS_SERVING,
    HealthStatus.NOT_SERVING: cp_health.SERVING_STATUS_NOT_SERVING,
}
_GRPC_STATUS: Final = {
    HealthStatus.SERVING: grpc_health.HealthCheckResponse.SERVING,
    HealthStatus.DEGRADED: grpc_health.HealthCheckResponse.SERVING,
    HealthStatus.NOT_SERVING: grpc_health.HealthCheckResponse.NOT_SERVING,
}
_CONTROL_STATE: Final = {
    HealthStatus.SERVING: control_pb2.HEALTH_STATE_HEALTHY,
    HealthStatus.DEGRADED: control_pb2.HEALTH_STATE_DEGRADED,
    HealthStatus.NOT_SERVING: control_pb2.HEALTH_STATE_UNHEALTHY,
}


def builtin_services(
    config: HandshakeConfig,
    health: HealthReporter,
    request_shutdown: RequestShutdown,
    served: Sequence[Service],
) -> dict[Service, object]:
    """The four built-in services, ready to serve beside ``served``."""
    return {
        HANDSHAKE_SERVICE: Handshake(config, served),
        **health_services(health),
        PLUGIN_CONTROL: Control(health, request_shutdown),
    }


def health_services(health: HealthReporter) -> dict[Service, object]:
    """The two health services, reporting ``health``: to serve beside your own.

    ``connectplugin.health.v1.HealthService`` (three states) and
    ``grpc.health.v1.Health`` (serving or not), as every plugin serves
    them. A server that is not a launched plugin (a replica of a service,
    reached through discovery) serves them so that hosts can watch it::

        health = HealthReporter()
        async with open_connect_server({KV: store, **health_services(health)}) as server:
            ...
            health.set(HealthStatus.NOT_SERVING, reason="shutting down")
    """
    return {HEALTH_SERVICE: ConnectPluginHealth(health), HEALTH: GRPCHealth(health)}


class Handshake:
    """``connectplugin.v1.HandshakeService``: the cookie and the versions, checked."""

    def __init__(self, config: HandshakeConfig, served: Sequence[Service]) -> None:
        self._config = config
        self._served = {service.name: service for service in served}  # full names
        self._served.update({service.descriptor.name: service for service in served})

    async def Handshake(
        self, request: handshake_pb2.HandshakeRequest, ctx: HandlerContext, /
    ) -> handshake_pb2.HandshakeResponse:
        """Check the cookie, the core and the app protocol versions; describe the plugin."""
        config = self._config
        if (request.magic_cookie_key, request.magic_cookie_value) != (
            config.magic_cookie_key,
            config.magic_cookie_value,
        ):
            raise ConnectError(
                Code.INVALID_ARGUMENT,
                "invalid magic cookie - this may not be a connect-plugin server",
            )
        if request.core_protocol_version != CORE_PROTOCOL_VERSION:
            raise ConnectError(
                Code.INVALID_ARGUMENT,
                f"unsupported core protocol version: {request.core_protocol_version} "
                f"(server supports: {CORE_PROTOCOL_VERSION})",
            )
        version = self._app_version(request)
        response = handshake_pb2.HandshakeResponse(
            core_protocol_version=CORE_PROTOCOL_VERSION,
            app_protocol_version=version,
            app_protocol_versions=config.app_protocol_versions,
            server_metadata={"server_version": __version__, "server": "trioplugin"},
        )
        if request.self_id:
            response.runtime_id = f"{request.self_id}-{secrets.token_hex(4)}"
            response.runtime_token = secrets.token_urlsafe(32)
        for name in request.requested_plugins:
            service = self._served.get(name)
            if service is not None:  # as connect-plugin-go: skipped, the client tells
                response.plugins.add(name=name, service_path=f"/{service.name}/")
        return response

    def _app_version(self, request: handshake_pb2.HandshakeRequest) -> int:
        ours = self._config.app_protocol_versions
        theirs = tuple(request.app_protocol_versions)
        if theirs:
            version = negotiate_version(ours, theirs)
            if version is None:
                raise ConnectError(
                    Code.FAILED_PRECONDITION,
                    f"no common app protocol version: client speaks {listed_versions(theirs)}, "
                    f"server speaks {listed_versions(ours)}",
                )
            return version
        # A connect-plugin-go client sends one version and expects an exact match.
        if request.app_protocol_version not in ours:
            raise ConnectError(
                Code.FAILED_PRECONDITION,
                f"version mismatch: client={request.app_protocol_version}, "
                f"server={listed_versions(ours)}",
            )
        return request.app_protocol_version


class ConnectPluginHealth:
    """``connectplugin.health.v1.HealthService``: degraded is serving, with ``degraded`` set."""

    def __init__(self, health: HealthReporter) -> None:
        self._health = health

    async def Check(
        self, request: cp_health.HealthCheckRequest, ctx: HandlerContext, /
    ) -> cp_health.HealthCheckResponse:
        """The status of ``request.service``; not_found if it has none."""
        if request.service not in self._health:
            raise ConnectError(Code.NOT_FOUND, f"unknown service: {request.service}")
        return _cp_response(self._health.status(request.service))

    async def Watch(
        self, request: cp_health.HealthCheckRequest, ctx: HandlerContext, /
    ) -> AsyncIterator[cp_health.HealthCheckResponse]:
        """The status now, then each change; SERVICE_UNKNOWN while the service has none."""
        async for status in self._health.watch(request.service):  # ends: the call ends
            yield _cp_response(status)


def _cp_response(status: HealthStatus | None) -> cp_health.HealthCheckResponse:
    if status is None:
        return cp_health.HealthCheckResponse(status=cp_health.SERVING_STATUS_SERVICE_UNKNOWN)
    return cp_health.HealthCheckResponse(
        status=_CP_STATUS[status], degraded=status is HealthStatus.DEGRADED
    )


def status_of(response: cp_health.HealthCheckResponse) -> HealthStatus:
    """The three-state health a ``connectplugin.health.v1`` response reports.

    An unknown service reads as not serving.
    """
    if response.status == cp_health.SERVING_STATUS_SERVING:
        return HealthStatus.DEGRADED if response.degraded else HealthStatus.SERVING
    return HealthStatus.NOT_SERVING


class GRPCHealth:
    """``grpc.health.v1.Health``, for standard checkers: degraded reads as serving."""

    def __init__(self, health: HealthReporter) -> None:
        self._health = health

    async def Check(
        self, request: grpc_health.HealthCheckRequest, ctx: HandlerContext, /
    ) -> grpc_health.HealthCheckResponse:
        """The status of ``request.service``; not_found if it has none."""
        if request.service not in self._health:
            raise ConnectError(Code.NOT_FOUND, f"unknown service: {request.service}")
        return grpc_health.HealthCheckResponse(
            status=_GRPC_STATUS[self._health.status(request.service)]
        )

    async def Watch(
        self, request: grpc_health.HealthCheckRequest, ctx: HandlerContext, /
    ) -> AsyncIterator[grpc_health.HealthCheckResponse]:
        """The status now, then each change; SERVICE_UNKNOWN while the service has none."""
        async for status in self._health.watch(request.service):  # ends: the call ends
            code = (
                grpc_health.HealthCheckResponse.SERVICE_UNKNOWN
                if status is None
                else _GRPC_STATUS[status]
            )
            yield grpc_health.HealthCheckResponse(status=code)


class Control:
    """``connectplugin.v1.PluginControl``: the plugin's health for its host, and Shutdown."""

    def __init__(self, health: HealthReporter, request_shutdown: RequestShutdown) -> None:
        self._health = health
        self._request_shutdown = request_shutdown

    async def GetHealth(
        self, request: control_pb2.GetHealthRequest, ctx: HandlerContext, /
    ) -> control_pb2.GetHealthResponse:
        """The plugin's health as a whole, with the reason given for it."""
        return control_pb2.GetHealthResponse(
            state=_CONTROL_STATE[self._health.status()], reason=self._health.reason()
        )

    async def Shutdown(
        self, request: control_pb2.ShutdownRequest, ctx: HandlerContext, /
    ) -> control_pb2.ShutdownResponse:
        """Schedule the plugin's stop and acknowledge; the answer goes out before it stops."""
        if request.grace_period_seconds < 0:
            raise ConnectError(
                Code.INVALID_ARGUMENT,
                f"grace_period_seconds must be zero or more, not {request.grace_period_seconds}",
            )
        grace = float(request.grace_period_seconds) if request.grace_period_seconds else None
        self._request_shutdown(grace, request.reason or "the host asked (Shutdown)")
        return control_pb2.ShutdownResponse(acknowledged=True)
