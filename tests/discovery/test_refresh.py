"""The polling watch under the DNS sources: TTL clamping, changes only, backoff, clean exit."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from trioplugin.discovery import ServiceEndpoint, endpoint_set
from trioplugin.discovery._refresh import (
    FAILURE_BACKOFF_CAP,
    check_refresh,
    refresh_interval,
    watch_lookups,
)
from trioplugin.protocol import Code, ConnectError

A = endpoint_set(["http://10.0.0.1:80"])
B = endpoint_set(["http://10.0.0.1:80", ServiceEndpoint("http://10.0.0.2:80", 1, 5)])


class Script:
    """A lookup that gives scripted answers (or raises them) and notes when it was asked."""

    def __init__(self, *answers: tuple[tuple[ServiceEndpoint, ...], float] | ConnectError) -> None:
        self.answers = list(answers)
        self.times: list[float] = []
        self.done = trio.Event()

    async def __call__(self) -> tuple[tuple[ServiceEndpoint, ...], float]:
        await trio.lowlevel.checkpoint()
        self.times.append(trio.current_time())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if len(self.answers) == 1 and not self.done.is_set() and len(self.times) > 1:
            self.done.set()
        if isinstance(answer, ConnectError):
            raise answer
        return answer


class Half:
    """A random source in the middle: equal jitter gives 3/4 of each backoff."""

    def random(self) -> float:
        return 0.5


def down() -> ConnectError:
    return ConnectError(Code.UNAVAILABLE, "DNS lookup of x failed: no server")


def test_refresh_interval_is_the_ttl_clamped() -> None:
    assert refresh_interval(30, 1, 300) == 30
    assert refresh_interval(0, 1, 300) == 1
    assert refresh_interval(86400, 1, 300) == 300


@pytest.mark.parametrize(
    ("low", "high", "error", "match"),
    [
        (0, 1, ValueError, "min_refresh must be finite seconds > 0, not 0"),
        (1, float("inf"), ValueError, "max_refresh must be finite seconds > 0"),
        (2, 1, ValueError, r"max_refresh \(1\) must be >= min_refresh \(2\)"),
        ("1", 2, TypeError, "min_refresh must be seconds"),
        (1, True, TypeError, "max_refresh must be seconds"),
    ],
)
def test_bad_refresh_bounds(low: object, high: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        check_refresh(low, high)  # type: ignore[arg-type]


async def test_looks_again_at_the_clamped_ttl_and_sends_changes_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    lookup = Script((A, 30), (A, 0), (A, 10_000), (B, 5), (B, 5))
    async with watch_lookups(lookup, what="x", min_refresh=1, max_refresh=300) as answers:
        assert await answers.receive() == A
        assert await answers.receive() == B  # the unchanged answers were not sent
        await lookup.done.wait()
    elapsed = [round(t - start, 6) for t in lookup.times]
    assert elapsed == [0, 30, 31, 331]  # TTL 30; 0 -> min_refresh; 10000 -> max_refresh


async def test_a_failed_refresh_keeps_the_set_logs_and_backs_off(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    start = trio.current_time()
    failures = [down() for _ in range(8)]
    lookup = Script((A, 1), *failures, (B, 1), (B, 1))
    caplog.set_level(logging.WARNING, logger="trioplugin.discovery")
    async with watch_lookups(
        lookup, what="the SRV records of x", min_refresh=1, max_refresh=300, random=Half()
    ) as answers:
        assert await answers.receive() == A
        assert await answers.receive() == B  # after the failures, nothing in between
    gaps = [round(b - a, 6) for a, b in zip(lookup.times, lookup.times[1:], strict=False)]
    # TTL 1; then min_refresh (0.75 is raised to it), 1.5, 3, ... up to the cap (x 3/4);
    # after the success the schedule starts again.
    cap = FAILURE_BACKOFF_CAP * 0.75
    assert gaps[:9] == [1, 1, 1.5, 3, 6, 12, cap, cap, cap]
    assert lookup.times[0] == start
    warnings = [r for r in caplog.records if r.name == "trioplugin.discovery"]
    assert len(warnings) == 8
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert "refreshing the SRV records of x failed (DNS lookup of x failed: no server)" in (
        warnings[0].getMessage()
    )
    assert "keeping its last 1 endpoint(s), next try in 1.0 s" in warnings[0].getMessage()


async def test_the_backoff_is_capped_by_a_short_max_refresh(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lookup = Script((A, 1), *[down() for _ in range(5)], (A, 1))
    async with watch_lookups(lookup, what="x", min_refresh=1, max_refresh=2) as answers:
        assert await answers.receive() == A
        await lookup.done.wait()
    gaps = [b - a for a, b in zip(lookup.times, lookup.times[1:], strict=False)]
    assert max(gaps) <= 2


async def test_a_failed_first_lookup_is_raised_on_entry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with pytest.raises(ConnectError) as caught:
        async with watch_lookups(Script(down()), what="x", min_refresh=1, max_refresh=2):
            pytest.fail("entered")
    assert caught.value.code is Code.UNAVAILABLE


async def test_leaving_the_block_stops_the_refresher(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lookup = Script((A, 1))
    async with watch_lookups(lookup, what="x", min_refresh=1, max_refresh=2) as answers:
        assert await answers.receive() == A
    asked = len(lookup.times)
    await trio.sleep(100)
    assert len(lookup.times) == asked
    with pytest.raises(trio.ClosedResourceError):
        answers.receive_nowait()


async def test_an_error_in_the_block_comes_out_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with pytest.raises(KeyError):
        async with watch_lookups(Script((A, 1)), what="x", min_refresh=1, max_refresh=2):
            raise KeyError("mine")


async def test_a_consumer_that_closes_its_end_stops_the_refresher_quietly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lookup = Script((A, 1), (B, 1), (A, 1), (B, 1))
    async with watch_lookups(lookup, what="x", min_refresh=1, max_refresh=2) as answers:
        await answers.aclose()
        await trio.sleep(10)
        asked = len(lookup.times)
        await trio.sleep(10)
        assert len(lookup.times) == asked  # it ended at the first send after the close
