"""The built-in services answer as connect-plugin-go's do, and go beyond where it stops."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from tests.echo_service import ECHO, EchoImpl
from trioplugin import ClientOptions, Code, ConnectError, open_client
from trioplugin.plugin import HandshakeConfig, HealthReporter, HealthStatus
from trioplugin.plugin._builtin import builtin_services
from trioplugin.plugin.protos.connectplugin.health.v1 import health_pb2 as cp
from trioplugin.plugin.protos.connectplugin.health.v1.health_trioplugin import HealthServiceClient
from trioplugin.plugin.protos.connectplugin.v1 import control_pb2
from trioplugin.plugin.protos.connectplugin.v1.control_trioplugin import PluginControlClient
from trioplugin.plugin.protos.connectplugin.v1.handshake_pb2 import HandshakeRequest
from trioplugin.plugin.protos.connectplugin.v1.handshake_trioplugin import HandshakeServiceClient
from trioplugin.plugin.protos.grpc.health.v1 import health_pb2 as grpc
from trioplugin.plugin.protos.grpc.health.v1.health_trioplugin import HealthClient
from trioplugin.rpc import Client, serve_connect

CONFIG = HandshakeConfig(app_protocol_versions=(1, 2))


class Plugin:
    def __init__(
        self, client: Client, health: HealthReporter, stops: list[tuple[float | None, str]]
    ) -> None:
        self.handshake = HandshakeServiceClient(client)
        self.health = HealthServiceClient(client)
        self.grpc = HealthClient(client)
        self.control = PluginControlClient(client)
        self.reporter = health
        self.stops = stops


@pytest.fixture
async def plugin(nursery: trio.Nursery) -> AsyncIterator[Plugin]:
    health = HealthReporter()
    stops: list[tuple[float | None, str]] = []
    services = builtin_services(
        CONFIG, health, lambda grace, why: stops.append((grace, why)), [ECHO]
    )
    server = await nursery.start(serve_connect, {**services, ECHO: EchoImpl()})
    async with open_client(server.url, ClientOptions()) as client:
        yield Plugin(client, health, stops)


def request(**fields: object) -> HandshakeRequest:
    base: dict[str, object] = {
        "core_protocol_version": 1,
        "app_protocol_version": 1,
        "magic_cookie_key": CONFIG.magic_cookie_key,
        "magic_cookie_value": CONFIG.magic_cookie_value,
    }
    return HandshakeRequest(**(base | fields))  # type: ignore[arg-type]


async def test_the_handshake_answers_with_the_versions_and_the_services(plugin: Plugin) -> None:
    reply = await plugin.handshake.Handshake(request(requested_plugins=["EchoService", "Nope"]))
    assert (reply.core_protocol_version, reply.app_protocol_version) == (1, 1)
    assert list(reply.app_protocol_versions) == [1, 2]
    assert [(p.name, p.service_path) for p in reply.plugins] == [("EchoService", f"/{ECHO.name}/")]
    assert reply.server_metadata["server"] == "trioplugin"
    assert reply.runtime_id == ""


async def test_a_version_list_gets_the_highest_common_one(plugin: Plugin) -> None:
    reply = await plugin.handshake.Handshake(request(app_protocol_versions=[1, 2, 3]))
    assert reply.app_protocol_version == 2


async def test_a_self_id_gets_a_runtime_identity(plugin: Plugin) -> None:
    reply = await plugin.handshake.Handshake(request(self_id="kv-host"))
    assert reply.runtime_id.startswith("kv-host-")
    assert len(reply.runtime_token) >= 32


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        (
            {"magic_cookie_value": "x"},
            Code.INVALID_ARGUMENT,
            "invalid magic cookie - this may not be a connect-plugin server",
        ),
        (
            {"magic_cookie_key": "", "magic_cookie_value": ""},
            Code.INVALID_ARGUMENT,
            "invalid magic cookie",
        ),
        (
            {"core_protocol_version": 2},
            Code.INVALID_ARGUMENT,
            "unsupported core protocol version: 2 (server supports: 1)",
        ),
        (
            {"app_protocol_version": 5},
            Code.FAILED_PRECONDITION,
            "version mismatch: client=5, server=1, 2",
        ),
        (
            {"app_protocol_versions": [3, 4]},
            Code.FAILED_PRECONDITION,
            "no common app protocol version: client speaks 3, 4, server speaks 1, 2",
        ),
    ],
)
async def test_a_bad_handshake_gets_connect_plugin_gos_code_and_words(
    plugin: Plugin, fields: dict[str, object], code: Code, message: str
) -> None:
    with pytest.raises(ConnectError) as caught:
        await plugin.handshake.Handshake(request(**fields))
    assert caught.value.code is code
    assert message in caught.value.message


async def test_check_reports_three_states_on_both_health_services(plugin: Plugin) -> None:
    for status, cp_status, degraded, grpc_status in [
        (HealthStatus.SERVING, cp.SERVING_STATUS_SERVING, False, grpc.HealthCheckResponse.SERVING),
        (HealthStatus.DEGRADED, cp.SERVING_STATUS_SERVING, True, grpc.HealthCheckResponse.SERVING),
        (
            HealthStatus.NOT_SERVING,
            cp.SERVING_STATUS_NOT_SERVING,
            False,
            grpc.HealthCheckResponse.NOT_SERVING,
        ),
    ]:
        plugin.reporter.set(status, "kv", reason=status.name)
        reply = await plugin.health.Check(cp.HealthCheckRequest(service="kv"))
        assert (reply.status, reply.degraded) == (cp_status, degraded)
        assert (
            await plugin.grpc.Check(grpc.HealthCheckRequest(service="kv"))
        ).status == grpc_status


async def test_check_of_an_unknown_service_is_not_found(plugin: Plugin) -> None:
    for check in (
        plugin.health.Check(cp.HealthCheckRequest(service="nope")),
        plugin.grpc.Check(grpc.HealthCheckRequest(service="nope")),
    ):
        with pytest.raises(ConnectError) as caught:
            await check
        assert caught.value.code is Code.NOT_FOUND
        assert caught.value.message == "unknown service: nope"


async def test_watch_sees_the_status_now_then_each_change(plugin: Plugin) -> None:
    seen: list[tuple[int, bool]] = []
    async with plugin.health.Watch(cp.HealthCheckRequest(service="kv")) as replies:
        first = await replies.receive()
        assert first.status == cp.SERVING_STATUS_SERVICE_UNKNOWN
        plugin.reporter.set(HealthStatus.SERVING, "kv")
        for status in (HealthStatus.DEGRADED, HealthStatus.NOT_SERVING):
            reply = await replies.receive()
            seen.append((reply.status, reply.degraded))
            plugin.reporter.set(status, "kv")
        reply = await replies.receive()
        seen.append((reply.status, reply.degraded))
    assert seen == [
        (cp.SERVING_STATUS_SERVING, False),
        (cp.SERVING_STATUS_SERVING, True),
        (cp.SERVING_STATUS_NOT_SERVING, False),
    ]


async def test_grpc_watch_of_an_unknown_service_says_so_and_keeps_watching(plugin: Plugin) -> None:
    async with plugin.grpc.Watch(grpc.HealthCheckRequest(service="later")) as replies:
        assert (await replies.receive()).status == grpc.HealthCheckResponse.SERVICE_UNKNOWN
        plugin.reporter.set(HealthStatus.SERVING, "later")
        assert (await replies.receive()).status == grpc.HealthCheckResponse.SERVING


async def test_control_reports_health_and_acknowledges_shutdown(plugin: Plugin) -> None:
    plugin.reporter.set(HealthStatus.DEGRADED, reason="disk 93% full")
    health = await plugin.control.GetHealth(control_pb2.GetHealthRequest())
    assert (health.state, health.reason) == (control_pb2.HEALTH_STATE_DEGRADED, "disk 93% full")
    reply = await plugin.control.Shutdown(
        control_pb2.ShutdownRequest(grace_period_seconds=3, reason="bye")
    )
    assert reply.acknowledged
    assert plugin.stops == [(3.0, "bye")]
    await plugin.control.Shutdown(control_pb2.ShutdownRequest())
    assert plugin.stops[-1] == (None, "the host asked (Shutdown)")
    with pytest.raises(ConnectError) as caught:
        await plugin.control.Shutdown(control_pb2.ShutdownRequest(grace_period_seconds=-1))
    assert caught.value.code is Code.INVALID_ARGUMENT


def test_the_reporter_refuses_what_is_not_a_status() -> None:
    health = HealthReporter()
    assert health.status() is HealthStatus.SERVING
    with pytest.raises(TypeError, match="must be a HealthStatus"):
        health.set("serving")  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="no health status for service 'kv'; there are ''"):
        health.status("kv")
    health.set(HealthStatus.DEGRADED, "kv", reason="slow")
    assert (health.services, health.reason("kv")) == (("", "kv"), "slow")
    assert repr(health) == "<HealthReporter {'': SERVING, 'kv': DEGRADED}>"
