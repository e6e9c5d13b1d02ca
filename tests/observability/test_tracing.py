"""The tracing interceptor: one trace across client, server and the calls a handler makes.

Real servers on loopback and the real OpenTelemetry SDK: each test gives its
interceptors a TracerProvider of its own that exports to memory (the global
provider is never set; the global propagator is OpenTelemetry's default,
W3C trace context and baggage).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import pytest
import trio

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed")

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from tests.observability._helpers import unavailable_first
from trioplugin import (
    ClientOptions,
    ConnectError,
    HandlerContext,
    PluginHandle,
    RetryInterceptor,
    RetryPolicy,
    open_plugin_nursery,
)
from trioplugin.auth import TokenAuth
from trioplugin.observability.otel import AttemptTracer, TracingInterceptor
from trioplugin.rpc import Call, CallNext, InterceptorLike, open_client, open_connect_server

ECHO_METHOD: Final = "trioplugin.test.v1.EchoService/Echo"
WAIT: Final = 10.0
"""A bound on every wait for the other end (each takes milliseconds)."""


class Traced:
    """A TracerProvider exporting to memory: what one process would export."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracing = TracingInterceptor(tracer_provider=self.provider)

    def spans(self, kind: SpanKind | None = None) -> list[ReadableSpan]:
        found = self.exporter.get_finished_spans()
        return [span for span in found if kind is None or span.kind is kind]


def span_id(span: ReadableSpan | Span) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.span_id


def trace_id(span: ReadableSpan | Span) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.trace_id


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def is_child(child: ReadableSpan, parent: ReadableSpan | Span) -> bool:
    return trace_id(child) == trace_id(parent) and parent_id(child) == span_id(parent)


def dumped(spans: Iterable[ReadableSpan]) -> str:
    return "\n".join(span.to_json() for span in spans)


async def test_a_unary_call_is_one_trace_from_the_caller_through_the_server() -> None:
    client, server = Traced(), Traced()
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=[server.tracing]) as srv:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", srv.url, interceptors=[client.tracing])
            tracer = client.provider.get_tracer("test")
            with tracer.start_as_current_span("the caller's work") as outer:
                await handle.stub(ECHO).Echo(EchoRequest(text="hello"))
    [call] = client.spans(SpanKind.CLIENT)
    [served] = server.spans(SpanKind.SERVER)
    assert is_child(call, outer)  # through the actor, in the caller's context
    assert is_child(served, call)  # through the traceparent header
    assert call.name == served.name == ECHO_METHOD
    port = int(srv.url.rsplit(":", 1)[1])
    assert attributes(call) == {
        "rpc.system.name": "connectrpc",
        "rpc.method": ECHO_METHOD,
        "rpc.status_code": "ok",
        "server.address": "127.0.0.1",
        "server.port": port,
        "trioplugin.endpoint": "echo",
    }
    seen = attributes(served)
    peer_port = seen.pop("network.peer.port")
    assert isinstance(peer_port, int) and peer_port > 0
    assert seen == {
        "rpc.system.name": "connectrpc",
        "rpc.method": ECHO_METHOD,
        "rpc.status_code": "ok",
        "network.peer.address": "127.0.0.1",
    }
    assert call.status.status_code is served.status.status_code is StatusCode.UNSET
    assert call.instrumentation_scope is not None
    assert call.instrumentation_scope.name == "trioplugin"


async def test_errors_set_the_code_and_the_status_each_side_calls_an_error() -> None:
    client, server = Traced(), Traced()
    token = TokenAuth(token="s3cr3t-token-value")
    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[server.tracing]) as srv,
        open_client(srv.url, interceptors=[client.tracing, token.client_interceptor()]) as c,
    ):
        echo = c.stub(ECHO)
        with pytest.raises(ConnectError):
            await echo.Echo(EchoRequest(text="no", fail_code="invalid_argument"))
        with pytest.raises(ConnectError):
            await echo.Put(EchoRequest(text="raise"))
    refused, crashed = client.spans(SpanKind.CLIENT)
    served_refused, served_crashed = server.spans(SpanKind.SERVER)

    # The client's call failed: an error span, whatever the code.
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.status.description == "asked to fail: no"
    assert attributes(refused)["rpc.status_code"] == "invalid_argument"
    assert attributes(refused)["error.type"] == "invalid_argument"
    [event] = refused.events
    assert event.name == "exception"
    assert (
        dict(event.attributes or {})["exception.message"] == "invalid_argument: asked to fail: no"
    )

    # The server answered as asked: the client's mistake is no error of its own.
    assert served_refused.status.status_code is StatusCode.UNSET
    assert attributes(served_refused)["rpc.status_code"] == "invalid_argument"
    assert "error.type" not in attributes(served_refused)
    assert not served_refused.events

    # A handler's bug is the server's error, on both sides; its message stays on the server.
    assert served_crashed.status.status_code is StatusCode.ERROR
    assert attributes(served_crashed)["error.type"] == "internal"
    assert "secret internal detail" in dumped([served_crashed])  # the traceback of its cause
    assert crashed.status.status_code is StatusCode.ERROR
    assert attributes(crashed)["error.type"] == "internal"
    assert "secret internal detail" not in dumped([crashed])

    # No header is ever recorded, credentials least of all.
    assert "s3cr3t-token-value" not in dumped([*client.spans(), *server.spans()])


