"""The example plugin host: serves the key-value plugin, then calls it through an actor.

Run it with ``python -m examples.kv``. (For now the plugin is served in the
same process; launching it as a separate process is the plugin layer's job.)
The last part makes the plugin fail on purpose, to show the retry
interceptor absorbing short blips and the circuit breaker failing fast
through an outage, then closing again once the plugin is back.
"""

from __future__ import annotations

import trio

from examples.kv.faults import Outage
from examples.kv.kv_pb2 import GetRequest, PutRequest, WatchRequest
from examples.kv.kv_trioplugin import KV_SERVICE, KVServiceClient
from examples.kv.store import KVStore
from trioplugin import (
    ActorEvent,
    CircuitBreakerConfig,
    CircuitBreakerInterceptor,
    CircuitOpenError,
    CircuitStateChanged,
    ConnectError,
    PluginHandle,
    RetryInterceptor,
    RetryPolicy,
    RetryScheduled,
    open_plugin_nursery,
)
from trioplugin.rpc import open_connect_server

BREAKER = CircuitBreakerConfig(failure_threshold=3, success_threshold=2, timeout=0.5)
RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.05)


async def main() -> None:
    outage = Outage()
    async with open_connect_server({KV_SERVICE: KVStore()}, interceptors=[outage]) as plugin:
        print(f"kv plugin serving at {plugin.url}")
        async with open_plugin_nursery({"kv": KV_SERVICE}) as host:
            # The reference order: the breaker outside the retry counts whole calls.
            handle = await host.connect(
                "kv",
                plugin.url,
                interceptors=[CircuitBreakerInterceptor(BREAKER), RetryInterceptor(RETRY)],
            )
            kv = handle.dispense("kv", KVServiceClient)

            async with (
                trio.open_nursery() as nursery,
                kv.Watch(WatchRequest(prefix="user/")) as events,
            ):
                synced = await events.receive()
                print(f"watching user/ from version {synced.version}")
                nursery.start_soon(write, kv)
                for _ in range(2):
                    event = await events.receive()
                    print(f"  changed: {event.key} = {event.value!r} (v{event.version})")

            with trio.fail_after(2):  # the deadline travels as Connect-Timeout-Ms
                reply = await kv.Get(GetRequest(key="user/ada"))
            print(f"get user/ada -> {reply.value!r} (found={reply.found})")
            reply = await kv.Get(GetRequest(key="user/nobody"))
            print(f"get user/nobody -> found={reply.found}")

            try:
                await kv.Put(PutRequest(key="", value="oops"))
            except ConnectError as error:
                print(f"put with an empty key -> {error.code.value}: {error.message}")

            async with handle.events() as events:
                await survive_failures(kv, outage, events)

            print_statistics(handle)


async def survive_failures(
    kv: KVServiceClient, outage: Outage, events: trio.MemoryReceiveChannel[ActorEvent]
) -> None:
    print("a blip: the plugin fails the next two calls")
    outage.blips = 2
    reply = await kv.Get(GetRequest(key="user/ada"))
    report(events)
    print(f"get user/ada -> {reply.value!r}, after two retries")

    print("an outage: every call fails")
    outage.down = True
    for _ in range(3):
        try:
            await kv.Get(GetRequest(key="user/ada"))
        except ConnectError as error:
            report(events)
            print(f"get -> {error.code.value} after {RETRY.max_attempts} attempts")
    reached = outage.refused
    try:
        await kv.Get(GetRequest(key="user/ada"))
    except CircuitOpenError as error:
        untouched = outage.refused == reached
        print(f"get -> {error.message} (plugin untouched: {untouched})")

    print("the plugin is back; after the breaker's timeout, probes close the circuit")
    outage.down = False
    await trio.sleep(BREAKER.timeout)
    for _ in range(BREAKER.success_threshold):
        reply = await kv.Get(GetRequest(key="user/ada"))
    report(events)
    print(f"get user/ada -> {reply.value!r}")


def report(events: trio.MemoryReceiveChannel[ActorEvent]) -> None:
    """Print the retries and circuit transitions the handle announced since last time."""
    while True:
        try:
            event = events.receive_nowait()
        except trio.WouldBlock:
            return
        if isinstance(event, RetryScheduled):
            print(f"  retry: attempt {event.attempt} in {event.delay * 1000:.0f} ms")
        elif isinstance(event, CircuitStateChanged):
            print(f"  circuit: {event.old.value} -> {event.new.value}")


def print_statistics(handle: PluginHandle) -> None:
    stats = handle.statistics()
    print(
        f"plugin {stats.plugin!r}: {stats.completed} calls answered, "
        f"{stats.failed} failed, {stats.retried} retries, circuit {stats.circuit_state}"
    )


async def write(kv: KVServiceClient) -> None:
    for key, value in [("user/ada", "Lovelace"), ("config/x", "1"), ("user/alan", "Turing")]:
        reply = await kv.Put(PutRequest(key=key, value=value))
        print(f"put {key} -> v{reply.version}")


if __name__ == "__main__":
    trio.run(main)
