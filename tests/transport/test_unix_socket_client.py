"""Our clients reach a server on a unix socket: both HTTP versions, cleartext and TLS."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trustme

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.tls import client_context, server_context
from trioplugin import ClientOptions
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import ServerOptions, open_client, open_connect_server
from trioplugin.transport import HTTPVersion


@asynccontextmanager
async def unix_server(path: Path, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[None]:
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await sock.bind(str(path))
    sock.listen()
    options = ServerOptions(ssl_context=ssl_context)
    async with open_connect_server(
        {ECHO: EchoImpl()}, options, listeners=[trio.SocketListener(sock)]
    ):
        yield


@pytest.mark.parametrize("version", ["2", "1.1"])
async def test_a_call_over_a_unix_socket(tmp_path: Path, version: HTTPVersion) -> None:
    path = tmp_path / "plugin.sock"
    async with unix_server(path):
        options = ClientOptions(http_version=version, unix_socket=str(path))
        async with open_client("http://localhost", options) as client:
            reply = await client.stub(ECHO).Echo(EchoRequest(text="over unix"))
    assert reply.text == "over unix"
    assert dict(reply.seen)["http-version"] == version


@pytest.mark.parametrize("version", ["2", "1.1"])
async def test_tls_over_a_unix_socket_checks_the_urls_host(
    tmp_path: Path, version: HTTPVersion
) -> None:
    ca = trustme.CA()
    path = tmp_path / "plugin.sock"
    async with unix_server(path, server_context(ca)):
        options = ClientOptions(
            http_version=version, unix_socket=str(path), ssl_context=client_context(ca)
        )
        async with open_client("https://localhost", options) as client:
            reply = await client.stub(ECHO).Echo(EchoRequest(text="sealed"))
    assert reply.text == "sealed"


async def test_a_missing_unix_socket_is_unavailable_and_named(tmp_path: Path) -> None:
    path = tmp_path / "nobody.sock"
    async with open_client("http://localhost", ClientOptions(unix_socket=str(path))) as client:
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.UNAVAILABLE
    assert caught.value.message == (
        f"cannot connect to unix:{path}: no such file or directory (ENOENT)"
    )


def test_the_unix_socket_option_is_checked() -> None:
    with pytest.raises(TypeError, match="unix_socket must be a socket's path or None"):
        ClientOptions(unix_socket=Path("/tmp/x.sock"))  # type: ignore[arg-type]
