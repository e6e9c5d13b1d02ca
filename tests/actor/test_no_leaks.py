"""Leaving the endpoint nursery leaves no task behind, whatever the calls did."""

from __future__ import annotations

import contextlib

import pytest
import trio
import trio.lowlevel
import trio.testing

from tests.actor.conftest import GatedEcho
from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.tasks import TaskTracker
from trioplugin import ActorOptions
from trioplugin.actor import ActorState, open_endpoint_nursery
from trioplugin.protocol import ConnectError
from trioplugin.resilience import RetryInterceptor
from trioplugin.rpc import Stub, serve_connect
from trioplugin.transport import Server


async def call_ignoring_errors(stub: Stub) -> None:
    with contextlib.suppress(ConnectError):
        await stub.Echo(EchoRequest())


async def test_no_task_survives_the_plugin_nursery(nursery: trio.Nursery) -> None:
    gated = GatedEcho()
    server: Server = await nursery.start(serve_connect, {ECHO: gated})
    tracker = TaskTracker()
    trio.lowlevel.add_instrument(tracker)
    try:
        async with trio.open_nursery() as outside:
            async with open_endpoint_nursery([ECHO]) as host:
                tracker.root = host._nursery
                handle = await host.connect("echo", server.url, actor=ActorOptions(max_in_flight=2))
                stub = handle.stub(ECHO)
                gated.gate.set()
                await stub.Echo(EchoRequest())
                async with stub.ServerStream(EchoRequest(repeat=2)) as responses:
                    await responses.receive()  # left early: the stream is aborted
                async with stub.Bidi() as stream:
                    await stream.send(EchoRequest())
                gated.gate = trio.Event()  # calls from now on hang until cancelled
                async with trio.open_nursery() as callers:
                    for _ in range(5):
                        callers.start_soon(stub.Echo, EchoRequest())
                    await gated.someone_entered.wait()
                    callers.cancel_scope.cancel()
                for _ in range(3):
                    outside.start_soon(call_ignoring_errors, stub)  # still waiting at exit
                await trio.testing.wait_all_tasks_blocked()
            assert tracker.spawned > 0
            assert tracker.live == set()
    finally:
        trio.lowlevel.remove_instrument(tracker)


async def test_an_endpoint_that_is_never_called_costs_no_task(nursery: trio.Nursery) -> None:
    server: Server = await nursery.start(serve_connect, {ECHO: GatedEcho()})
    tracker = TaskTracker()
    trio.lowlevel.add_instrument(tracker)
    try:
        async with open_endpoint_nursery([ECHO]) as host:
            tracker.root = host._nursery
            handles = [await host.connect(f"idle-{n}", server.url) for n in range(50)]
            await trio.testing.wait_all_tasks_blocked()
            assert tracker.spawned == 0  # fifty endpoints, no task yet
            assert all(handle.state is ActorState.RUNNING for handle in handles)
            await handles[0].aclose()  # closing one that never ran needs no task either
            assert handles[0].state is ActorState.CLOSED
            with contextlib.suppress(ConnectError):
                await handles[0].stub(ECHO).Echo(EchoRequest())
            assert tracker.spawned == 0
            busy = handles[1].stub(ECHO)  # its gate stays shut: the call waits
            tracker_before = tracker.spawned
            async with trio.open_nursery() as callers:
                callers.start_soon(busy.Echo, EchoRequest())
                await trio.testing.wait_all_tasks_blocked()
                assert tracker.spawned > tracker_before  # the first call started its actor
                callers.cancel_scope.cancel()
        assert tracker.live == set()
    finally:
        trio.lowlevel.remove_instrument(tracker)


