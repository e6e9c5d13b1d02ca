"""The example plugin host: launches the key-value plugin and rides out its crash.

Run it with ``python -m examples.kv`` (or the README's ``scripts/example``).
The host launches ``python -m examples.kv.plugin`` as a process of its own
(handshake, automatic mTLS, a bearer token), uses it through a handle with
a circuit breaker and retries, then kills it mid-run: the breaker opens and
calls fail fast, the supervisor restarts the plugin, the breaker's probes
find it back, and the calls recover, with the data kept. Leaving the
nursery stops the plugin; nothing is left running.

With ``--replicas`` it runs three replicas of the store instead, as
services of their own behind one service handle, and kills one of them
(``examples/kv/replicas.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

import trio

from examples.kv.account import Account, AccountLogHandler
from examples.kv.contract import (
    DATA_FILE_VARIABLE,
    KV_PLUGINS,
    OBSERVE_VARIABLE,
    TOKEN_VARIABLE,
)
from examples.kv.kv_pb2 import DeleteRequest, GetRequest, ListRequest, PutRequest, WatchRequest
from examples.kv.kv_trioplugin import KV_SERVICE, KVServiceClient
from examples.kv.load import Load
from trioplugin import (
    ActorEvent,
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitState,
    CircuitStateChanged,
    ConnectError,
    LaunchOptions,
    PluginExited,
    PluginHandle,
    PluginNursery,
    PluginRestarted,
    RetryInterceptor,
    RetryPolicy,
    open_plugin_nursery,
)
from trioplugin.auth import TokenAuth
from trioplugin.rpc import InterceptorLike

PLUGIN = [sys.executable, "-m", "examples.kv.plugin"]
BREAKER = CircuitBreakerConfig(failure_threshold=3, success_threshold=2, timeout=0.5)
RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.05)
CALLS_BEFORE_THE_CRASH = 50
CALLS_AFTER_RECOVERY = 50


async def main(observe: bool = False) -> None:
    account = Account()
    show_plugin_logs(account)
    with tempfile.TemporaryDirectory(prefix="trioplugin-kv-") as scratch:
        data_file = Path(scratch) / "kv.json"
        token = secrets.token_urlsafe(24)  # one per run: only this host can call its plugin
        env = {TOKEN_VARIABLE: token, DATA_FILE_VARIABLE: str(data_file)}
        launch = LaunchOptions(
            config=KV_PLUGINS,
            env=env | ({OBSERVE_VARIABLE: "1"} if observe else {}),
            restart="permanent",
            restart_backoff=1.0,
        )
        # Outermost first: the token on every attempt, the breaker counting whole calls.
        chain: list[InterceptorLike] = [
            TokenAuth(token=token).client_interceptor(),
            CircuitBreakerInterceptor(BREAKER),
            RetryInterceptor(RETRY),
        ]
        async with AsyncExitStack() as stack:
            observation = None
            if observe:
                from examples.kv.observe import open_observation  # OpenTelemetry only when asked

                observation = await stack.enter_async_context(open_observation())
                chain = observation.around(chain)
                account.say(f"observing: metrics at {observation.metrics_url}, traces kept")
            host = await stack.enter_async_context(
                open_plugin_nursery({"kv": KV_SERVICE}, launch=launch)
            )
            started = trio.current_time()
            handle = await host.launch("kv", PLUGIN, interceptors=chain)
            account.say(
                f"launched the kv plugin: pid {host.pid('kv')}, serving at {handle.url} "
                f"over mTLS, in {(trio.current_time() - started) * 1000:.0f} ms"
            )
            kv = handle.dispense("kv", KVServiceClient)
            await use_the_store(kv, account)
            load = await ride_out_a_crash(host, handle, kv, account)
            reply = await kv.Get(GetRequest(key="user/ada"))
            account.say(f"get user/ada -> {reply.value!r}: the data outlived the process")
            if observation is not None:
                await observation.report(account)
            last_pid = host.pid("kv")
            stats = handle.statistics()
        account.say(
            f"account: {load.answered} calls answered under load, {load.failed} failed after "
            f"{RETRY.max_attempts} attempts, {load.failed_fast} failed fast on the open circuit; "
            f"{stats.retried} retries in all"
        )
        gone = last_pid is None or not _running(last_pid)
        account.say(
            "stopped the plugin: no process left" if gone else f"pid {last_pid} is still running!"
        )
        if not gone:
            raise SystemExit(1)


async def use_the_store(kv: KVServiceClient, account: Account) -> None:
    """Put, get, list, delete, watch, and one bad request."""
    async with trio.open_nursery() as nursery, kv.Watch(WatchRequest(prefix="user/")) as events:
        synced = await events.receive()
        account.say(f"watching user/ from version {synced.version}")
        nursery.start_soon(write, kv, account)
        for _ in range(3):
            event = await events.receive()
            change = "deleted" if event.deleted else f"= {event.value!r}"
            account.say(f"  watch: {event.key} {change} (v{event.version})")
    listed = await kv.List(ListRequest(prefix="user/"))
    entries = ", ".join(f"{entry.key}={entry.value}" for entry in listed.entries)
    account.say(f"list user/ -> {entries} (v{listed.version})")
    with trio.fail_after(2):  # the deadline travels to the plugin as Connect-Timeout-Ms
        reply = await kv.Get(GetRequest(key="user/nobody"))
    account.say(f"get user/nobody -> found={reply.found}")
    try:
        await kv.Put(PutRequest(key="", value="oops"))
    except ConnectError as error:
        account.say(f"put with an empty key -> {error.code.value}: {error.message}")


async def write(kv: KVServiceClient, account: Account) -> None:
    for key, value in [("user/ada", "Lovelace"), ("config/x", "1"), ("user/alan", "Turing")]:
        reply = await kv.Put(PutRequest(key=key, value=value))
        account.say(f"put {key} -> v{reply.version} (the plugin saw {reply.written_by!r} call)")
    deleted = await kv.Delete(DeleteRequest(key="user/alan"))
    account.say(f"delete user/alan -> found={deleted.found} (v{deleted.version})")


async def ride_out_a_crash(
    host: PluginNursery, handle: PluginHandle, kv: KVServiceClient, account: Account
) -> Load:
    """Kill the plugin under steady load; return once the calls have recovered."""
    load = Load()
    recovered = trio.Event()
    async with handle.events() as events, trio.open_nursery() as nursery:
        nursery.start_soon(load.run, kv)
        nursery.start_soon(show_status, host, handle, load, account)
        nursery.start_soon(narrate, events, account, recovered)
        await load.until_answered(CALLS_BEFORE_THE_CRASH)
        pid = host.pid("kv")
        assert pid is not None
        account.say(f"killing the plugin mid-run (SIGKILL to pid {pid})")
        os.kill(pid, signal.SIGKILL)
        with trio.fail_after(30):  # a bound for the demo: restart, probes, recovery
            await recovered.wait()
            await load.until_answered(CALLS_AFTER_RECOVERY)
        nursery.cancel_scope.cancel()
    account.end_status()
    if load.first_failure is not None:
        error = load.first_failure
        account.say(f"the first call that failed: {error.code.value}: {error.message}")
    account.say(f"the calls recovered: {load.status()}")
    return load


async def narrate(
    events: trio.MemoryReceiveChannel[ActorEvent], account: Account, recovered: trio.Event
) -> None:
    """Tell what the handle reports: the exit, the restart, the circuit's transitions."""
    restarted = False
    async for event in events:
        if isinstance(event, PluginExited):
            again = "the supervisor restarts it" if event.restarting else "it stays down"
            account.say(f"  plugin exited: {event.description}; {again}")
        elif isinstance(event, PluginRestarted):
            restarted = True
            account.say(f"  plugin restarted: pid {event.pid}, down for {event.downtime:.1f} s")
        elif isinstance(event, CircuitStateChanged):
            meaning = {
                CircuitState.OPEN: "calls fail fast, the plugin is left alone",
                CircuitState.HALF_OPEN: "a probe call may try the plugin",
                CircuitState.CLOSED: "calls flow again",
            }[event.new]
            account.say(f"  circuit: {event.old.value} -> {event.new.value} ({meaning})")
            if restarted and event.new is CircuitState.CLOSED:
                recovered.set()


