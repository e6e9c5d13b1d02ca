"""The logging interceptor: one record per call, attempts at DEBUG, no secret ever."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.observability._helpers import unavailable_first
from trioplugin import (
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    ConnectError,
    LoggingInterceptor,
    RetryInterceptor,
    RetryPolicy,
    open_plugin_nursery,
)
from trioplugin.auth import TokenAuth
from trioplugin.rpc import Call, CallNext, open_client, open_connect_server


def records(caplog: pytest.LogCaptureFixture, side: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == f"trioplugin.calls.{side}"]


async def test_one_record_per_call_on_each_side(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trioplugin.calls")
    log = LoggingInterceptor()
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=[log]) as server:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", server.url, interceptors=[log])
            await handle.stub(ECHO).Echo(EchoRequest(text="hello"))
            with pytest.raises(ConnectError):
                await handle.stub(ECHO).Echo(EchoRequest(text="no", fail_code="invalid_argument"))
    [ok, failed] = records(caplog, "client")
    assert ok.levelno == logging.INFO
    assert ok.getMessage().startswith("client /trioplugin.test.v1.EchoService/Echo -> ok in ")
    assert ok.getMessage().endswith(" ms (echo)")
    fields: Any = ok
    assert (fields.rpc_code, fields.rpc_endpoint, fields.rpc_attempts) == ("ok", "echo", 1)
    assert (fields.rpc_requests, fields.rpc_responses) == (1, 1)
    assert fields.rpc_request_bytes == EchoRequest(text="hello").ByteSize()
    assert failed.levelno == logging.WARNING
    assert (failed.rpc_code, failed.rpc_error) == ("invalid_argument", "asked to fail: no")  # type: ignore[attr-defined]
    [served, refused] = records(caplog, "server")
    assert served.rpc_peer.startswith("127.0.0.1:")  # type: ignore[attr-defined]
    assert refused.rpc_code == "invalid_argument"  # type: ignore[attr-defined]


async def test_attempts_are_logged_at_debug_and_counted_on_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="trioplugin.calls")
    log = LoggingInterceptor()
    retry = RetryInterceptor(RetryPolicy(max_attempts=3, initial_backoff=0.001))
    flaky = unavailable_first(2)

    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[flaky]) as server,
        open_client(server.url, interceptors=[log, retry, log.attempts()]) as client,
    ):
        await client.stub(ECHO).Echo(EchoRequest(text="x"))
    client_records = records(caplog, "client")
    attempts = [r for r in client_records if r.levelno == logging.DEBUG]
    [call] = [r for r in client_records if r.levelno == logging.INFO]
    assert [r.rpc_code for r in attempts] == ["unavailable", "unavailable", "ok"]  # type: ignore[attr-defined]
    assert [r.rpc_attempt for r in attempts] == [1, 2, 3]  # type: ignore[attr-defined]
    assert call.rpc_attempts == 3  # type: ignore[attr-defined]
    assert "after 3 attempts" in call.getMessage()


async def test_credentials_and_named_headers_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="trioplugin.calls")
    log = LoggingInterceptor(headers=True, redact=["X-Secret"])
    token = TokenAuth(token="s3cr3t-token-value")

    async def secret_header(call: Call[Any, Any], call_next: CallNext) -> None:
        call.request_headers["x-secret"] = "hunter2"
        await call_next(call)

    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[log]) as server,
        open_client(
            server.url, interceptors=[token.client_interceptor(), secret_header, log]
        ) as client,
    ):
        await client.stub(ECHO).Echo(EchoRequest(text="x"))
    for record in caplog.records:
        dumped = repr(record.__dict__)
        assert "s3cr3t-token-value" not in dumped and "hunter2" not in dumped
    [sent] = records(caplog, "client")
    headers = sent.rpc_request_headers  # type: ignore[attr-defined]
    assert headers["authorization"] == headers["x-secret"] == "[redacted]"


async def test_streamed_messages_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trioplugin.calls")
    log = LoggingInterceptor()
    async with (
        open_connect_server({ECHO: EchoImpl()}) as server,
        open_client(server.url, interceptors=[log]) as client,
    ):
        async with client.stub(ECHO).ServerStream(EchoRequest(text="s", repeat=3)) as stream:
            async for _ in stream:
                pass
    [record] = records(caplog, "client")
    assert (record.rpc_requests, record.rpc_responses) == (1, 3)  # type: ignore[attr-defined]


async def test_a_client_record_carries_the_breaker_state(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trioplugin.calls")
    breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=1, timeout=60))
    async with open_connect_server({ECHO: EchoImpl()}) as server:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect(
                "echo", server.url, interceptors=[LoggingInterceptor(), breaker]
            )
            await handle.stub(ECHO).Echo(EchoRequest(text="fine"))
            with pytest.raises(ConnectError):
                await handle.stub(ECHO).Echo(EchoRequest(fail_code="unavailable"))
    states = [r.rpc_circuit_state for r in records(caplog, "client")]  # type: ignore[attr-defined]
    assert states == ["closed", "open"]
