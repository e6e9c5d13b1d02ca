"""A plugin-side interceptor that makes the key-value plugin fail on purpose, for the demo."""

from __future__ import annotations

from typing import Any

from trioplugin import Call, CallNext, Code, ConnectError


class Outage:
    """Fails calls with ``unavailable``: the next ``blips`` ones, or every one while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.blips = 0
        self.refused = 0
        """Calls that reached the plugin and were failed."""

    async def intercept(self, call: Call[Any, Any], call_next: CallNext) -> None:
        if self.down or self.blips:
            self.blips = max(0, self.blips - 1)
            self.refused += 1
            raise ConnectError(Code.UNAVAILABLE, "the kv plugin is restarting")
        await call_next(call)
