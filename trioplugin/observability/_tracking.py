"""The endpoints a metrics adapter reads when it collects: each once, in its own trio thread.

A metrics library collects in a thread of its own as often as not
(OpenTelemetry's periodic exporting reader, prometheus_client's HTTP
server), but an endpoint's statistics belong to its actor's trio run: the
breaker and the retry budget read trio's clock (``trio.current_time``,
which raises outside the run's thread) and may move their state when read
(an open breaker whose timeout has passed turns half-open). So
:meth:`TrackedEndpoints.read` runs each endpoint's ``statistics()`` in the
trio thread it was tracked from, waiting a bounded time for it; called from
that thread, it calls them directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, final

import trio

from ..actor import ActorStatistics

_log: Final = logging.getLogger("trioplugin.observability")


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    statistics: Callable[[], ActorStatistics]
    token: trio.lowlevel.TrioToken | None
    """The trio run it was tracked in, or None when tracked outside one."""


def _current_token() -> trio.lowlevel.TrioToken | None:
    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:  # not in a trio run's thread
        return None


@final
class TrackedEndpoints:
    """Endpoints' statistics by name, for a metrics sink's ``track_endpoint``.

    Safe to use from any thread. Two endpoints tracked under one name (two
    plugin nurseries sharing a sink) are read as the one tracked last;
    untracking one leaves the other.
    """

    __slots__ = ("_entries", "_lock")

    def __init__(self) -> None:
        self._entries: dict[object, _Entry] = {}
        self._lock = threading.Lock()

    def track(self, name: str, statistics: Callable[[], ActorStatistics]) -> Callable[[], None]:
        """Read ``statistics()`` in :meth:`read` until the returned function is called."""
        key = object()
        entry = _Entry(name, statistics, _current_token())
        with self._lock:
            self._entries[key] = entry

        def untrack() -> None:
            with self._lock:
                self._entries.pop(key, None)

        return untrack

    def read(self, timeout: float) -> list[tuple[str, ActorStatistics]]:
        """Each tracked endpoint's name and statistics now, each read once.

        An endpoint whose statistics raise is left out (logged at DEBUG on
        ``trioplugin.observability``), and so are those whose trio run has
        finished or does not get to them within ``timeout`` seconds (it is
        blocked, or waits for this very collection).
        """
        with self._lock:
            entries = list(self._entries.values())
        if not entries:
            return []
        here = _current_token()
        deadline = time.monotonic() + timeout
        found: dict[int, ActorStatistics] = {}
        runs: dict[trio.lowlevel.TrioToken, list[int]] = {}
        for index, entry in enumerate(entries):
            if entry.token is None or entry.token is here:
                _read(entries, [index], found)
            else:
                runs.setdefault(entry.token, []).append(index)
        for token, indexes in runs.items():
            found |= _read_in_run(token, entries, indexes, deadline - time.monotonic())
        by_name = {entries[index].name: found[index] for index in sorted(found)}  # last wins
        return list(by_name.items())


def _read(entries: list[_Entry], indexes: list[int], found: dict[int, ActorStatistics]) -> None:
    for index in indexes:
        entry = entries[index]
        try:
            found[index] = entry.statistics()
        except Exception:
            _log.debug("endpoint %r: reading its statistics failed", entry.name, exc_info=True)


def _read_in_run(
    token: trio.lowlevel.TrioToken, entries: list[_Entry], indexes: list[int], timeout: float
) -> dict[int, ActorStatistics]:
    found: dict[int, ActorStatistics] = {}
    done = threading.Event()

    def job() -> None:
        try:
            _read(entries, indexes, found)
        finally:
            done.set()

    try:
        token.run_sync_soon(job)
    except trio.RunFinishedError:
        return {}
    if not done.wait(max(timeout, 0.0)):
        _log.debug("%d endpoint(s) left out: their trio run did not answer in time", len(indexes))
        return {}
    return found
