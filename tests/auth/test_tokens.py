"""Bearer tokens and API keys, alone and composed, on every call kind, over real servers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from tests.auth._whoami import WhoAmI
from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO
from trioplugin import (
    ClientOptions,
    ServerLimits,
    ServerOptions,
    open_client,
    open_connect_server,
    open_plugin_nursery,
)
from trioplugin.auth import (
    APIKeyAuth,
    AuthContext,
    TokenAuth,
    auth_context,
    compose_auth_client,
    compose_auth_server,
    get_auth_context,
    require_auth,
    static_secrets,
)
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import Call, CallNext, InterceptorLike, Stub
from trioplugin.transport import HTTPVersion, Server

TOKEN = "s3cr3t-t0ken"
KEY = "k3y-0f-the-h0st"
SECRETS = (TOKEN, KEY, "wrong-token-value", "x" * 100)


def check_token(token: str) -> tuple[str, Mapping[str, Any]]:
    if token == TOKEN:
        return "host", {"role": "admin"}
    raise ValueError(f"unknown token {token!r}")  # quotes the token: must never be shown


async def check_key(key: str) -> tuple[str, Mapping[str, Any]]:  # async on purpose
    await trio.lowlevel.checkpoint()
    if key == KEY:
        return "host-by-key", {}
    raise ConnectError(Code.UNAUTHENTICATED, "unknown API key")


# Heads of up to 128 KiB, so that a 64 KiB token reaches the auth check (the default
# 64 KiB refuses the whole head first: 431, or GOAWAY on HTTP/2).
ROOMY = ServerOptions(limits=ServerLimits(max_header_size=128 * 1024))


@asynccontextmanager
async def serving(*interceptors: InterceptorLike) -> AsyncIterator[tuple[Server, WhoAmI]]:
    impl = WhoAmI()
    async with open_connect_server({ECHO: impl}, ROOMY, interceptors=interceptors) as server:
        yield server, impl


def raw_header(name: str, value: str) -> InterceptorLike:
    async def set_header(call: Call[Any, Any], call_next: CallNext) -> None:
        call.request_headers[name] = value
        await call_next(call)

    return set_header


async def every_kind(stub: Stub, http_version: HTTPVersion) -> list[EchoResponse]:
    """One call of each kind (bidi on HTTP/2 only); the responses."""
    got = [await stub.Echo(EchoRequest(text="u"))]
    async with stub.ServerStream(EchoRequest(text="s", repeat=2)) as responses:
        got += [response async for response in responses]
    got.append(await stub.ClientStream([EchoRequest(text="a"), EchoRequest(text="b")]))
    if http_version == "2":
        async with stub.Bidi() as stream:
            await stream.send(EchoRequest(text="b1"))
            got.append(await stream.receive())
            await stream.close_send()
    return got


@pytest.fixture(params=["1.1", "2"])
def http_version(request: pytest.FixtureRequest) -> HTTPVersion:
    version: HTTPVersion = request.param
    return version


async def test_a_token_authenticates_every_call_kind_and_reaches_the_handler_and_its_tasks(
    http_version: HTTPVersion,
) -> None:
    server_auth = TokenAuth(validate=check_token).server_interceptor()
    async with (
        serving(server_auth) as (server, impl),
        open_client(
            server.url,
            ClientOptions(http_version=http_version),
            interceptors=[TokenAuth(TOKEN).client_interceptor()],
        ) as client,
    ):
        responses = await every_kind(client.stub(ECHO), http_version)
    assert responses
    for response in responses:
        assert dict(response.seen) == {
            "identity": "host",
            "provider": "token",
            "claim-role": "admin",
            "in-task": "host",
        }
    assert impl.calls == (4 if http_version == "2" else 3)


async def test_an_api_key_with_an_async_validator_and_a_refreshing_source() -> None:
    keys = iter([KEY, KEY, "stale-key"])
    asked = 0

    async def current_key() -> str:
        nonlocal asked
        asked += 1
        return next(keys)

    async with (
        serving(APIKeyAuth(validate=check_key).server_interceptor()) as (server, _),
        open_client(server.url, interceptors=[APIKeyAuth(current_key).client_interceptor()]) as c,
    ):
        echo = c.stub(ECHO)
        for _ in range(2):
            assert (await echo.Echo(EchoRequest())).seen["identity"] == "host-by-key"
        with pytest.raises(ConnectError) as caught:
            await echo.Echo(EchoRequest())
    assert asked == 3  # asked before every call
    assert caught.value.code is Code.UNAUTHENTICATED
    assert caught.value.message == "unknown API key"


BAD_TOKENS = [
    pytest.param([], "missing authorization header", id="no-header"),
    pytest.param([raw_header("authorization", f"Basic {TOKEN}")], "Bearer scheme", id="scheme"),
    pytest.param([raw_header("authorization", "Bearer")], "empty bearer token", id="empty"),
    pytest.param([raw_header("authorization", TOKEN)], "Bearer scheme", id="no-scheme"),
    pytest.param([raw_header("x-token", f"Bearer {TOKEN}")], "missing authorization", id="header"),
    pytest.param(
        [raw_header("authorization", "Bearer " + "x" * 65536)],
        "over the limit of 8192",
        id="64KiB",
    ),
    pytest.param(  # latin-1, so it can go on the wire, and not a token's characters
        [raw_header("authorization", "Bearer tök3n")], "malformed bearer token", id="non-ascii"
    ),
    pytest.param(
        [TokenAuth("wrong-token-value").client_interceptor()],
        "the bearer token was refused",
        id="wrong",
    ),
]


@pytest.mark.parametrize(("client_interceptors", "words"), BAD_TOKENS)
async def test_a_bad_token_is_unauthenticated_and_says_why_without_the_secret(
    client_interceptors: list[InterceptorLike],
    words: str,
    http_version: HTTPVersion,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        serving(TokenAuth(validate=check_token).server_interceptor()) as (server, impl),
        open_client(
            server.url, ClientOptions(http_version=http_version), interceptors=client_interceptors
        ) as client,
    ):
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest())
    error = caught.value
    assert error.code is Code.UNAUTHENTICATED
    assert words in error.message
    assert impl.calls == 0
    shown = [error.message, str(error), *(record.getMessage() for record in caplog.records)]
    shown += [str(record.args) for record in caplog.records]
    for secret in SECRETS:
        assert not any(secret in text for text in shown), f"{secret!r} leaked"


async def test_a_validator_can_deny_a_known_caller() -> None:
    def only_readers(token: str) -> tuple[str, Mapping[str, Any]]:
        raise ConnectError(Code.PERMISSION_DENIED, "host may not call this plugin")

    async with (
        serving(TokenAuth(validate=only_readers).server_interceptor()) as (server, impl),
        open_client(server.url, interceptors=[TokenAuth(TOKEN).client_interceptor()]) as client,
    ):
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.PERMISSION_DENIED
    assert impl.calls == 0


async def test_streams_without_credentials_are_refused_before_the_handler_runs() -> None:
    async with (
        serving(TokenAuth(validate=check_token).server_interceptor()) as (server, impl),
        open_client(server.url) as client,
    ):
        echo = client.stub(ECHO)
        with pytest.raises(ConnectError) as server_stream:
            async with echo.ServerStream(EchoRequest(repeat=3)) as responses:
                _ = [response async for response in responses]
        with pytest.raises(ConnectError) as client_stream:
            await echo.ClientStream([EchoRequest(text="a")])
        with pytest.raises(ConnectError) as bidi:
            async with echo.Bidi() as stream:
                await stream.send(EchoRequest(text="b"))
                await stream.receive()
    for caught in (server_stream, client_stream, bidi):
        assert caught.value.code is Code.UNAUTHENTICATED
    assert impl.calls == 0


async def test_composed_the_first_provider_that_authenticates_wins() -> None:
    server_auth = compose_auth_server(
        TokenAuth(validate=check_token), APIKeyAuth(validate=check_key)
    )
    # A wrong token (the first provider fails) and a good key (the second succeeds).
    client_auth = compose_auth_client(TokenAuth("wrong-token-value"), APIKeyAuth(KEY))
    async with (
        serving(server_auth) as (server, impl),
        open_client(server.url, interceptors=[client_auth]) as client,
    ):
        response = await client.stub(ECHO).Echo(EchoRequest())
        assert response.seen["identity"] == "host-by-key"
        assert response.seen["provider"] == "api_key"
        # The handler's own error, after authentication: it ran once, its error comes back.
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest(text="boom", fail_code="aborted"))
    assert caught.value.code is Code.ABORTED
    assert caught.value.message == "the handler failed: boom"
    assert impl.calls == 2


async def test_composed_every_provider_refusing_says_each_reason() -> None:
    server_auth = compose_auth_server(
        TokenAuth(validate=check_token), APIKeyAuth(validate=check_key)
    )
    async with (
        serving(server_auth) as (server, _),
        open_client(
            server.url, interceptors=[TokenAuth("wrong-token-value").client_interceptor()]
        ) as client,
    ):
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.UNAUTHENTICATED
    assert caught.value.message == (
        "not authenticated (token: the bearer token was refused; api_key: missing x-api-key header)"
    )


async def test_a_permission_denied_from_the_first_provider_ends_the_call() -> None:
    def deny(token: str) -> tuple[str, Mapping[str, Any]]:
        raise ConnectError(Code.PERMISSION_DENIED, "known, not allowed")

    server_auth = compose_auth_server(TokenAuth(validate=deny), APIKeyAuth(validate=check_key))
    client_auth = compose_auth_client(TokenAuth(TOKEN), APIKeyAuth(KEY))
    async with (
        serving(server_auth) as (server, impl),
        open_client(server.url, interceptors=[client_auth]) as client,
    ):
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.PERMISSION_DENIED
    assert impl.calls == 0


async def test_require_auth_refuses_what_no_provider_authenticated() -> None:
    async with (
        serving(require_auth()) as (server, impl),
        open_client(server.url, interceptors=[TokenAuth(TOKEN).client_interceptor()]) as client,
    ):
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest())
    assert caught.value.code is Code.UNAUTHENTICATED
    assert caught.value.message == "authentication required"
    assert impl.calls == 0
    seen_after: list[AuthContext | None] = []

    async def after_auth(call: Call[Any, Any], call_next: CallNext) -> None:
        seen_after.append(get_auth_context())
        await call_next(call)

    chain: list[InterceptorLike] = [
        TokenAuth(validate=check_token).server_interceptor(),
        require_auth(),
        after_auth,
    ]
    async with (
        serving(*chain) as (server, _),
        open_client(server.url, interceptors=[TokenAuth(TOKEN).client_interceptor()]) as client,
    ):
        assert (await client.stub(ECHO).Echo(EchoRequest())).seen["identity"] == "host"
    assert [context.identity if context else None for context in seen_after] == ["host"]


async def test_one_calls_auth_context_is_never_seen_by_the_next_on_the_same_connection(
    http_version: HTTPVersion,
) -> None:
    token_auth = TokenAuth(validate=check_token).server_interceptor()

    async def when_given(call: Call[Any, Any], call_next: CallNext) -> None:
        if "authorization" in call.request_headers:
            await token_auth.intercept(call, call_next)
        else:
            await call_next(call)  # anonymous calls are let through, without a context

    async def token_on_even_calls(call: Call[Any, Any], call_next: CallNext) -> None:
        if int(call.request.text) % 2 == 0:
            call.request_headers["authorization"] = f"Bearer {TOKEN}"
        await call_next(call)

    async with (
        serving(when_given) as (server, _),
        open_client(
            server.url,
            ClientOptions(http_version=http_version),
            interceptors=[token_on_even_calls],
        ) as client,
    ):
        echo = client.stub(ECHO)
        identities = [
            (await echo.Echo(EchoRequest(text=str(n)))).seen["identity"] for n in range(6)
        ]
        assert server.statistics().connections_accepted == 1
    assert identities == ["host", "anonymous"] * 3


async def test_a_handle_sends_the_credentials_its_connect_was_given() -> None:
    async with (
        serving(TokenAuth(validate=check_token).server_interceptor()) as (server, _),
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect(
            "p", server.url, interceptors=[TokenAuth(TOKEN).client_interceptor()]
        )
        anonymous = await host.connect("anonymous", server.url)
        assert (await handle.stub(ECHO).Echo(EchoRequest())).seen["identity"] == "host"
        with pytest.raises(ConnectError) as caught:
            await anonymous.stub(ECHO).Echo(EchoRequest())
        assert caught.value.code is Code.UNAUTHENTICATED


def test_static_secrets_knows_its_secrets_only() -> None:
    validate = static_secrets({TOKEN: "host", KEY: "ci"}, claims={"ci": {"role": "reader"}})
    assert validate(TOKEN) == ("host", {})
    assert validate(KEY) == ("ci", {"role": "reader"})
    with pytest.raises(ConnectError) as caught:
        validate("wrong-token-value")
    assert caught.value.code is Code.UNAUTHENTICATED
    assert "wrong" not in caught.value.message
    with pytest.raises(ValueError, match="at least one"):
        static_secrets({})


def test_providers_refuse_what_they_cannot_do_when_asked() -> None:
    with pytest.raises(ValueError, match="no bearer token to send"):
        TokenAuth(validate=check_token).client_interceptor()
    with pytest.raises(ValueError, match="needs validate="):
        APIKeyAuth(KEY).server_interceptor()
    with pytest.raises(ValueError, match="malformed bearer token"):
        TokenAuth("two words")
    with pytest.raises(TypeError, match="auth providers"):
        compose_auth_server(TokenAuth(TOKEN), "api_key")  # type: ignore[arg-type]


def test_auth_context_is_frozen_and_scoped() -> None:
    context = AuthContext("alice", "token", {"role": "admin"})
    with pytest.raises(TypeError):
        context.claims["role"] = "root"  # type: ignore[index]
    assert get_auth_context() is None
    with auth_context(context):
        assert get_auth_context() is context
    assert get_auth_context() is None