async def test_a_call_admitted_at_once_runs_in_its_callers_task(nursery: trio.Nursery) -> None:
    gated = GatedEcho()
    gated.gate.set()
    server: Server = await nursery.start(serve_connect, {ECHO: gated})
    tracker = TaskTracker()
    trio.lowlevel.add_instrument(tracker)
    try:
        async with open_endpoint_nursery([ECHO]) as host:
            tracker.root = host._nursery
            handle = await host.connect("echo", server.url, actor=ActorOptions(max_in_flight=1))
            stub = handle.stub(ECHO)
            await stub.Echo(EchoRequest())  # starts the actor, its client and connection
            spawned = tracker.spawned
            for _ in range(5):
                await stub.Echo(EchoRequest())
            assert tracker.spawned == spawned  # no job task per call
            assert handle.statistics().completed == 6
            # Past the in-flight limit, calls queue in the inbox as before.
            gated.gate = trio.Event()
            async with trio.open_nursery() as callers:
                for _ in range(3):
                    callers.start_soon(stub.Echo, EchoRequest())
                await gated.someone_entered.wait()
                await trio.testing.wait_all_tasks_blocked()
                assert handle.statistics().in_flight == 1  # the limit holds
                assert gated.most_inside == 1
                gated.gate.set()
            assert handle.statistics().completed == 9
        assert tracker.live == set()
    finally:
        trio.lowlevel.remove_instrument(tracker)


async def test_a_burst_that_queued_drains_at_once_and_later_calls_run_in_their_tasks(
    nursery: trio.Nursery,
) -> None:
    """Callers that all arrive before the actor's client exists queue in the inbox;
    the actor admits them in one pass, so their next calls, finding the inbox empty,
    run in their own tasks: a job task per call would mean the inbox stayed busy."""
    gated = GatedEcho()
    gated.gate.set()
    server: Server = await nursery.start(serve_connect, {ECHO: gated})
    tracker = TaskTracker()
    trio.lowlevel.add_instrument(tracker)
    callers, rounds = 20, 5
    try:
        async with open_endpoint_nursery([ECHO]) as host:
            tracker.root = host._nursery
            handle = await host.connect("echo", server.url)
            stub = handle.stub(ECHO)

            async def caller() -> None:
                for _ in range(rounds):
                    await stub.Echo(EchoRequest())

            async with trio.open_nursery() as burst:
                for _ in range(callers):
                    burst.start_soon(caller)
            assert handle.statistics().completed == callers * rounds
            # The actor, its transport's tasks, and a job task for each call of the
            # first burst; none for the calls after it.
            assert tracker.spawned <= callers + 10
    finally:
        trio.lowlevel.remove_instrument(tracker)


@pytest.mark.parametrize("retry", [False, True], ids=["bare", "with a retry interceptor"])
async def test_closing_the_actor_answers_calls_running_in_their_callers_tasks(
    nursery: trio.Nursery, retry: bool
) -> None:
    """Bare calls are ended by closing the transport, calls with interceptors (which
    may wait elsewhere) by their cancel scopes: the answer is the same."""
    gated = GatedEcho()  # its gate stays shut: every call waits in the handler
    server: Server = await nursery.start(serve_connect, {ECHO: gated})
    errors: list[ConnectError] = []

    async def caller(stub: Stub) -> None:
        try:
            await stub.Echo(EchoRequest())
        except ConnectError as exc:
            errors.append(exc)

    async with open_endpoint_nursery([ECHO]) as host:
        interceptors = [RetryInterceptor()] if retry else []
        handle = await host.connect("echo", server.url, interceptors=interceptors)
        gated.gate.set()
        await handle.stub(ECHO).Echo(EchoRequest())  # the actor and its client are up
        gated.gate = trio.Event()
        async with trio.open_nursery() as callers:
            for _ in range(3):
                assert handle._actor.can_run_here()
                callers.start_soon(caller, handle.stub(ECHO))
            await trio.testing.wait_all_tasks_blocked()
            assert handle.statistics().in_flight == 3
            assert handle.statistics().queued == 0  # none went through the inbox
            await handle.aclose()
    assert [e.code.value for e in errors] == ["canceled"] * 3
    assert all("closed while" in e.message for e in errors)
    assert handle.statistics().in_flight == 0
