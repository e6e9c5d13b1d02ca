"""A watch that polls a lookup: refresh at the answer's TTL, back off on failure, send changes."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

import trio

from .._util import open_transparent_nursery
from ..protocol import ConnectError
from ..resilience import BackoffSchedule, Jitter, RandomSource
from ._source import Endpoints, changed

_log: Final = logging.getLogger("trioplugin.discovery")

Lookup = Callable[[], Awaitable[tuple[Endpoints, float]]]
"""One answer and how long it may be kept (its TTL in seconds); raises ConnectError on failure."""

FAILURE_BACKOFF_CAP: Final = 30.0
"""The longest wait between retries of a failing lookup (unless ``min_refresh`` is longer)."""


def check_refresh(min_refresh: float, max_refresh: float) -> None:
    """Refuse refresh bounds that are not finite seconds > 0 with ``min <= max``."""
    for name, value in (("min_refresh", min_refresh), ("max_refresh", max_refresh)):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError(f"{name} must be seconds (a number), not {value!r}")
        if not 0 < value < math.inf:
            raise ValueError(f"{name} must be finite seconds > 0, not {value!r}")
    if max_refresh < min_refresh:
        raise ValueError(f"max_refresh ({max_refresh!r}) must be >= min_refresh ({min_refresh!r})")


def refresh_interval(ttl: float, min_refresh: float, max_refresh: float) -> float:
    """When to look again after an answer with ``ttl``: the TTL clamped to the bounds."""
    return float(min(max(ttl, min_refresh), max_refresh))


@asynccontextmanager
async def watch_lookups(
    lookup: Lookup,
    *,
    what: str,
    min_refresh: float,
    max_refresh: float,
    random: RandomSource | None = None,
) -> AsyncIterator[trio.MemoryReceiveChannel[Endpoints]]:
    """A channel of ``lookup``'s answers: the first now, then each changed one.

    The first lookup runs on entry and its failure (a ConnectError) is raised
    from there. Later lookups run at each answer's TTL clamped to
    [``min_refresh``, ``max_refresh``]; a failed one is logged (a warning on
    ``trioplugin.discovery``, naming ``what``), the last answer stays, and
    the lookup is retried after ``min_refresh``, doubling with jitter (never
    sooner than ``min_refresh``) up to :data:`FAILURE_BACKOFF_CAP`. Leaving
    the block stops the refresher.
    """
    first, ttl = await lookup()
    send, receive = trio.open_memory_channel[Endpoints](1)
    send.send_nowait(first)
    schedule = BackoffSchedule(
        initial=min_refresh,
        multiplier=2.0,
        maximum=max(min_refresh, min(max_refresh, FAILURE_BACKOFF_CAP)),
        jitter=Jitter.EQUAL,
        random=random,
    )

    async def refresh() -> None:
        last = first
        wait = refresh_interval(ttl, min_refresh, max_refresh)
        with send:
            while True:
                await trio.sleep(wait)
                try:
                    found, found_ttl = await lookup()
                except ConnectError as error:
                    wait = max(min_refresh, schedule.next())
                    _log.warning(
                        "refreshing %s failed (%s); keeping its last %d endpoint(s), "
                        "next try in %.1f s",
                        what,
                        error.message,
                        len(last),
                        wait,
                    )
                    continue
                schedule.reset()
                wait = refresh_interval(found_ttl, min_refresh, max_refresh)
                if changed(last, found):
                    last = found
                    try:
                        await send.send(found)
                    except trio.BrokenResourceError:  # the consumer closed its end: done
                        return

    with receive:
        async with open_transparent_nursery() as nursery:
            nursery.start_soon(refresh)
            try:
                yield receive
            finally:
                nursery.cancel_scope.cancel()
