"""A failed TLS handshake is not retried (nor hedged) by default, and counts against the circuit."""

from __future__ import annotations

import ssl
from typing import Any, get_args

import pytest
import trio
import trio.testing
import trustme

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.tls import client_context, mtls_server_context, server_context
from trioplugin import ClientOptions, ServerOptions
from trioplugin.protocol import Code, ConnectError
from trioplugin.resilience import (
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitOpenError,
    HedgingPolicy,
    RetryInterceptor,
    RetryPolicy,
    is_failure_by_default,
    is_retryable_by_default,
)
from trioplugin.rpc import Call, CallNext, InterceptorLike, open_client, open_connect_server
from trioplugin.transport import HTTPVersion, TLSError, TLSErrorReason, UnprocessedError

REASONS: tuple[TLSErrorReason, ...] = get_args(TLSErrorReason)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.parametrize("reason", REASONS)
def test_the_default_rules(reason: TLSErrorReason) -> None:
    error = TLSError(reason, "TLS handshake with h:1 failed")
    assert error.code is Code.UNAVAILABLE  # a code the default rule would retry ...
    assert is_retryable_by_default(UnprocessedError(Code.UNAVAILABLE, "refused"))
    assert not is_retryable_by_default(error)  # ... but not for a TLS failure
    assert not RetryPolicy().retryable(error)
    assert RetryPolicy(is_retryable=lambda _: True).retryable(error)  # a rule of one's own decides
    assert is_failure_by_default(error)


class Attempts:
    """An interceptor inside the retry interceptor: each attempt that reaches the wire."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    async def __call__(self, call: Call[Any, Any], call_next: CallNext) -> None:
        self.seen.append(call.attempt)
        await call_next(call)


async def fail_with(
    url: str,
    client_tls: ssl.SSLContext | None,
    http_version: HTTPVersion,
    *interceptors: InterceptorLike,
) -> ConnectError:
    options = ClientOptions(http_version=http_version, ssl_context=client_tls)
    async with open_client(url, options, interceptors=list(interceptors)) as client:
        with pytest.raises(ConnectError) as caught:
            await client.stub(ECHO).Echo(EchoRequest())
    return caught.value


@pytest.mark.parametrize("http_version", ["1.1", "2"])
@pytest.mark.parametrize(
    ("requires_client_certificate", "reason"),
    [(False, "unknown_ca"), (True, "certificate_rejected")],
    ids=["server-untrusted", "client-certificate-missing"],
)
async def test_the_retry_interceptor_attempts_a_tls_failure_once(
    ca: trustme.CA,
    http_version: HTTPVersion,
    requires_client_certificate: bool,
    reason: TLSErrorReason,
    autojump_clock: trio.testing.MockClock,
) -> None:
    server_tls = mtls_server_context(ca) if requires_client_certificate else server_context(ca)
    trusted = ca if requires_client_certificate else trustme.CA()
    attempts = Attempts()
    impl = EchoImpl()
    async with open_connect_server({ECHO: impl}, ServerOptions(ssl_context=server_tls)) as server:
        error = await fail_with(
            server.url, client_context(trusted), http_version, RetryInterceptor(), attempts
        )
        await trio.testing.wait_all_tasks_blocked()
        assert server.statistics().tls_handshake_failures == 1
    assert isinstance(error, TLSError)
    assert error.reason == reason
    assert attempts.seen == [1]
    assert impl.calls == 0


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_while_a_refused_connection_is_retried(
    refused_url: str, http_version: HTTPVersion, autojump_clock: trio.testing.MockClock
) -> None:
    # The control: the same chain retries an UnprocessedError that is no TLS verdict.
    attempts = Attempts()
    error = await fail_with(refused_url, None, http_version, RetryInterceptor(), attempts)
    assert type(error) is UnprocessedError
    assert attempts.seen == [1, 2, 3]


async def test_a_tls_failure_is_not_hedged(
    ca: trustme.CA, refused_url: str, autojump_clock: trio.testing.MockClock
) -> None:
    hedged = RetryInterceptor(hedging=HedgingPolicy(max_attempts=3, delay=0.05))
    attempts = Attempts()
    async with open_connect_server(
        {ECHO: EchoImpl()}, ServerOptions(ssl_context=server_context(ca))
    ) as server:
        error = await fail_with(server.url, client_context(trustme.CA()), "2", hedged, attempts)
    assert isinstance(error, TLSError)
    assert attempts.seen == [1]
    control = Attempts()
    hedged = RetryInterceptor(hedging=HedgingPolicy(max_attempts=3, delay=0.05))
    await fail_with(refused_url, None, "2", hedged, control)
    assert len(control.seen) == 3  # a refusal is non-fatal: every hedge went


async def test_tls_failures_open_the_circuit(ca: trustme.CA) -> None:
    breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=2))
    attempts = Attempts()
    options = ClientOptions(ssl_context=client_context(trustme.CA()))
    async with (
        open_connect_server(
            {ECHO: EchoImpl()}, ServerOptions(ssl_context=server_context(ca))
        ) as server,
        open_client(server.url, options, interceptors=[breaker, attempts]) as client,
    ):
        for _ in range(2):
            with pytest.raises(TLSError):
                await client.stub(ECHO).Echo(EchoRequest())
        with pytest.raises(CircuitOpenError):
            await client.stub(ECHO).Echo(EchoRequest())
    assert attempts.seen == [1, 1]  # the third call never reached the wire
