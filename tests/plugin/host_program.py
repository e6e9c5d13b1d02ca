"""A host for the orphan test: launches the echo plugin, prints its pid, and waits to be killed."""

from __future__ import annotations

import trio

from tests.echo_service import ECHO
from tests.plugin.conftest import ECHO_PLUGIN, launch_options
from trioplugin import open_plugin_nursery


async def main() -> None:
    async with open_plugin_nursery([ECHO]) as host:
        await host.launch("echo", ECHO_PLUGIN, launch=launch_options())
        [pid] = [plugin.current.pid for plugin in host._processes.values() if plugin.current]
        print(pid, flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
