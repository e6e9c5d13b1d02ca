"""Servers on 127.0.0.1 in the test's trio loop, and the CLI driven through its async core."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
import trio

from tests.cli.health_service import TinyHealth
from tests.echo_service import ECHO, EchoImpl
from trioplugin._cli import run
from trioplugin._cli_common import Console
from trioplugin.plugin.protos.grpc.health.v1.health_pb2 import HealthCheckResponse
from trioplugin.plugin.protos.grpc.health.v1.health_trioplugin import HEALTH
from trioplugin.rpc import serve_connect
from trioplugin.transport import Server

ECHO_PATH = "/trioplugin.test.v1.EchoService"
PB2 = ("--pb2", "tests.echo_pb2")


@dataclass(frozen=True)
class Done:
    """What a CLI run ended with."""

    status: int
    out: str
    err: str


CLI = Callable[..., Awaitable[Done]]


@pytest.fixture
def cli() -> CLI:
    """``await cli("call", url, ..., stdin="...")``: run the CLI in this trio loop."""

    async def run_cli(*argv: str, stdin: str = "") -> Done:
        out, err = io.StringIO(), io.StringIO()
        status = await run(list(argv), Console(io.StringIO(stdin), out, err))
        return Done(status, out.getvalue(), err.getvalue())

    return run_cli


@pytest.fixture
def echo() -> EchoImpl:
    return EchoImpl()


@pytest.fixture
def health() -> TinyHealth:
    return TinyHealth(
        {"": HealthCheckResponse.SERVING, "sick.v1.Sick": HealthCheckResponse.NOT_SERVING}
    )


@pytest.fixture
async def server(nursery: trio.Nursery, echo: EchoImpl, health: TinyHealth) -> Server:
    """EchoService and a tiny grpc.health.v1.Health, served on 127.0.0.1."""
    started: Server = await nursery.start(serve_connect, {ECHO: echo, HEALTH: health})
    return started
