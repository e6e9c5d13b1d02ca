"""Mutual TLS over real TLS on 127.0.0.1: the identity comes from the verified certificate."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.auth._certs import SERVER_AUTH, Issued, ca_file, issue, server_files
from tests.auth._whoami import WhoAmI
from tests.auth.test_tokens import every_kind
from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from trioplugin import ClientOptions, ServerOptions, open_client, open_connect_server
from trioplugin.auth import MTLSAuth, TokenAuth, compose_auth_client, compose_auth_server
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import InterceptorLike
from trioplugin.transport import HTTPVersion, PeerCertificate, Server

SPIFFE_ID = "spiffe://trioplugin.test/host"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def files(tmp_path: Path, ca: trustme.CA) -> Path:
    server_files(ca, tmp_path)
    ca_file(ca, tmp_path, "trusted")
    return tmp_path


def plugin_tls(files: Path, **kwargs: Any) -> MTLSAuth:
    return MTLSAuth(
        certificate=files / "server.pem",
        private_key=files / "server.key",
        trusted_cas=files / "trusted-ca.pem",
        **kwargs,
    )


def host_tls(files: Path, client: Issued) -> MTLSAuth:
    return MTLSAuth(
        certificate=client.certificate,
        private_key=client.private_key,
        trusted_cas=files / "trusted-ca.pem",
    )


@asynccontextmanager
async def serving(
    context: ssl.SSLContext | None, *interceptors: InterceptorLike
) -> AsyncIterator[tuple[Server, WhoAmI]]:
    impl = WhoAmI()
    options = ServerOptions(ssl_context=context)
    async with open_connect_server({ECHO: impl}, options, interceptors=interceptors) as server:
        yield server, impl


@pytest.fixture(params=["1.1", "2"])
def http_version(request: pytest.FixtureRequest) -> HTTPVersion:
    version: HTTPVersion = request.param
    return version


async def test_the_identity_is_the_verified_certificates_uri_san_on_every_call_kind(
    files: Path, ca: trustme.CA, http_version: HTTPVersion
) -> None:
    client = issue(
        ca, files, "host", common_name="host-cn", dns_names=["host.test"], uris=[SPIFFE_ID]
    )
    plugin = plugin_tls(files)
    async with (
        serving(plugin.server_ssl_context(), plugin.server_interceptor()) as (server, impl),
        open_client(
            server.url,
            ClientOptions(
                http_version=http_version, ssl_context=host_tls(files, client).client_ssl_context()
            ),
        ) as session,
    ):
        responses = await every_kind(session.stub(ECHO), http_version)
    fingerprint = hashlib.sha256(client.der).hexdigest()
    for response in responses:
        seen = dict(response.seen)
        assert seen["identity"] == SPIFFE_ID
        assert seen["provider"] == "mtls"
        assert seen["in-task"] == SPIFFE_ID
        assert seen["claim-sha256_fingerprint"] == fingerprint
        assert "CN=host-cn" in seen["claim-subject"]
        assert f"URI:{SPIFFE_ID}" in seen["claim-sans"]
        assert "DNS:host.test" in seen["claim-sans"]
        assert seen["claim-issuer"]
    assert impl.calls == (4 if http_version == "2" else 3)


@pytest.mark.parametrize(
    ("names", "identity"),
    [
        pytest.param(
            {"dns_names": ["host.test", "other.test"], "common_name": "cn"}, "host.test", id="dns"
        ),
        pytest.param({"common_name": "just-a-cn"}, "just-a-cn", id="cn"),
    ],
)
async def test_without_a_uri_san_the_dns_san_then_the_cn_name_the_caller(
    files: Path, ca: trustme.CA, names: Mapping[str, Any], identity: str
) -> None:
    client = issue(ca, files, "host", **names)
    plugin = plugin_tls(files)
    async with (
        serving(plugin.server_ssl_context(), plugin.server_interceptor()) as (server, _),
        open_client(
            server.url, ClientOptions(ssl_context=host_tls(files, client).client_ssl_context())
        ) as session,
    ):
        assert (await session.stub(ECHO).Echo(EchoRequest())).seen["identity"] == identity


async def test_a_certificate_that_names_nobody_or_that_the_hook_refuses_is_unauthenticated(
    files: Path, ca: trustme.CA
) -> None:
    nameless = issue(ca, files, "nameless")
    named = issue(ca, files, "named", common_name="mallory")

    def only_alice(certificate: PeerCertificate) -> str:
        if certificate.common_name != "alice":
            raise PermissionError(f"{certificate.common_name} is not alice")
        return "alice"

    for client, plugin, words in [
        (nameless, plugin_tls(files), "names no identity"),
        (named, plugin_tls(files, extract_identity=only_alice), "was refused (PermissionError)"),
    ]:
        async with (
            serving(plugin.server_ssl_context(), plugin.server_interceptor()) as (server, impl),
            open_client(
                server.url, ClientOptions(ssl_context=host_tls(files, client).client_ssl_context())
            ) as session,
        ):
            with pytest.raises(ConnectError) as caught:
                await session.stub(ECHO).Echo(EchoRequest())
        assert caught.value.code is Code.UNAUTHENTICATED
        assert words in caught.value.message
        assert impl.calls == 0


async def test_the_hook_can_name_the_caller_its_own_way(files: Path, ca: trustme.CA) -> None:
    client = issue(ca, files, "host", common_name="alice", uris=[SPIFFE_ID])
    plugin = plugin_tls(files, extract_identity=lambda cert: f"user:{cert.common_name}")
    async with (
        serving(plugin.server_ssl_context(), plugin.server_interceptor()) as (server, _),
        open_client(
            server.url, ClientOptions(ssl_context=host_tls(files, client).client_ssl_context())
        ) as session,
    ):
        assert (await session.stub(ECHO).Echo(EchoRequest())).seen["identity"] == "user:alice"


async def test_plain_http_and_tls_without_a_client_certificate_never_authenticate(
    files: Path, ca: trustme.CA
) -> None:
    plugin = plugin_tls(files)
    async with (
        serving(None, plugin.server_interceptor()) as (server, impl),
        open_client(server.url) as session,
    ):
        with pytest.raises(ConnectError) as plain:
            await session.stub(ECHO).Echo(EchoRequest())
    assert plain.value.code is Code.UNAUTHENTICATED
    assert "did not come over TLS" in plain.value.message
    # TLS whose server does not ask for a client certificate: nothing verified to go by.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files / "server.pem", files / "server.key")
    client_context = ssl.create_default_context(cafile=files / "trusted-ca.pem")
    async with (
        serving(context, plugin.server_interceptor()) as (server, impl),
        open_client(server.url, ClientOptions(ssl_context=client_context)) as session,
    ):
        with pytest.raises(ConnectError) as no_cert:
            await session.stub(ECHO).Echo(EchoRequest())
    assert no_cert.value.code is Code.UNAUTHENTICATED
    assert "no verified certificate" in no_cert.value.message
    assert impl.calls == 0


def refused_clients(files: Path, ca: trustme.CA) -> dict[str, ssl.SSLContext]:
    """Client contexts the mTLS server must refuse in the handshake."""
    stranger = trustme.CA()
    contexts = {}
    no_certificate = ssl.create_default_context(cafile=files / "trusted-ca.pem")
    contexts["no certificate"] = no_certificate
    for label, client in [
        ("untrusted CA", issue(stranger, files, "stranger", common_name="stranger")),
        ("expired", issue(ca, files, "expired", common_name="old", valid_days=(-30, -1))),
        (
            "server purpose",
            issue(ca, files, "server-only", common_name="s", purposes=[SERVER_AUTH]),
        ),
    ]:
        contexts[label] = host_tls(files, client).client_ssl_context()
    return contexts


@pytest.mark.parametrize("label", ["no certificate", "untrusted CA", "expired", "server purpose"])
async def test_the_handshake_refuses_a_client_without_a_good_certificate(
    files: Path, ca: trustme.CA, http_version: HTTPVersion, label: str
) -> None:
    plugin = plugin_tls(files)
    context = refused_clients(files, ca)[label]
    async with (
        serving(plugin.server_ssl_context(), plugin.server_interceptor()) as (server, impl),
        open_client(
            server.url, ClientOptions(http_version=http_version, ssl_context=context)
        ) as session,
    ):
        with pytest.raises(ConnectError) as caught:
            await session.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.UNAVAILABLE
    assert getattr(caught.value, "reason", None) == "certificate_rejected", caught.value.message
    assert impl.calls == 0
    assert server.statistics().tls_handshake_failures >= 1


async def test_composed_a_certificate_or_else_a_token(files: Path, ca: trustme.CA) -> None:
    def accept(token: str) -> tuple[str, Mapping[str, Any]]:
        return "by-token", {}

    # The server asks for a certificate but takes calls without one (the token covers them).
    context = plugin_tls(files).server_ssl_context()
    context.verify_mode = ssl.CERT_OPTIONAL
    server_auth = compose_auth_server(plugin_tls(files), TokenAuth(validate=accept))
    client = issue(ca, files, "host", uris=[SPIFFE_ID])
    with_cert = host_tls(files, client).client_ssl_context()
    without_cert = ssl.create_default_context(cafile=files / "trusted-ca.pem")
    token_client = compose_auth_client(MTLSAuth(), TokenAuth("t0ken"))
    async with serving(context, server_auth) as (server, _):
        for ssl_context, identity in [(with_cert, SPIFFE_ID), (without_cert, "by-token")]:
            options = ClientOptions(ssl_context=ssl_context)
            async with open_client(server.url, options, interceptors=[token_client]) as session:
                assert (await session.stub(ECHO).Echo(EchoRequest())).seen["identity"] == identity


def test_mtls_contexts_are_tls_1_2_or_later_and_refuse_half_a_configuration(files: Path) -> None:
    plugin = plugin_tls(files)
    server_context = plugin.server_ssl_context()
    assert server_context.verify_mode is ssl.CERT_REQUIRED
    assert server_context.minimum_version >= ssl.TLSVersion.TLSv1_2
    client_context = plugin.client_ssl_context()
    assert client_context.check_hostname
    assert client_context.minimum_version >= ssl.TLSVersion.TLSv1_2
    with pytest.raises(ValueError, match="both certificate and private_key"):
        MTLSAuth(certificate=files / "server.pem")
    with pytest.raises(ValueError, match="needs trusted_cas"):
        MTLSAuth(
            certificate=files / "server.pem", private_key=files / "server.key"
        ).server_ssl_context()
    with pytest.raises(ValueError, match="needs a certificate"):
        MTLSAuth().client_ssl_context()
