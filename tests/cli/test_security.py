"""The connection options of every command: a bearer token, TLS and mTLS (trustme certificates)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import trio
import trustme

from tests.cli.conftest import CLI, ECHO_PATH, PB2, Done
from tests.cli.health_service import TinyHealth
from tests.echo_service import ECHO, EchoImpl
from tests.tls import CLIENT_COMMON_NAME, mtls_server_context, server_context
from trioplugin.auth import TokenAuth, static_secrets
from trioplugin.plugin.protos.grpc.health.v1.health_trioplugin import HEALTH
from trioplugin.rpc import ServerOptions, serve_connect
from trioplugin.transport import Server


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
async def token_server(nursery: trio.Nursery, health: TinyHealth) -> Server:
    """Echo and health that take only the bearer token ``s3cret``."""
    checked = TokenAuth(validate=static_secrets({"s3cret": "cli"}))
    services = {ECHO: EchoImpl(), HEALTH: health}
    interceptors = [checked.server_interceptor()]
    started: Server = await nursery.start(
        partial(serve_connect, services, interceptors=interceptors)
    )
    return started


async def test_the_token_comes_from_the_option_or_the_environment(
    cli: CLI, token_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{token_server.url}{ECHO_PATH}/Echo"
    monkeypatch.delenv("TRIOPLUGIN_TOKEN", raising=False)
    done = await cli("call", url, *PB2)
    assert (done.status, done.err) == (1, "error: unauthenticated missing authorization header\n")
    assert (await cli("call", url, *PB2, "--token", "s3cret")).status == 0
    assert (await cli("health", token_server.url, "--token", "s3cret")).status == 0
    monkeypatch.setenv("TRIOPLUGIN_TOKEN", "s3cret")
    assert (await cli("call", url, *PB2)).status == 0
    done = await cli("call", url, *PB2, "--token", "wrong")  # the option wins
    assert done.err.startswith("error: unauthenticated ")
    done = await cli("call", url, *PB2, "--token", "not a token")
    assert (done.status, done.err[:15]) == (2, "error: --token:")


async def test_tls_with_the_servers_ca(
    cli: CLI, nursery: trio.Nursery, ca: trustme.CA, ca_file: str, health: TinyHealth
) -> None:
    options = ServerOptions(ssl_context=server_context(ca))
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl(), HEALTH: health}, options)
    assert server.url.startswith("https://127.0.0.1:")
    url = f"{server.url}{ECHO_PATH}/Echo"
    done = await cli("call", url, *PB2, "--cacert", ca_file, "-d", '{"text": "tls"}')
    assert (done.status, json.loads(done.out)["text"]) == (0, "tls")
    done = await cli("call", url, *PB2, "--cacert", ca_file, "--http1")
    assert json.loads(done.out)["seen"]["http-version"] == "1.1"
    assert await cli("health", server.url, "--cacert", ca_file) == Done(0, "SERVING\n", "")
    # Without the CA, the system's CAs do not know the server's certificate.
    done = await cli("call", url, *PB2)
    assert done.status == 1
    assert done.err.startswith("error: unavailable ")
    assert "certificate" in done.err


async def test_mtls_presents_the_client_certificate(
    cli: CLI, nursery: trio.Nursery, ca: trustme.CA, ca_file: str, tmp_path: Path
) -> None:
    options = ServerOptions(ssl_context=mtls_server_context(ca))
    server: Server = await nursery.start(serve_connect, {ECHO: EchoImpl()}, options)
    issued = ca.issue_cert("plugin-host.example", common_name=CLIENT_COMMON_NAME)
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    url = f"{server.url}{ECHO_PATH}/Echo"
    tls = ("--cacert", ca_file, "--cert", str(cert), "--key", str(key))
    done = await cli("call", url, *PB2, *tls)
    assert (done.status, done.err) == (0, "")
    assert json.loads(done.out)["seen"]["peer-cn"] == CLIENT_COMMON_NAME
    # Key and certificate in one file.
    both = tmp_path / "both.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(both))
    assert (await cli("call", url, *PB2, "--cacert", ca_file, "--cert", str(both))).status == 0
    done = await cli("call", url, *PB2, "--cacert", ca_file)  # no certificate: refused
    assert done.status == 1


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (("https://h/a.B/C", "--key", "k.pem"), "error: --key needs --cert\n"),
        (("http://h/a.B/C", "--cacert", "ca.pem"), "error: --cacert and --cert need an https://"),
        (("https://h/a.B/C", "--cacert", "missing.pem"), "error: cannot load the TLS files: "),
    ],
)
async def test_tls_options_are_checked_before_anything_runs(
    cli: CLI, arguments: tuple[str, ...], error: str
) -> None:
    done = await cli("call", *arguments)
    assert (done.status, done.out) == (2, "")
    assert done.err.startswith(error)
