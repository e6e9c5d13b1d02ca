"""The actor's admission: bounded inbox (backpressure), in-flight limit, cancellation, close."""

from __future__ import annotations

import random

import pytest
import trio
import trio.lowlevel
import trio.testing

from tests.actor.conftest import GatedEcho
from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from trioplugin import ActorOptions, open_plugin_nursery
from trioplugin.protocol import ConnectError
from trioplugin.rpc import Stub, open_connect_server


class Outcomes:
    """Runs calls in tasks and records how each ended."""

    def __init__(self, stub: Stub) -> None:
        self.stub = stub
        self.results: dict[int, str] = {}

    async def call(self, index: int) -> None:
        try:
            reply = await self.stub.Echo(EchoRequest(text=str(index)))
        except ConnectError as error:
            self.results[index] = error.code.value
        except trio.Cancelled:
            self.results[index] = "cancelled"
            raise
        else:
            self.results[index] = f"ok {reply.text}"


async def test_full_inbox_holds_callers_back_and_in_flight_is_capped() -> None:
    gated = GatedEcho()
    async with (
        open_connect_server({ECHO: gated}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect(
            "echo", server.url, actor=ActorOptions(inbox_capacity=2, max_in_flight=3)
        )
        outcomes = Outcomes(handle.stub(ECHO))
        async with trio.open_nursery() as callers:
            for index in range(7):
                callers.start_soon(outcomes.call, index)
            while gated.inside < 3:
                await gated.someone_entered.wait()
                gated.someone_entered = trio.Event()
            await trio.testing.wait_all_tasks_blocked()
            stats = handle.statistics()
            # 3 running, 2 waiting in the inbox, 1 held by the admission loop
            # waiting for a slot (queued too), and the 7th caller held back on
            # the full inbox.
            assert stats.in_flight == 3
            assert stats.queued == 3
            assert gated.entered == 3
            assert outcomes.results == {}
            gated.gate.set()
        assert outcomes.results == {i: f"ok {i}" for i in range(7)}
        assert gated.most_inside == 3
        assert handle.statistics().completed == 7


async def test_cancelling_a_queued_call_never_reaches_the_plugin() -> None:
    gated = GatedEcho()
    async with (
        open_connect_server({ECHO: gated}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect("echo", server.url, actor=ActorOptions(max_in_flight=1))
        outcomes = Outcomes(handle.stub(ECHO))
        async with trio.open_nursery() as callers:
            callers.start_soon(outcomes.call, 0)
            await gated.someone_entered.wait()
            with trio.CancelScope() as queued_scope:
                queued_scope.cancel()
                await outcomes.call(1)
            gated.gate.set()
        assert outcomes.results == {0: "ok 0", 1: "cancelled"}
        assert gated.entered == 1
        assert handle.statistics().canceled == 1


async def test_cancelling_an_in_flight_call_cancels_it_on_the_plugin() -> None:
    gated = GatedEcho()
    async with (
        open_connect_server({ECHO: gated}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect("echo", server.url)
        stub = handle.stub(ECHO)
        async with trio.open_nursery() as callers:
            callers.start_soon(stub.Echo, EchoRequest())
            await gated.someone_entered.wait()
            callers.cancel_scope.cancel()
        with trio.fail_after(10):
            await gated.someone_left.wait()
        assert gated.inside == 0
        assert handle.statistics().in_flight == 0
        assert handle.statistics().canceled == 1


async def test_closing_answers_queued_and_in_flight_calls() -> None:
    gated = GatedEcho()
    async with (
        open_connect_server({ECHO: gated}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect("echo", server.url, actor=ActorOptions(max_in_flight=1))
        outcomes = Outcomes(handle.stub(ECHO))
        async with trio.open_nursery() as callers:
            for index in range(3):
                callers.start_soon(outcomes.call, index)
            await gated.someone_entered.wait()
            await trio.testing.wait_all_tasks_blocked()
            await handle.aclose()
        # One call was in flight when the actor closed, two were queued; trio
        # does not promise which caller got there first.
        assert sorted(outcomes.results.values()) == ["canceled", "unavailable", "unavailable"]
        stats = handle.statistics()
        assert (stats.in_flight, stats.queued, stats.completed, stats.failed) == (0, 0, 0, 3)


async def test_leaving_the_nursery_answers_every_waiting_caller() -> None:
    gated = GatedEcho()
    outcomes: Outcomes | None = None
    async with open_connect_server({ECHO: gated}) as server, trio.open_nursery() as callers:
        async with open_plugin_nursery([ECHO]) as host:
            handle = await host.connect("echo", server.url, actor=ActorOptions(max_in_flight=1))
            outcomes = Outcomes(handle.stub(ECHO))
            for index in range(3):
                callers.start_soon(outcomes.call, index)
            await gated.someone_entered.wait()
            await trio.testing.wait_all_tasks_blocked()
    assert outcomes is not None
    assert sorted(outcomes.results.values()) == ["canceled", "unavailable", "unavailable"]


@pytest.mark.parametrize("seed", range(3))
async def test_every_call_gets_exactly_one_answer_under_random_cancellation(seed: int) -> None:
    rng = random.Random(seed)
    gated = GatedEcho()
    gated.gate.set()
    answers: dict[int, list[str]] = {}
    async with (
        open_connect_server({ECHO: gated}) as server,
        open_plugin_nursery([ECHO]) as host,
    ):
        handle = await host.connect(
            "echo", server.url, actor=ActorOptions(inbox_capacity=4, max_in_flight=4)
        )
        stub = handle.stub(ECHO)

        async def call(index: int, scope: trio.CancelScope) -> None:
            got = answers.setdefault(index, [])
            with scope:
                try:
                    await stub.Echo(EchoRequest(text=str(index)))
                    got.append("ok")
                except ConnectError as error:
                    got.append(error.code.value)
                except trio.Cancelled:
                    got.append("cancelled")
                    raise

        scopes = [trio.CancelScope() for _ in range(40)]
        async with trio.open_nursery() as callers:
            for index, scope in enumerate(scopes):
                callers.start_soon(call, index, scope)
            for _ in range(30):
                await trio.lowlevel.checkpoint()
                rng.choice(scopes).cancel()
        assert sorted(answers) == list(range(40))
        assert all(len(got) == 1 for got in answers.values()), answers
        assert {got[0] for got in answers.values()} <= {"ok", "cancelled"}
        stats = handle.statistics()
        assert (stats.in_flight, stats.queued) == (0, 0)
