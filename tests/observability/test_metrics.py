"""The metrics interceptor: one CallRecord per call, endpoint statistics tracked while open."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO, EchoImpl
from tests.observability._helpers import unavailable_first
from trioplugin import (
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitState,
    Code,
    ConnectError,
    RetryInterceptor,
    RetryPolicy,
    open_plugin_nursery,
)
from trioplugin.actor import ActorStatistics
from trioplugin.observability import CallRecord, MetricsInterceptor, MetricsSink
from trioplugin.rpc import open_client, open_connect_server


class Recorder:
    """A MetricsSink that keeps what it is told."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        self.endpoints: dict[str, Callable[[], ActorStatistics]] = {}
        self.tracked: list[str] = []
        self.untracked: list[str] = []

    def record_call(self, record: CallRecord) -> None:
        self.calls.append(record)

    def track_endpoint(
        self, name: str, statistics: Callable[[], ActorStatistics]
    ) -> Callable[[], None]:
        self.endpoints[name] = statistics
        self.tracked.append(name)

        def untrack() -> None:
            del self.endpoints[name]
            self.untracked.append(name)

        return untrack

    def side(self, side: str) -> list[CallRecord]:
        return [record for record in self.calls if record.side == side]


def test_the_recorder_is_a_sink_and_a_non_sink_is_refused() -> None:
    assert isinstance(Recorder(), MetricsSink)
    with pytest.raises(TypeError, match="sink must be a MetricsSink"):
        MetricsInterceptor(object())  # type: ignore[arg-type]


async def test_each_side_records_each_call_with_its_code_and_sizes() -> None:
    sink = Recorder()
    metrics = MetricsInterceptor(sink)
    async with open_connect_server({ECHO: EchoImpl()}, interceptors=[metrics]) as server:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", server.url, interceptors=[metrics])
            await handle.stub(ECHO).Echo(EchoRequest(text="hello"))
            with pytest.raises(ConnectError):
                await handle.stub(ECHO).Echo(EchoRequest(text="no", fail_code="not_found"))
            assert set(sink.endpoints) == {"echo"}
            assert sink.tracked == ["echo"]  # once, though the actor's client binds too
        assert sink.endpoints == {}  # untracked when the endpoint closed
    assert sink.tracked == sink.untracked == ["echo"]  # once: the client does not bind it again
    ok, failed = sink.side("client")
    assert (ok.endpoint, ok.service, ok.method, ok.code, ok.error_type) == (
        "echo",
        "trioplugin.test.v1.EchoService",
        "Echo",
        "ok",
        None,
    )
    assert ok.rpc_method == "trioplugin.test.v1.EchoService/Echo"
    assert (ok.requests, ok.request_bytes) == (1, EchoRequest(text="hello").ByteSize())
    assert ok.responses == 1 and ok.response_bytes > 0 and ok.duration > 0
    assert (failed.code, failed.error_type, failed.responses) == ("not_found", "not_found", 0)
    served, refused = sink.side("server")
    assert (served.endpoint, served.code, refused.code) == (None, "ok", "not_found")
    assert refused.error_type is None  # the client's doing, for the server (the conventions)


async def test_a_retried_call_is_one_record_with_its_attempts() -> None:
    sink = Recorder()
    flaky = unavailable_first(2)

    retry = RetryInterceptor(RetryPolicy(max_attempts=3, initial_backoff=0.001))
    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[flaky]) as server,
        open_client(server.url, interceptors=[MetricsInterceptor(sink), retry]) as client,
    ):
        await client.stub(ECHO).Echo(EchoRequest(text="x"))
    [record] = sink.calls
    assert (record.code, record.attempts, record.endpoint) == ("ok", 3, server.url)


async def test_a_cancelled_call_is_recorded_as_canceled() -> None:
    sink = Recorder()
    impl = EchoImpl()
    async with (
        open_connect_server({ECHO: impl}) as server,
        open_client(server.url, interceptors=[MetricsInterceptor(sink)]) as client,
    ):
        with trio.move_on_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.stub(ECHO).Echo, EchoRequest(delay_ms=60_000))
                await impl.started.wait()
                nursery.cancel_scope.cancel()
    [record] = sink.calls
    assert (record.code, record.error_type) == ("canceled", "canceled")


async def test_every_call_kind_counts_its_messages() -> None:
    sink = Recorder()
    metrics = MetricsInterceptor(sink)
    async with (
        open_connect_server({ECHO: EchoImpl()}, interceptors=[metrics]) as server,
        open_client(server.url, interceptors=[metrics]) as client,
    ):
        echo = client.stub(ECHO)
        async with echo.ServerStream(EchoRequest(text="s", repeat=3)) as stream:
            assert len([reply async for reply in stream]) == 3
        await echo.ClientStream([EchoRequest(text=text) for text in "ab"])
        async with echo.Bidi() as bidi:
            for text in "xyz":
                await bidi.send(EchoRequest(text=text))
                await bidi.receive()
            await bidi.close_send()
            assert [reply async for reply in bidi] == []
    counts = {(r.side, r.method): (r.requests, r.responses) for r in sink.calls}
    assert counts == {
        (side, method): expected
        for side in ("client", "server")
        for method, expected in (
            ("ServerStream", (1, 3)),
            ("ClientStream", (2, 1)),
            ("Bidi", (3, 3)),
        )
    }
    assert all(record.code == "ok" for record in sink.calls)


async def test_the_tracked_statistics_show_the_breaker_opening() -> None:
    sink = Recorder()
    breaker = CircuitBreakerInterceptor(CircuitBreakerConfig(failure_threshold=2, timeout=60))
    async with open_connect_server({ECHO: EchoImpl()}) as server:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect(
                "echo", server.url, interceptors=[MetricsInterceptor(sink), breaker]
            )
            statistics = sink.endpoints["echo"]
            assert statistics().circuit_state is CircuitState.CLOSED
            for _ in range(2):
                with pytest.raises(ConnectError):
                    await handle.stub(ECHO).Echo(EchoRequest(fail_code="unavailable"))
            assert statistics().circuit_state is CircuitState.OPEN
            with pytest.raises(ConnectError) as refused:
                await handle.stub(ECHO).Echo(EchoRequest(text="refused"))
    assert refused.value.code is Code.UNAVAILABLE
    assert [record.code for record in sink.calls] == ["unavailable"] * 3  # refusal recorded too


async def test_a_call_its_deadline_cut_off_is_recorded_as_deadline_exceeded() -> None:
    sink = Recorder()
    async with (
        open_connect_server({ECHO: EchoImpl()}) as server,
        open_client(server.url, interceptors=[MetricsInterceptor(sink)]) as client,
    ):
        with trio.move_on_after(0.2):  # the call's deadline; the handler would take a minute
            await client.stub(ECHO).Echo(EchoRequest(delay_ms=60_000))
    [record] = sink.calls
    assert (record.code, record.error_type) == ("deadline_exceeded", "deadline_exceeded")
