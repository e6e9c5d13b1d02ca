from __future__ import annotations

import pytest
import trio

from tests.echo_service import ECHO, EchoImpl
from tests.interop._peers import install_npm_peers
from tests.interop._tools import curl_features, tool
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


@pytest.fixture(scope="session")
def curl() -> str:
    """curl, if it speaks HTTP/2 (nghttp2)."""
    path = tool("curl", "curl")
    if "HTTP2" not in curl_features(path):
        pytest.skip(f"{path} was built without HTTP/2 (nghttp2)")
    return path


@pytest.fixture(scope="session")
def curl_tls(curl: str) -> str:
    """curl, if it also speaks TLS."""
    if "SSL" not in curl_features(curl):
        pytest.skip(f"{curl} was built without TLS")
    return curl


@pytest.fixture(scope="session")
def h2load() -> str:
    return tool("h2load", "nghttp2-client")


@pytest.fixture(scope="session")
def nghttp() -> str:
    return tool("nghttp", "nghttp2-client")
