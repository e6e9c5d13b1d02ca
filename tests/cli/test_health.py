"""``trioplugin health``: Check and Watch of grpc.health.v1, and the exit status they give."""

from __future__ import annotations

import trio

from tests.cli.conftest import CLI, Done
from tests.cli.health_service import TinyHealth
from tests.echo_service import ECHO, EchoImpl
from trioplugin.plugin.protos.grpc.health.v1.health_pb2 import HealthCheckResponse
from trioplugin.rpc import serve_connect
from trioplugin.transport import Server


async def test_a_serving_server_exits_0(cli: CLI, server: Server) -> None:
    assert await cli("health", server.url) == Done(0, "SERVING\n", "")
    assert await cli("health", f"{server.url}/", "--http1") == Done(0, "SERVING\n", "")


async def test_a_service_not_serving_exits_1(cli: CLI, server: Server) -> None:
    done = await cli("health", server.url, "--service", "sick.v1.Sick")
    assert done == Done(1, "NOT_SERVING\n", "")


async def test_an_unknown_service_is_the_servers_error(cli: CLI, server: Server) -> None:
    done = await cli("health", server.url, "--service", "nope.v1.Nope")
    assert done == Done(1, "", "error: not_found unknown service 'nope.v1.Nope'\n")


async def test_a_server_without_health_is_unimplemented(cli: CLI, nursery: trio.Nursery) -> None:
    bare: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()})
    done = await cli("health", bare.url)
    assert (done.status, done.out) == (1, "")
    assert done.err.startswith("error: unimplemented ")


async def test_watch_prints_each_change_and_exits_by_the_last(
    cli: CLI, server: Server, health: TinyHealth
) -> None:
    done: list[Done] = []

    async def watch() -> None:
        done.append(await cli("health", server.url, "--watch"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        await health.watching.wait()
        health.change(HealthCheckResponse.NOT_SERVING)
        health.change(HealthCheckResponse.SERVING)
        health.change(HealthCheckResponse.NOT_SERVING)
        await health.end_watches()
    assert done == [Done(1, "SERVING\nNOT_SERVING\nSERVING\nNOT_SERVING\n", "")]


async def test_a_watch_for_a_while_ends_well_at_its_timeout(cli: CLI, server: Server) -> None:
    assert await cli("health", server.url, "--watch", "--timeout", "0.5") == Done(
        0, "SERVING\n", ""
    )
    # A service the server does not know (yet) is watched too; SERVICE_UNKNOWN is not SERVING.
    done = await cli("health", server.url, "--service", "nope", "--watch", "--timeout", "0.5")
    assert done == Done(1, "SERVICE_UNKNOWN\n", "")


async def test_bad_urls_are_usage_errors(cli: CLI) -> None:
    done = await cli("health", "127.0.0.1:8080")
    assert done == Done(2, "", "error: '127.0.0.1:8080' is not an http:// or https:// URL\n")