async def show_status(
    host: PluginNursery, handle: PluginHandle, load: Load, account: Account
) -> None:
    """Redraw the live status line ten times a second (on a terminal)."""
    while True:  # ends: cancelled with the load
        pid = host.pid(handle.name)
        plugin = "plugin down" if pid is None else f"plugin pid {pid}"
        state = handle.statistics().circuit_state
        circuit = "no breaker" if state is None else f"circuit {state.value}"
        account.show(f"{plugin} · {circuit} · {load.status()}")
        await trio.sleep(0.1)


def show_plugin_logs(account: Account) -> None:
    """The plugin's own logs (forwarded from its stderr, levels kept) go into the account.

    The host's warnings about the plugin's exit and restart are left out:
    the account tells those from the handle's events.
    """
    plugin_logs = logging.getLogger("trioplugin.plugin.kv")
    plugin_logs.setLevel(logging.INFO)
    plugin_logs.addHandler(AccountLogHandler(account))
    plugin_logs.propagate = False
    logging.getLogger("trioplugin.plugin").setLevel(logging.ERROR)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.kv",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--observe",
        action="store_true",
        help="measure the calls for Prometheus and trace them with OpenTelemetry, and show both",
    )
    mode.add_argument(
        "--replicas",
        action="store_true",
        help="run three replicas of the store behind one service handle, and kill one mid-run",
    )
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _arguments()
    if arguments.replicas:
        from examples.kv.replicas import run_replicas

        if not trio.run(run_replicas, Account()):
            raise SystemExit(1)
    else:
        trio.run(main, arguments.observe)