async def test_a_retried_call_is_one_call_span_over_a_span_per_attempt() -> None:
    client, server = Traced(), Traced()
    retry = RetryInterceptor(RetryPolicy(max_attempts=3, initial_backoff=0.001))
    flaky = unavailable_first(2)

    tracing = client.tracing
    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[server.tracing, flaky]) as srv,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect(
            "echo", srv.url, interceptors=[tracing, retry, tracing.attempts()]
        )
        await handle.stub(ECHO).Echo(EchoRequest(text="x"))
    [call] = [s for s in client.spans() if "trioplugin.attempt" not in attributes(s)]
    attempts = [s for s in client.spans() if "trioplugin.attempt" in attributes(s)]
    served = server.spans(SpanKind.SERVER)
    assert call.kind is SpanKind.CLIENT
    assert call.status.status_code is StatusCode.UNSET  # the retries absorbed the failures
    assert attributes(call)["rpc.status_code"] == "ok"
    assert "error.type" not in attributes(call)
    assert [attributes(s)["trioplugin.attempt"] for s in attempts] == [1, 2, 3]
    assert [attributes(s)["rpc.status_code"] for s in attempts] == ["unavailable"] * 2 + ["ok"]
    assert [s.status.status_code for s in attempts] == [StatusCode.ERROR] * 2 + [StatusCode.UNSET]
    assert all(s.kind is SpanKind.CLIENT and is_child(s, call) for s in attempts)
    assert all(attributes(s)["trioplugin.endpoint"] == "echo" for s in attempts)
    # Each request carried its own attempt's span, not the call's.
    assert len(served) == 3
    assert all(is_child(s, a) for s, a in zip(served, attempts, strict=True))
    assert [attributes(s)["rpc.status_code"] for s in served] == ["unavailable"] * 2 + ["ok"]


async def test_without_the_companion_the_server_is_the_call_spans_child() -> None:
    client, server = Traced(), Traced()
    retry = RetryInterceptor(RetryPolicy(max_attempts=2, initial_backoff=0.001))
    flaky = unavailable_first(1)

    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[server.tracing, flaky]) as srv,
        open_client(srv.url, interceptors=[client.tracing, retry]) as c,
    ):
        await c.stub(ECHO).Echo(EchoRequest(text="x"))
    [call] = client.spans()
    served = server.spans()
    assert len(served) == 2 and all(is_child(s, call) for s in served)


async def test_a_cancelled_call_ends_its_span_canceled() -> None:
    client, server = Traced(), Traced()
    impl = EchoImpl()
    async with open_connect_server({ECHO: impl}, interceptors=[server.tracing]) as srv:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", srv.url, interceptors=[client.tracing])
            async with trio.open_nursery() as nursery:
                nursery.start_soon(handle.stub(ECHO).Echo, EchoRequest(delay_ms=60_000))
                with trio.fail_after(WAIT):
                    await impl.started.wait()
                nursery.cancel_scope.cancel()
            with trio.fail_after(WAIT):
                await impl.cancelled.wait()
        # Leaving the server's block waits for its handlers, so its span has ended.
    [call] = client.spans()
    assert attributes(call)["rpc.status_code"] == "canceled"
    assert attributes(call)["error.type"] == "canceled"
    assert call.status.status_code is StatusCode.ERROR
    assert call.end_time is not None
    [served] = server.spans()
    assert attributes(served)["rpc.status_code"] == "canceled"
    assert served.status.status_code is StatusCode.UNSET  # the client left: not the server's error


async def test_a_call_cut_off_by_its_deadline_ends_deadline_exceeded() -> None:
    client = Traced()
    impl = EchoImpl()
    async with open_connect_server({ECHO: impl}) as srv:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", srv.url, interceptors=[client.tracing])
            with trio.move_on_after(0.2) as scope:
                await handle.stub(ECHO).Echo(EchoRequest(delay_ms=60_000))
    assert scope.cancelled_caught
    [call] = client.spans()
    assert attributes(call)["rpc.status_code"] == "deadline_exceeded"
    assert call.status.status_code is StatusCode.ERROR


