"""Calls over TLS with ALPN, and mutual TLS with the client certificate visible to handlers."""

from __future__ import annotations

import ssl

import pytest
import trio
import trustme

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.tls import CLIENT_COMMON_NAME, client_context, mtls_server_context
from trioplugin import ClientOptions, ServerOptions
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import open_client, serve_connect
from trioplugin.transport import HTTPVersion, Server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    return client_context(ca, cert_from=ca)


@pytest.fixture
async def tls_server(nursery: trio.Nursery, ca: trustme.CA) -> Server:
    server: Server = await nursery.start(
        lambda task_status: serve_connect(
            {ECHO: EchoImpl()},
            ServerOptions(ssl_context=mtls_server_context(ca)),
            task_status=task_status,
        )
    )
    return server


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_mutual_tls_shows_the_client_certificate_to_the_handler(
    tls_server: Server, client_tls: ssl.SSLContext, http_version: HTTPVersion
) -> None:
    assert tls_server.url.startswith("https://")
    async with open_client(
        tls_server.url,
        ClientOptions(http_version=http_version, ssl_context=client_tls),
    ) as client:
        reply = await client.stub(ECHO).Echo(EchoRequest(text="secure"))
    assert reply.text == "secure"
    assert reply.seen["peer-cn"] == CLIENT_COMMON_NAME
    assert reply.seen["http-version"] == http_version


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_a_client_without_a_certificate_is_refused_clearly(
    tls_server: Server, ca: trustme.CA, http_version: HTTPVersion
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with open_client(
        tls_server.url,
        ClientOptions(http_version=http_version, ssl_context=context),
    ) as client:
        with pytest.raises(ConnectError) as caught:
            with trio.fail_after(10):
                await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.UNAVAILABLE


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_a_server_from_an_unknown_ca_is_refused(
    tls_server: Server, http_version: HTTPVersion
) -> None:
    context = ssl.create_default_context()
    trustme.CA().configure_trust(context)
    async with open_client(
        tls_server.url,
        ClientOptions(http_version=http_version, ssl_context=context),
    ) as client:
        with pytest.raises(ConnectError) as caught:
            with trio.fail_after(10):
                await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.UNAVAILABLE
    assert "certificate" in caught.value.message.lower()
