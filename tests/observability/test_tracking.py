"""TrackedEndpoints: what a metrics adapter reads at collection, each in its own trio thread."""

from __future__ import annotations

import threading
from dataclasses import replace

import trio

from tests.observability._helpers import snapshot
from trioplugin.actor import ActorStatistics
from trioplugin.observability._tracking import TrackedEndpoints
from trioplugin.resilience import RetryBudget


def test_failing_statistics_are_left_out_and_untracking_is_idempotent() -> None:
    tracked = TrackedEndpoints()

    def broken() -> ActorStatistics:
        raise RuntimeError("no statistics today")

    untrack = tracked.track("good", lambda: snapshot("good"))
    tracked.track("broken", broken)
    assert [name for name, _ in tracked.read(1.0)] == ["good"]
    untrack()
    untrack()
    assert tracked.read(1.0) == []


def test_one_name_tracked_twice_reads_the_last_and_untracks_apart() -> None:
    tracked = TrackedEndpoints()
    first = tracked.track("kv", lambda: snapshot("kv", queued=1))
    second = tracked.track("kv", lambda: snapshot("kv", queued=2))
    assert [(name, s.queued) for name, s in tracked.read(1.0)] == [("kv", 2)]
    second()
    assert [(name, s.queued) for name, s in tracked.read(1.0)] == [("kv", 1)]
    first()
    assert tracked.read(1.0) == []


async def test_another_thread_reads_in_the_trio_thread_the_endpoint_was_tracked_in() -> None:
    # A retry budget reads trio's clock, which raises outside the run's thread.
    limiter = RetryBudget().new_limiter()
    tracked = TrackedEndpoints()

    def statistics() -> ActorStatistics:
        balance = limiter.statistics().balance
        return replace(snapshot("kv"), queued=int(balance))

    tracked.track("kv", statistics)
    read = await trio.to_thread.run_sync(tracked.read, 5.0)
    assert [(name, s.queued) for name, s in read] == [("kv", 100)]


async def test_a_blocked_run_is_waited_for_a_bounded_time_then_left_out() -> None:
    tracked = TrackedEndpoints()
    tracked.track("inside", lambda: snapshot("inside"))
    read: list[list[str]] = []
    done = threading.Event()

    def collect() -> None:
        read.append([name for name, _ in tracked.read(0.05)])
        done.set()

    threading.Thread(target=collect, daemon=True).start()
    assert done.wait(timeout=10)  # blocks the run on purpose: no await
    assert read == [[]]
    await trio.lowlevel.checkpoint()  # the late reading runs now, harmlessly
    assert [name for name, _ in tracked.read(0.05)] == ["inside"]


def test_a_finished_run_is_left_out() -> None:
    tracked = TrackedEndpoints()

    async def track() -> None:
        tracked.track("gone", lambda: snapshot("gone"))

    trio.run(track)
    assert tracked.read(1.0) == []
