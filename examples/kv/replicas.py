"""``python -m examples.kv --replicas``: three replicas of the store behind one service handle.

The host starts three replicas of the key-value store (``python -m
examples.kv.replica``), each a process of its own that listens on
127.0.0.1 as a remote service would: TLS with a certificate from a CA the
host made for the run, the bearer token of the run, and one data file that all three
share (an ``fcntl`` lock, the file read again when another replica changed
it: see :class:`~examples.kv.store.KVStore`). It connects them as one
service, ``host.connect_service("kv", StaticSource(urls), ...)``, each
endpoint with the token and a circuit breaker, a failed call retried by
the service on another replica. Then callers put under steady load, one
replica is killed mid-run, and the host tells what happened: the breaker
ejects the replica, the other two take its calls, every call is answered.
Leaving stops the replicas (SIGTERM, SIGKILL after 5 s); nothing is left.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from examples.kv.account import Account
from examples.kv.certificate import make_certificate
from examples.kv.contract import TOKEN_VARIABLE
from examples.kv.kv_pb2 import GetRequest, ListRequest, PutRequest
from examples.kv.kv_trioplugin import KV_SERVICE, KVServiceClient
from examples.kv.load import CALLERS, CALLS_PER_CALLER, Callers
from trioplugin import (
    ActorEvent,
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    ClientOptions,
    RetryPolicy,
    open_plugin_nursery,
)
from trioplugin.auth import TokenAuth
from trioplugin.discovery import (
    EndpointEjected,
    EndpointReturned,
    ServiceHandle,
    ServiceOptions,
    StaticSource,
)
from trioplugin.plugin import watch_health

REPLICAS = 3
KILLED = 2
"""The replica killed mid-run (numbered from 1)."""
KILL_AFTER = CALLERS * CALLS_PER_CALLER // 4
"""Calls answered before the kill: a quarter of the load."""
BREAKER = CircuitBreakerConfig(failure_threshold=3, success_threshold=2, timeout=0.5)
RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.05)
"""The service's retries: each on another replica where there is one."""
STARTUP_TIMEOUT = 30.0
RUN_TIMEOUT = 60.0
SERVING = "serving at "
LINE_LIMIT = 4096
STATUS_EVERY = 0.1
EVENTS_LEFT = 1000


@dataclass(frozen=True)
class Replica:
    """One replica process and where it serves."""

    number: int
    process: trio.Process
    url: str

    @property
    def name(self) -> str:
        return f"replica {self.number}"

    def outcome(self) -> str:
        """How it ended (once it has)."""
        code = self.process.returncode
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"


async def run_replicas(account: Account) -> bool:
    """The run of ``--replicas``; whether every call was answered and nothing is left running."""
    with tempfile.TemporaryDirectory(prefix="trioplugin-kv-") as scratch:
        token = secrets.token_urlsafe(24)
        certificate = make_certificate(Path(scratch))
        data_file = Path(scratch) / "kv.json"
        started = trio.current_time()
        async with open_replicas(REPLICAS, certificate.path, data_file, token) as replicas:
            took = (trio.current_time() - started) * 1000
            account.say(
                f"started {len(replicas)} kv replicas in {took:.0f} ms, each a process of its own "
                "serving TLS on 127.0.0.1 with a bearer token, one data file shared:"
            )
            for replica in replicas:
                account.say(f"  {replica.name}: pid {replica.process.pid} at {replica.url}")
            names = {replica.url: replica.name for replica in replicas}
            async with open_plugin_nursery({"kv": KV_SERVICE}) as host:
                service = await host.connect_service(
                    "kv",
                    StaticSource([replica.url for replica in replicas]),
                    # The token on every attempt; a breaker per replica. No retry interceptor:
                    # the service retries, on another replica.
                    interceptors=[
                        TokenAuth(token=token).client_interceptor(),
                        CircuitBreakerInterceptor(BREAKER),
                    ],
                    options=ClientOptions(ssl_context=certificate.client_context()),
                    service=ServiceOptions(retry=RETRY, health=watch_health),
                )
                account.say(
                    f"connected the service kv: {service.statistics().in_rotation} endpoints "
                    "in rotation, one handle"
                )
                kv = service.dispense("kv", KVServiceClient)
                await show_agreement(service, kv, names, account)
                callers, narration = await ride_out_a_kill(service, kv, replicas, names, account)
                survivors = [replica for replica in replicas if replica.number != KILLED]
                agreed = await check_survivors(service, callers, survivors, account)
        gone = [replica.process.returncode is not None for replica in replicas]  # and reaped
        for replica in replicas:
            account.say(f"  {replica.name} (pid {replica.process.pid}): {replica.outcome()}")
        account.say(
            "stopped the replicas: no process left"
            if all(gone)
            else "some replica is still running!"
        )
        return all(gone) and agreed and callers.lost == 0 and narration.ejections > 0


