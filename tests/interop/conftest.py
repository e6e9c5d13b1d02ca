from __future__ import annotations

import pytest
import trio

from tests.echo_service import ECHO, EchoImpl
from tests.interop._peers import install_npm_peers
from trioplugin.rpc import serve_connect


@pytest.fixture(scope="session")
def npm_peers() -> None:
    """The npm peers' pinned packages, installed once per session (skips if it can't)."""
    install_npm_peers()


@pytest.fixture(params=["1.1", "2"])
def peer_http_version(request: pytest.FixtureRequest) -> str:
    """The HTTP version the peer's client speaks: HTTP/1.1, or h2c with prior knowledge."""
    return str(request.param)


@pytest.fixture
def echo_impl() -> EchoImpl:
    return EchoImpl()


@pytest.fixture
async def our_url(nursery: trio.Nursery, echo_impl: EchoImpl) -> str:
    server = await nursery.start(serve_connect, {ECHO: echo_impl})
    return str(server.url)
