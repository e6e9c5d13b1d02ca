"""The example plugin host: serves the key-value plugin and calls it.

Run it with ``python -m examples.kv``. (For now the plugin is served in the
same process; launching it as a separate process is the plugin layer's job.)
"""

from __future__ import annotations

import trio

from examples.kv.kv_pb2 import GetRequest, PutRequest, WatchRequest
from examples.kv.store import KV, KVStore
from trioplugin import ConnectError
from trioplugin.rpc import Stub, open_client, open_connect_server


async def main() -> None:
    async with open_connect_server({KV: KVStore()}) as server:
        print(f"kv plugin serving at {server.url}")
        async with open_client(server.url) as client:
            kv = client.stub(KV)
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


async def write(kv: Stub) -> None:
    for key, value in [("user/ada", "Lovelace"), ("config/x", "1"), ("user/alan", "Turing")]:
        reply = await kv.Put(PutRequest(key=key, value=value))
        print(f"put {key} -> v{reply.version}")


if __name__ == "__main__":
    trio.run(main)