@asynccontextmanager
async def open_replicas(
    count: int, certificate: Path, data_file: Path, token: str
) -> AsyncIterator[list[Replica]]:
    """``count`` replica processes, each serving once the block starts; leaving stops them."""
    command = [
        *(sys.executable, "-m", "examples.kv.replica"),
        *("--certificate", str(certificate), "--data", str(data_file)),
    ]
    env = {**os.environ, TOKEN_VARIABLE: token}  # not on the command line, which ps shows
    started: dict[int, Replica] = {}
    async with trio.open_nursery() as processes:
        try:
            with trio.fail_after(STARTUP_TIMEOUT):
                async with trio.open_nursery() as starting:  # side by side: Python starts slowly
                    for number in range(1, count + 1):
                        starting.start_soon(_start, processes, number, command, env, started)
            yield [started[number] for number in sorted(started)]
        finally:
            processes.cancel_scope.cancel()  # run_process stops each: SIGTERM, SIGKILL after 5 s


async def _start(
    processes: trio.Nursery,
    number: int,
    command: list[str],
    env: Mapping[str, str],
    started: dict[int, Replica],
) -> None:
    # stdin a pipe the host holds: if the host dies, the replica reads end of file and stops.
    run = functools.partial(
        trio.run_process,
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,  # its stderr is the host's
        env=env,
        check=False,
    )
    process: trio.Process = await processes.start(run)
    assert process.stdout is not None
    line = await _first_line(process.stdout)
    await process.stdout.aclose()  # it prints nothing more
    if not line.startswith(SERVING):
        raise RuntimeError(f"kv replica {number} did not start: it said {line!r}")
    started[number] = Replica(number, process, line.removeprefix(SERVING))


async def _first_line(stream: trio.abc.ReceiveStream) -> str:
    data = b""
    while b"\n" not in data and len(data) < LINE_LIMIT:  # and bounded by the caller's deadline
        chunk = await stream.receive_some(LINE_LIMIT)
        if not chunk:
            break
        data += chunk
    return data.partition(b"\n")[0].decode(errors="replace")


async def show_agreement(
    service: ServiceHandle, kv: KVServiceClient, names: Mapping[str, str], account: Account
) -> None:
    """A put through the service, then the same key read from each replica on its own."""
    before = _calls(service)
    reply = await kv.Put(PutRequest(key="user/ada", value="Lovelace"))
    after = _calls(service)
    answered_by = [names[url] for url in after if after[url] > before.get(url, 0)]
    account.say(
        f"put user/ada -> v{reply.version} through the service, answered by "
        + " and ".join(answered_by)
    )
    read = []
    for url, name in names.items():
        client = service.endpoints[url].dispense("kv", KVServiceClient)
        got = await client.Get(GetRequest(key="user/ada"))
        read.append(f"{name} {got.value!r}")
    account.say(f"get user/ada from each replica on its own: {', '.join(read)}")


