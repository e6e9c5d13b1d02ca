"""The README's first command: the example host launches its plugin, kills it, and recovers.

And its store, whose data file several processes may share; and ``--replicas``, three
replicas of it behind one service handle, one of them killed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import cast

import trio

from examples.kv.kv_pb2 import GetRequest, ListRequest, PutRequest
from examples.kv.store import KVStore
from trioplugin.rpc import HandlerContext

ROOT = Path(__file__).parents[1]


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def run_module(module: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m module args...`` from the repository's root, output captured."""
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_the_example_host_rides_out_its_plugins_crash_and_leaves_nothing_running() -> None:
    done = await run_module("examples.kv")
    output = done.stdout.decode()
    assert done.returncode == 0, output + done.stderr.decode()
    lines = output.splitlines()
    launched = re.match(r"launched the kv plugin: pid (\d+), serving at https://127", lines[0])
    assert launched, lines[0]
    assert "put user/ada -> v1 (the plugin saw 'kv-host' call)" in lines  # the token's identity
    assert "  watch: user/alan deleted (v4)" in lines
    assert "list user/ -> user/ada=Lovelace (v4)" in lines
    assert "put with an empty key -> invalid_argument: key must not be empty" in lines
    order = [
        next(i for i, line in enumerate(lines) if line.startswith(start))
        for start in (
            "killing the plugin mid-run (SIGKILL to pid",
            "  plugin exited: killed by SIGKILL; the supervisor restarts it",
            "  circuit: closed -> open",
            "  plugin restarted: pid",
            "the calls recovered:",
        )
    ]
    assert order == sorted(order), lines
    restarted = next(line for line in lines if line.startswith("  plugin restarted: pid"))
    circuit = [line for line in lines if line.startswith("  circuit: ")]
    assert circuit[-1].startswith("  circuit: half_open -> closed"), circuit
    assert "get user/ada -> 'Lovelace': the data outlived the process" in lines
    assert "  plugin log: info stopping: the host is stopping" in lines  # its logs, levels kept
    assert lines[-1] == "stopped the plugin: no process left"
    first_pid = int(launched.group(1))
    second_pid = int(restarted.split()[3].rstrip(","))
    assert first_pid != second_pid
    assert not running(first_pid) and not running(second_pid)
    assert "\x1b[" not in output  # no live status line off a terminal


async def test_observed_the_host_shows_its_metrics_and_one_trace_across_both_processes() -> None:
    done = await run_module("examples.kv", "--observe")
    output = done.stdout.decode()
    assert done.returncode == 0, output + done.stderr.decode()
    lines = output.splitlines()
    assert re.match(r"observing: metrics at http://127\.0\.0\.1:\d+/metrics, traces kept", lines[0])
    joined = next(
        re.search(r"joined trace ([0-9a-f]{32}), under the host's span ([0-9a-f]{16})", line)
        for line in lines
        if "plugin log: info /demo.kv.v1.KVService/Watch joined trace" in line
    )
    assert joined is not None
    trace_id, parent = joined.groups()
    host_side = lines.index(f"  the host's side of trace {trace_id}:")
    attempt = lines[host_side + 2]  # the call's span, then its attempt: the plugin's parent
    assert attempt.startswith(f"    demo.kv.v1.KVService/Watch attempt 1: span {parent} under ")
    [opened] = [
        line for line in lines if line.startswith("  trioplugin_endpoint_circuit_opened_total ")
    ]
    narrated = [line for line in lines if re.match(r"  circuit: \w+ -> open ", line)]
    assert float(opened.split()[-1]) == len(narrated) >= 1  # the metrics agree with the events
    assert '  trioplugin_endpoint_circuit_state{state="closed"} 1' in lines
    failed = [
        line for line in lines if 'code="unavailable",method="demo.kv.v1.KVService/Put"' in line
    ]
    assert failed and int(failed[0].split()[-1]) > 0  # the calls the crash failed, counted
    assert lines[-1] == "stopped the plugin: no process left"


