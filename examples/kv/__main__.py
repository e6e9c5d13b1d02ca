"""The example plugin host: serves the key-value plugin, then calls it through an actor.

Run it with ``python -m examples.kv``. (For now the plugin is served in the
same process; launching it as a separate process is the plugin layer's job.)
"""

from __future__ import annotations

import trio

from examples.kv.kv_pb2 import GetRequest, PutRequest, WatchRequest
from examples.kv.kv_trioplugin import KV_SERVICE, KVServiceClient
from examples.kv.store import KVStore
from trioplugin import ConnectError
from trioplugin.actor import open_plugin_nursery
from trioplugin.rpc import open_connect_server


async def main() -> None:
    async with open_connect_server({KV_SERVICE: KVStore()}) as plugin:
        print(f"kv plugin serving at {plugin.url}")
        async with open_plugin_nursery({"kv": KV_SERVICE}) as host:
            handle = await host.connect("kv", plugin.url)
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

            stats = handle.statistics()
            print(
                f"plugin {stats.plugin!r}: {stats.completed} calls answered, "
                f"{stats.failed} failed, {stats.in_flight} in flight"
            )


async def write(kv: KVServiceClient) -> None:
    for key, value in [("user/ada", "Lovelace"), ("config/x", "1"), ("user/alan", "Turing")]:
        reply = await kv.Put(PutRequest(key=key, value=value))
        print(f"put {key} -> v{reply.version}")


if __name__ == "__main__":
    trio.run(main)