async def ride_out_a_kill(
    service: ServiceHandle,
    kv: KVServiceClient,
    replicas: list[Replica],
    names: Mapping[str, str],
    account: Account,
) -> tuple[Callers, Narration]:
    """Kill a replica under load; return once the load is done, every call counted."""
    callers = Callers()
    narration = Narration(names, account)
    victim = replicas[KILLED - 1]
    account.say(f"load: {CALLERS} callers, {CALLS_PER_CALLER} puts each, through the service")
    with trio.fail_after(RUN_TIMEOUT):
        async with service.events() as events:
            async with trio.open_nursery() as watching:
                watching.start_soon(narration.run, events)
                watching.start_soon(show_status, service, callers, account)
                async with trio.open_nursery() as load:
                    load.start_soon(callers.run, kv)
                    await callers.until_answered(KILL_AFTER)
                    at_kill = _calls(service)
                    account.say(
                        f"killing {victim.name} mid-run (SIGKILL to pid {victim.process.pid}), "
                        f"{callers.answered} calls answered, {callers.in_flight} in flight"
                    )
                    victim.process.kill()
                watching.cancel_scope.cancel()
            service.statistics()  # a circuit half-open by now is noticed when looked at
            narration.finish(events)
    account.end_status()
    end = _calls(service)
    stats = service.statistics()
    account.say(
        f"the load: {callers.made} calls made, {callers.answered} answered, {callers.lost} lost; "
        f"{stats.retries} retried on another replica, {stats.failovers} sent on at once past an "
        f"open circuit, {stats.ejections} ejections"
    )
    if callers.first_failure is not None:
        account.say(f"the first call that failed: {callers.first_failure!r}")
    account.say("calls each replica was sent (attempts included), before the kill + after it:")
    for replica in replicas:
        url = replica.url
        note = " (none answered: each went on to another replica)" if replica is victim else ""
        account.say(
            f"  {replica.name}: {at_kill.get(url, 0)} + {end.get(url, 0) - at_kill.get(url, 0)}"
            + note
        )
    return callers, narration


class Narration:
    """Tells the service's events: a replica ejected from the rotation, and back in it.

    The first ejection and the first round of a probe are told as they
    come; the later rounds are counted, and told in one line at the end.
    """

    def __init__(self, names: Mapping[str, str], account: Account) -> None:
        self._names = names
        self._account = account
        self.ejections = 0
        self._returns = 0

    def tell(self, event: ActorEvent) -> None:
        """Say what ``event`` means, if it is an ejection or a return."""
        if isinstance(event, EndpointEjected):
            self.ejections += 1
            name = self._names.get(event.url, event.url)
            if self.ejections == 1:
                self._account.say(
                    f"  {name} ejected: {event.reason}; the other replicas take its calls"
                )
            elif self.ejections == 2:
                self._account.say(f"  {name} ejected again: {event.reason}, the probe failed")
        elif isinstance(event, EndpointReturned):
            self._returns += 1
            if self._returns == 1:
                name = self._names.get(event.url, event.url)
                self._account.say(
                    f"  {name} back in rotation: its circuit half-opened, for a probe"
                )

    async def run(self, events: trio.MemoryReceiveChannel[ActorEvent]) -> None:
        """Tell the events as they come, until cancelled."""
        async for event in events:
            self.tell(event)

    def finish(self, events: trio.MemoryReceiveChannel[ActorEvent]) -> None:
        """Tell the events that came and were not told yet, and sum up the later rounds."""
        for _ in range(EVENTS_LEFT):
            try:
                self.tell(events.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        if self._returns > 1:
            self._account.say(
                f"  and so on: back for a probe {self._returns} times in all while the load ran, "
                f"ejected {self.ejections} times"
            )


async def check_survivors(
    service: ServiceHandle, callers: Callers, survivors: list[Replica], account: Account
) -> bool:
    """Read every key the load wrote from each replica still up, on its own; whether all agree."""
    reads = wrong = version = 0
    for replica in survivors:
        client = service.endpoints[replica.url].dispense("kv", KVServiceClient)
        for key, value in sorted(callers.written.items()):
            got = await client.Get(GetRequest(key=key))
            reads += 1
            wrong += got.value != value
        version = (await client.List(ListRequest(prefix="load/"))).version
    account.say(
        f"the survivors agree: {' and '.join(replica.name for replica in survivors)} read back "
        f"the {len(callers.written)} keys the load wrote, {reads - wrong} of {reads} reads as last "
        f"answered (the store at v{version}, every replica's writes counted)"
    )
    return wrong == 0


async def show_status(service: ServiceHandle, callers: Callers, account: Account) -> None:
    """Redraw the live status line ten times a second (on a terminal), for the run at most."""
    for _ in range(int(RUN_TIMEOUT / STATUS_EVERY)):  # ends: cancelled with the load
        stats = service.statistics()
        account.show(f"in rotation {stats.in_rotation}/{len(stats.endpoints)} · {callers.status()}")
        await trio.sleep(STATUS_EVERY)


def _calls(service: ServiceHandle) -> dict[str, int]:
    return {endpoint.url: endpoint.calls for endpoint in service.statistics().endpoints}