async def test_stores_sharing_a_data_file_agree_on_every_write(tmp_path: Path) -> None:
    ctx = cast(HandlerContext, None)  # the store's handlers do not look at it
    path = tmp_path / "kv.json"
    one, two = KVStore(path), KVStore(path)  # as two replicas would, in one process here
    assert (await one.Put(PutRequest(key="a", value="1"), ctx)).version == 1
    assert (await two.Get(GetRequest(key="a"), ctx)).value == "1"
    assert (await two.Put(PutRequest(key="a", value="2"), ctx)).version == 2
    assert (await one.Get(GetRequest(key="a"), ctx)).value == "2"
    async with trio.open_nursery() as nursery:  # side by side: the lock keeps every write
        for n in range(40):
            nursery.start_soon(
                (one if n % 2 else two).Put, PutRequest(key=f"k/{n}", value=str(n)), ctx
            )
    listed = await one.List(ListRequest(prefix="k/"), ctx)
    assert len(listed.entries) == 40
    assert listed.version == 42
    assert (await KVStore(path).Get(GetRequest(key="k/7"), ctx)).value == "7"  # a late joiner


async def test_three_replicas_behind_one_handle_ride_out_the_kill_of_one_losing_no_call() -> None:
    done = await run_module("examples.kv", "--replicas")
    output = done.stdout.decode()
    assert done.returncode == 0, output + done.stderr.decode()
    lines = output.splitlines()
    assert lines[0].startswith("started 3 kv replicas in ")
    pids = {}
    for line in lines[1:4]:
        started = re.fullmatch(r"  replica (\d): pid (\d+) at https://127\.0\.0\.1:\d+", line)
        assert started, line
        pids[int(started.group(1))] = int(started.group(2))
    assert sorted(pids) == [1, 2, 3]
    assert "connected the service kv: 3 endpoints in rotation, one handle" in lines
    # A put answered by one replica reads back from each of them: they share their data.
    assert re.match(r"put user/ada -> v1 through the service, answered by replica \d$", lines[5])
    assert lines[6] == (
        "get user/ada from each replica on its own: "
        "replica 1 'Lovelace', replica 2 'Lovelace', replica 3 'Lovelace'"
    )
    order = [
        next(i for i, line in enumerate(lines) if line.startswith(start))
        for start in (
            f"killing replica 2 mid-run (SIGKILL to pid {pids[2]}), ",
            "  replica 2 ejected: circuit open; the other replicas take its calls",
            "the load: ",
        )
    ]
    assert order == sorted(order), lines
    at_kill = re.search(r"\), (\d+) calls answered, (\d+) in flight$", lines[order[0]])
    assert at_kill, lines[order[0]]
    later = 600 - int(at_kill.group(1)) - int(at_kill.group(2))  # the calls made after the kill
    load = next(line for line in lines if line.startswith("the load: "))
    counted = re.match(r"the load: (\d+) calls made, (\d+) answered, 0 lost; ", load)
    assert counted, load
    assert counted.group(1) == counted.group(2) == "600"
    assert not any(line.startswith("the first call that failed") for line in lines)
    sent = {
        int(match.group(1)): (int(match.group(2)), int(match.group(3)))
        for match in (re.match(r"  replica (\d): (\d+) \+ (\d+)", line) for line in lines)
        if match
    }
    # Before the kill each replica had its share; after it, the two survivors took the load.
    assert all(before > 0 for before, _ in sent.values()), sent
    assert sent[1][1] + sent[3][1] >= later, sent  # each answered by one of them
    assert sent[2][1] < min(sent[1][1], sent[3][1]) / 4, sent  # its probes, a few refused calls
    agreed = next(line for line in lines if line.startswith("the survivors agree: "))
    assert "replica 1 and replica 3 read back the 20 keys the load wrote, 40 of 40 reads" in agreed
    assert f"  replica 2 (pid {pids[2]}): killed by SIGKILL" in lines
    for survivor in (1, 3):  # stopped by the host on its way out, gracefully
        assert f"  replica {survivor} (pid {pids[survivor]}): exited with status 0" in lines
    assert lines[-1] == "stopped the replicas: no process left"
    assert not any(running(pid) for pid in pids.values())
    assert "\x1b[" not in output


async def test_the_example_plugin_run_by_hand_says_it_wants_its_host() -> None:
    done = await run_module("examples.kv.plugin")
    assert done.returncode == 1
    assert done.stdout == b""  # no handshake line for a person to read
    assert "is a plugin: it is not meant to be run directly" in done.stderr.decode()
