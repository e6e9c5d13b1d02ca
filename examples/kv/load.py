"""Steady writes to the key-value plugin, counted by how each call ended."""

from __future__ import annotations

import trio

from examples.kv.kv_pb2 import PutRequest
from examples.kv.kv_trioplugin import KVServiceClient
from trioplugin import CircuitOpenError, ConnectError

PACE = 0.01
"""Seconds between calls: about a hundred a second."""

CALL_DEADLINE = 2.0
"""Each call's deadline (sent to the plugin as ``Connect-Timeout-Ms``)."""


class Load:
    """Writes ``load/0`` … ``load/9`` in turn until cancelled; counts the outcomes."""

    def __init__(self) -> None:
        self.answered = 0
        self.failed_fast = 0
        """Refused by the open circuit, without reaching the plugin."""
        self.failed = 0
        """Failed after the retries (the plugin was down)."""
        self.first_failure: ConnectError | None = None
        self._answered_changed = trio.Event()

    async def run(self, kv: KVServiceClient) -> None:
        """Call until cancelled."""
        n = 0
        while True:  # ends: cancelled by the host
            n += 1
            try:
                with trio.fail_after(CALL_DEADLINE):
                    await kv.Put(PutRequest(key=f"load/{n % 10}", value=str(n)))
            except CircuitOpenError:
                self.failed_fast += 1
            except ConnectError as error:
                self.failed += 1
                self.first_failure = self.first_failure or error
            else:
                self.answered += 1
                self._answered_changed.set()
                self._answered_changed = trio.Event()
            await trio.sleep(PACE)

    async def until_answered(self, count: int) -> None:
        """Return once ``count`` more calls have been answered."""
        target = self.answered + count
        while self.answered < target:
            await self._answered_changed.wait()

    def status(self) -> str:
        """One line: the counts so far."""
        return (
            f"calls answered {self.answered} · failed fast {self.failed_fast} · "
            f"failed after retries {self.failed}"
        )
