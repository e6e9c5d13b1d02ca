"""Watching an endpoint's health through its handle, for service handles: the plugin services."""

from __future__ import annotations

from collections.abc import Callable

from ..actor import HealthStatus, PluginHandle
from ..protocol import Code, ConnectError
from ._builtin import status_of
from .protos.connectplugin.health.v1.health_pb2 import HealthCheckRequest
from .protos.connectplugin.health.v1.health_trioplugin import HealthServiceClient
from .protos.grpc.health.v1 import health_pb2 as grpc_health
from .protos.grpc.health.v1.health_trioplugin import HealthClient


async def watch_health(handle: PluginHandle, report: Callable[[HealthStatus], None]) -> None:
    """Report an endpoint's overall health now and at each change, until its stream ends.

    Watches ``connectplugin.health.v1.HealthService`` (three states), or,
    where the endpoint does not serve it, ``grpc.health.v1.Health``
    (serving or not). The watch is a server stream through ``handle``, so
    it goes through the endpoint's interceptors (its token, its breaker)
    and takes one of its actor's in-flight places. A
    :class:`~trioplugin.discovery.HealthWatch`: the default of
    :meth:`~trioplugin.PluginNursery.connect_service`.

    Raises:
        ConnectError: the watch failed; ``unimplemented`` if the endpoint
            serves neither health service.
    """
    try:
        async with HealthServiceClient(handle).Watch(HealthCheckRequest(service="")) as statuses:
            async for response in statuses:  # ends: the endpoint ends the stream
                report(status_of(response))
        return
    except ConnectError as error:
        if error.code is not Code.UNIMPLEMENTED:
            raise
    async with HealthClient(handle).Watch(grpc_health.HealthCheckRequest(service="")) as statuses:
        async for answer in statuses:  # ends: the endpoint ends the stream
            serving = answer.status == grpc_health.HealthCheckResponse.SERVING
            report(HealthStatus.SERVING if serving else HealthStatus.NOT_SERVING)
