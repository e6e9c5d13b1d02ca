"""Counting the tasks a test leaves behind: a tracker under one nursery, or every live task."""

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


def live_tasks() -> set[trio.lowlevel.Task]:
    """Every task of this trio run, found from the root task down its nurseries."""
    tasks: set[trio.lowlevel.Task] = set()
    pending = [trio.lowlevel.current_root_task()]
    while pending:  # ends: the task tree is finite
        task = pending.pop()
        if task is None or task in tasks:
            continue
        tasks.add(task)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return tasks
