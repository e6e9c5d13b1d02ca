from __future__ import annotations

import pytest
import trio

from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho
from trioplugin.rpc import ConnectApp
from trioplugin.transport import Server, serve


@pytest.fixture
def flaky() -> FlakyEcho:
    return FlakyEcho()


@pytest.fixture
async def flaky_server(nursery: trio.Nursery, flaky: FlakyEcho) -> Server:
    server: Server = await nursery.start(serve, ConnectApp({ECHO: flaky}))
    return server


class Fixed:
    """A random source that always returns the same value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value
