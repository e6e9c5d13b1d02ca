from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from tests.echo_service import ECHO, EchoImpl
from trioplugin import ClientOptions
from trioplugin.rpc import Client, open_client, serve_connect
from trioplugin.transport import HTTPVersion, Server


@pytest.fixture
def echo_impl() -> EchoImpl:
    return EchoImpl()


@pytest.fixture
async def echo_server(nursery: trio.Nursery, echo_impl: EchoImpl) -> Server:
    server: Server = await nursery.start(serve_connect, {ECHO: echo_impl})
    return server


@pytest.fixture(params=["1.1", "2"])
def http_version(request: pytest.FixtureRequest) -> HTTPVersion:
    version: HTTPVersion = request.param
    return version


@pytest.fixture
async def client(echo_server: Server, http_version: HTTPVersion) -> AsyncIterator[Client]:
    async with open_client(echo_server.url, ClientOptions(http_version=http_version)) as client:
        yield client
