"""A token or API key sent in clear text off this machine is warned about, once per endpoint."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Mapping
from typing import Any

import pytest

from tests.auth._whoami import WhoAmI
from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from trioplugin import ServerOptions, open_client, open_connect_server, open_plugin_nursery
from trioplugin.auth import (
    APIKeyAuth,
    InsecureCredentialsWarning,
    MTLSAuth,
    TokenAuth,
    compose_auth_client,
)
from trioplugin.auth._plain_http import is_off_host_plain_http
from trioplugin.rpc import Call, Endpoint, MethodInfo
from trioplugin.rpc._messages import SingleMessage


def own_address() -> str:
    """An address of this machine that is not loopback (the route out), or skip."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, a route is chosen
        address = str(probe.getsockname()[0])
    except OSError:
        pytest.skip("this machine has no route off loopback")
    finally:
        probe.close()
    if address.startswith("127."):
        pytest.skip("this machine's only address is loopback")
    return address


def accept(token: str) -> tuple[str, Mapping[str, Any]]:
    return "host", {}


@pytest.mark.parametrize(
    ("url", "off_host"),
    [
        ("http://127.0.0.1:8080", False),
        ("http://127.8.9.10", False),
        ("http://[::1]:80/prefix", False),
        ("http://localhost:8080", False),
        ("http://plugin.localhost", False),
        ("https://plugin.example.org", False),
        ("http://10.1.2.3:80", True),
        ("http://plugin.example.org:8080", True),
        ("http://[2001:db8::1]", True),
    ],
)
def test_which_urls_are_plain_http_off_this_machine(url: str, off_host: bool) -> None:
    assert is_off_host_plain_http(url) is off_host


async def test_a_secret_over_plain_http_off_host_is_warned_about_once_per_endpoint() -> None:
    address = own_address()
    auth = TokenAuth("t0ken").client_interceptor()
    async with (
        open_connect_server(
            {ECHO: WhoAmI()},
            ServerOptions(host="0.0.0.0"),
            interceptors=[TokenAuth(validate=accept).server_interceptor()],
        ) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        url = f"http://{address}:{server.port}"
        first = await host.connect("first", url, interceptors=[auth])
        second = await host.connect("second", url, interceptors=[auth])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for handle in (first, first, second, second):
                await handle.stub(ECHO).Echo(EchoRequest())
    insecure = [w for w in caught if issubclass(w.category, InsecureCredentialsWarning)]
    assert len(insecure) == 2  # once for each endpoint
    assert url in str(insecure[0].message)
    assert "t0ken" not in str(insecure[0].message)


async def test_no_warning_for_loopback_tls_or_a_provider_without_secrets() -> None:
    async with open_connect_server(
        {ECHO: WhoAmI()}, interceptors=[APIKeyAuth(validate=accept).server_interceptor()]
    ) as server:
        with warnings.catch_warnings():
            warnings.simplefilter("error", InsecureCredentialsWarning)
            async with open_client(
                server.url, interceptors=[APIKeyAuth("k3y").client_interceptor()]
            ) as client:
                await client.stub(ECHO).Echo(EchoRequest())
    # mTLS sends no secret in headers: nothing to warn about, even off host.
    bound = compose_auth_client(MTLSAuth()).for_endpoint(Endpoint("p", "http://10.1.2.3"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureCredentialsWarning)
        await bound.intercept(call_of(ECHO.method("Echo")), done)


def call_of(method: MethodInfo[Any, Any]) -> Call[Any, Any]:
    return Call(method, side="client", requests=SingleMessage(EchoRequest()), responses=Slot())


class Slot:
    async def send(self, message: object) -> None:
        pass


async def done(call: Call[Any, Any]) -> None:
    pass
