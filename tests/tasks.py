"""Counting the tasks a test leaves behind."""

from __future__ import annotations

import trio
import trio.lowlevel


class TaskTracker(trio.abc.Instrument):
    """Tracks the live tasks started, at any depth, under one nursery."""

    def __init__(self) -> None:
        self.root: trio.Nursery | None = None
        self.live: set[trio.lowlevel.Task] = set()
        self.spawned = 0

    def _descends(self, task: trio.lowlevel.Task) -> bool:
        nursery = task.parent_nursery
        while nursery is not None:
            if nursery is self.root:
                return True
            nursery = nursery.parent_task.parent_nursery
        return False

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        if self._descends(task):
            self.live.add(task)
            self.spawned += 1

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live.discard(task)