async def _echo_client_stream(echo: Any) -> None:
    reply = await echo.ClientStream([EchoRequest(text=text) for text in "abc"])
    assert reply.text == "a,b,c"


async def test_every_call_kind_is_one_span_a_side_covering_the_whole_stream() -> None:
    client, server = Traced(), Traced()
    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[server.tracing]) as srv,
        open_client(srv.url, interceptors=[client.tracing]) as c,
    ):
        echo = c.stub(ECHO)
        await echo.Echo(EchoRequest(text="u"))
        async with echo.ServerStream(EchoRequest(text="s", repeat=3)) as responses:
            assert len([r async for r in responses]) == 3
        await _echo_client_stream(echo)
        async with echo.Bidi() as stream:
            for index in range(3):
                await stream.send(EchoRequest(text=f"ping {index}"))
                reply = await stream.receive()
                assert reply.index == index
            closing = time.time_ns()
            await stream.close_send()
            assert [r async for r in stream] == []
    calls = client.spans(SpanKind.CLIENT)
    served = server.spans(SpanKind.SERVER)
    names = ["Echo", "ServerStream", "ClientStream", "Bidi"]
    assert [s.name for s in calls] == [f"trioplugin.test.v1.EchoService/{n}" for n in names]
    assert [s.name for s in served] == [s.name for s in calls]
    for call, serving in zip(calls, served, strict=True):
        assert is_child(serving, call)
        assert attributes(call)["rpc.status_code"] == attributes(serving)["rpc.status_code"] == "ok"
        assert call.start_time is not None and call.end_time is not None
        assert serving.start_time is not None and serving.end_time is not None
        # The client's span spans the server's: the stream was over when it ended.
        assert call.start_time <= serving.start_time <= serving.end_time <= call.end_time
    # A bidi call is over once both sides have closed: after the client closed its side.
    assert calls[-1].end_time is not None and calls[-1].end_time >= closing


async def test_a_failed_stream_ends_its_spans_with_the_code() -> None:
    client, server = Traced(), Traced()
    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[server.tracing]) as srv,
        open_client(srv.url, interceptors=[client.tracing]) as c,
    ):
        with pytest.raises(ConnectError):
            request = EchoRequest(text="boom", repeat=2, fail_code="data_loss")
            async with c.stub(ECHO).ServerStream(request) as responses:
                async for _ in responses:
                    pass
    [call], [served] = client.spans(), server.spans()
    assert attributes(call)["error.type"] == attributes(served)["error.type"] == "data_loss"
    assert call.status.status_code is served.status.status_code is StatusCode.ERROR


class Relay(EchoImpl):
    """EchoService whose Echo asks another plugin's Echo, through a plugin handle."""

    def __init__(self) -> None:
        super().__init__()
        self.onward: PluginHandle | None = None

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        assert self.onward is not None
        reply: EchoResponse = await self.onward.stub(ECHO).Echo(request)
        return reply


async def test_three_hops_are_one_trace() -> None:
    # Three processes, as each would export: the host, plugin A, plugin B.
    host_side, a_side, b_side = Traced(), Traced(), Traced()
    relay = Relay()
    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[b_side.tracing]) as b,
        open_connect_server({ECHO: relay}, interceptors=[a_side.tracing]) as a,
        open_plugin_nursery([ECHO]) as a_plugins,
        open_plugin_nursery([ECHO]) as host,
    ):
        relay.onward = await a_plugins.connect("b", b.url, interceptors=[a_side.tracing])
        handle = await host.connect("a", a.url, interceptors=[host_side.tracing])
        reply = await handle.stub(ECHO).Echo(EchoRequest(text="far"))
    assert reply.text == "far"
    [host_client] = host_side.spans()
    [a_server] = a_side.spans(SpanKind.SERVER)
    [a_client] = a_side.spans(SpanKind.CLIENT)
    [b_server] = b_side.spans()
    assert host_client.parent is None  # the trace starts at the host
    assert is_child(a_server, host_client)
    assert is_child(a_client, a_server)  # the handler's call, in the handler's context
    assert is_child(b_server, a_client)
    assert attributes(host_client)["trioplugin.endpoint"] == "a"
    assert attributes(a_client)["trioplugin.endpoint"] == "b"
    assert b_server.kind is SpanKind.SERVER


