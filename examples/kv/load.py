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


CALLERS = 4
CALLS_PER_CALLER = 150
KEYS_PER_CALLER = 5


class Callers:
    """``--replicas``' load: callers side by side, each writing keys of its own in turn.

    Each makes ``CALLS_PER_CALLER`` calls, one after the other, so the last
    value it was answered for is what a key must hold at the end
    (:attr:`written`). Every call is counted: made, answered, failed.
    """

    def __init__(self) -> None:
        self.made = 0
        self.answered = 0
        self.failed = 0
        self.first_failure: ConnectError | trio.TooSlowError | None = None
        self.written: dict[str, str] = {}
        """Each key, and the value of the last put of it that was answered."""
        self._done = False
        self._ended = trio.Event()

    @property
    def in_flight(self) -> int:
        """Calls made that have not ended."""
        return self.made - self.answered - self.failed

    @property
    def lost(self) -> int:
        """Calls made and not answered."""
        return self.made - self.answered

    async def run(self, kv: KVServiceClient) -> None:
        """Run the callers until each has made its calls."""
        try:
            async with trio.open_nursery() as nursery:
                for caller in range(CALLERS):
                    nursery.start_soon(self._call, kv, caller)
        finally:
            self._done = True
            self._ended.set()

    async def _call(self, kv: KVServiceClient, caller: int) -> None:
        for n in range(CALLS_PER_CALLER):
            key, value = f"load/{caller}/{n % KEYS_PER_CALLER}", f"{caller}.{n}"
            self.made += 1
            try:
                with trio.fail_after(CALL_DEADLINE):
                    await kv.Put(PutRequest(key=key, value=value))
            except (ConnectError, trio.TooSlowError) as error:
                self.failed += 1
                self.first_failure = self.first_failure or error
            else:
                self.answered += 1
                self.written[key] = value
            self._ended.set()
            self._ended = trio.Event()
            await trio.sleep(PACE)

    async def until_answered(self, count: int) -> None:
        """Return once ``count`` calls in all have been answered, or the callers are done."""
        while self.answered < count and not self._done:  # each call's end wakes it
            await self._ended.wait()

    def status(self) -> str:
        """One line: the counts so far."""
        return (
            f"calls made {self.made} · answered {self.answered} · failed {self.failed} · "
            f"in flight {self.in_flight}"
        )
