"""Endpoints joining, leaving and failing while calls run: none lost, none doubled, all in time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import trio

from tests.discovery._replicas import QUICK_RETRY, Replica, SteeredSource, breaker, start_replicas
from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from trioplugin.discovery import ServiceOptions, open_service

CALLS = 400
CONCURRENCY = 16
DEADLINE = 5.0
"""Seconds each call has, from its start to its answer."""


async def test_calls_under_load_survive_every_change_of_the_set(nursery: trio.Nursery) -> None:
    a, b, c, d, e = replicas = await start_replicas(nursery, 5)
    source = SteeredSource([a.url, b.url, c.url])

    def fail(replica: Replica, failing: bool) -> Callable[[], None]:
        def switch() -> None:
            replica.failing = failing

        return switch

    in_flight_when_removed: list[int] = []

    def listing(*listed: Replica) -> Callable[[], None]:
        def change() -> None:
            urls = {replica.url for replica in listed}
            in_flight_when_removed.extend(
                stats.in_flight
                for stats in service.statistics().endpoints
                if stats.url not in urls and not stats.draining
            )
            source.set(urls)

        return change

    # After so many answers, the set changes (or a replica fails, or heals).
    steps: dict[int, Callable[[], None]] = {
        40: listing(a, b, c, d),  # one joins
        80: listing(b, c, d),  # one leaves, its calls in flight
        120: fail(c, True),  # one fails: its breaker opens, retries go elsewhere
        160: listing(b, c, d, e),  # one joins while another fails
        200: fail(c, False),
        240: listing(a, e),  # most leave at once, one comes back
        320: listing(a, b, c, d, e),  # all of them
    }
    answers: dict[str, str] = {}
    late: list[str] = []
    started = 0

    async def worker() -> None:
        nonlocal started
        while started < CALLS:  # ends: every call has been made
            text = f"call-{started}"
            started += 1
            with trio.move_on_after(DEADLINE) as scope:
                reply = await service.stub(ECHO).Echo(EchoRequest(text=text, delay_ms=1))
                answers[text] = reply.text
                step = steps.pop(len(answers), None)
                if step is not None:
                    step()
            if scope.cancelled_caught:
                late.append(text)

    async with open_service(
        "echo",
        source,
        services=[ECHO],
        interceptors=[breaker(timeout=0.2)],
        service=ServiceOptions(retry=QUICK_RETRY, drain_timeout=DEADLINE),
    ) as service:
        with trio.fail_after(60):
            async with trio.open_nursery() as workers:
                for _ in range(CONCURRENCY):
                    workers.start_soon(worker)
        statistics = service.statistics()

    assert late == []
    assert not steps, f"the load ended before the steps at {sorted(steps)}"
    assert len(answers) == CALLS
    assert all(reply == text for text, reply in answers.items())
    handled = Counter(text for replica in replicas for text in replica.answered)
    assert set(handled) == set(answers)
    assert [text for text, times in handled.items() if times != 1] == []  # none doubled
    assert all(replica.answered for replica in replicas)
    assert sum(in_flight_when_removed) > 0  # some left with calls in flight, which finished
    assert statistics.retries + statistics.failovers > 0  # the failing one's calls went elsewhere
    # Added: a b c, d, e, a again, b c d again; removed: a, then b c d.
    assert (statistics.added, statistics.removed) == (9, 4)