@pytest.mark.parametrize("only_trace_context", [False, True])
async def test_baggage_travels_with_the_default_propagator_only(only_trace_context: bool) -> None:
    # The global propagator (W3C trace context and baggage) unless one is given.
    propagator = TraceContextTextMapPropagator() if only_trace_context else None
    client, server = Traced(), Traced()
    client.tracing = TracingInterceptor(client.provider, propagator)
    server.tracing = TracingInterceptor(server.provider, propagator)
    seen: list[object] = []

    async def read_baggage(call: Call[Any, Any], call_next: CallNext) -> None:
        seen.append(baggage.get_baggage("tenant"))  # as the handler would
        await call_next(call)

    interceptors: list[InterceptorLike] = [server.tracing, read_baggage]
    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=interceptors) as srv,
        open_client(srv.url, interceptors=[client.tracing]) as c,
    ):
        token = otel_context.attach(baggage.set_baggage("tenant", "t1"))
        try:
            await c.stub(ECHO).Echo(EchoRequest(text="x"))
        finally:
            otel_context.detach(token)
    assert seen == [None if only_trace_context else "t1"]
    [call], [served] = client.spans(), server.spans()
    assert is_child(served, call)


async def test_the_attempt_tracer_has_no_public_constructor_and_checks_what_it_gets() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        AttemptTracer(TracingInterceptor())
    with pytest.raises(TypeError, match="TracerProvider"):
        TracingInterceptor(tracer_provider="global")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TextMapPropagator"):
        TracingInterceptor(propagator={})  # type: ignore[arg-type]


async def test_without_a_provider_the_global_no_op_one_still_passes_the_trace_on() -> None:
    # No SDK configured globally: this client's spans record nothing, but the
    # trace its caller is in still reaches the server, and nothing fails.
    caller, server = Traced(), Traced()
    untraced = TracingInterceptor()
    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[server.tracing]) as srv,
        open_client(srv.url, interceptors=[untraced, untraced.attempts()]) as c,
    ):
        with caller.provider.get_tracer("test").start_as_current_span("caller") as outer:
            await c.stub(ECHO).Echo(EchoRequest(text="x"))
    [served] = server.spans()
    assert is_child(served, outer)


# --- interop: connectrpc with connectrpc-otel's instrumentation --------------------

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
PEER: Final = [sys.executable, "-m", "tests.observability._otel_peer"]


def _interop_peers() -> None:
    for module, what in (
        ("connectrpc", "connectrpc, the interop peer"),
        ("connectrpc_otel", "connectrpc-otel, its OpenTelemetry instrumentation"),
        ("uvicorn", "uvicorn, which serves connectrpc's app"),
        ("pyqwest", "pyqwest, connectrpc's HTTP client"),
    ):
        pytest.importorskip(module, reason=f"{what}, is not installed")


def _peer_spans(lines: Sequence[str]) -> list[dict[str, Any]]:
    return [json.loads(line)["span"] for line in lines if line.startswith('{"span"')]


@pytest.mark.interop
async def test_a_connectrpc_client_and_our_server_make_one_trace() -> None:
    _interop_peers()
    server = Traced()
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=[server.tracing]) as srv:
        with trio.fail_after(30):
            done = await trio.run_process(
                [*PEER, "call", srv.url],
                cwd=REPO_ROOT,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    [peer_call] = _peer_spans(done.stdout.decode().splitlines())
    [served] = server.spans()
    assert peer_call["kind"] == "CLIENT"
    assert peer_call["attributes"]["rpc.method"] == served.name == ECHO_METHOD
    assert f"{trace_id(served):032x}" == peer_call["trace_id"]
    assert served.parent is not None and f"{served.parent.span_id:016x}" == peer_call["span_id"]
    assert attributes(served)["rpc.status_code"] == "ok"


@pytest.mark.interop
async def test_our_client_and_a_connectrpc_server_make_one_trace() -> None:
    _interop_peers()
    from tests.interop._peers import peer_server

    client = Traced()
    with trio.fail_after(30):
        async with peer_server([*PEER, "serve"], REPO_ROOT, "connectrpc") as (port, lines):
            url = f"http://127.0.0.1:{port}"
            options = ClientOptions(http_version="1.1")
            async with open_client(url, options, interceptors=[client.tracing]) as c:
                await c.stub(ECHO).Echo(EchoRequest(text="to connectrpc"))
            # The peer prints each span as it ends, the server's after its answer.
            line = (await lines.next()).decode()
    [peer_served] = _peer_spans([line])
    [call] = client.spans()
    assert peer_served["kind"] == "SERVER"
    assert peer_served["trace_id"] == f"{trace_id(call):032x}"
    assert peer_served["parent_id"] == f"{span_id(call):016x}"
    assert attributes(call)["server.port"] == port
