"""The code the docs show is the code that runs: extracted from the Markdown and tested."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho, fail
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import InterceptorFunction, open_client
from trioplugin.transport import Server

GUIDE = Path(__file__).parents[2] / "docs" / "guides" / "interceptors.md"


def documented(name: str) -> Any:
    """Run the Python block marked ``<!-- tested: name -->`` in the guide; return ``name``."""
    text = GUIDE.read_text()
    match = re.search(rf"<!-- tested: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match is not None, f"no block marked {name} in {GUIDE}"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(GUIDE), "exec"), namespace)
    return namespace[name]


@pytest.fixture
def retry_three_times() -> InterceptorFunction:
    function: InterceptorFunction = documented("retry_three_times")
    return function


async def test_the_guides_retry_retries_unary_calls_on_schedule(
    flaky_server: Server,
    flaky: FlakyEcho,
    retry_three_times: InterceptorFunction,
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky.script(fail(), fail(Code.RESOURCE_EXHAUSTED))
    async with open_client(flaky_server.url, interceptors=[retry_three_times]) as client:
        t0 = trio.current_time()
        reply = await client.stub(ECHO).Echo(EchoRequest())
    assert reply.index == 3
    assert [round(t - t0, 9) for t in flaky.times] == [0.0, 0.1, 0.3]


async def test_the_guides_retry_gives_up_as_it_says(
    flaky_server: Server,
    flaky: FlakyEcho,
    retry_three_times: InterceptorFunction,
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky.fail_always(count=3)
    async with open_client(flaky_server.url, interceptors=[retry_three_times]) as client:
        with pytest.raises(ConnectError):
            await client.stub(ECHO).Echo(EchoRequest())
        assert flaky.attempts == [1, 2, 3]
        flaky.seen.clear()
        flaky.script(fail(Code.NOT_FOUND))
        with pytest.raises(ConnectError):
            await client.stub(ECHO).Echo(EchoRequest())
        assert flaky.attempts == [1]


async def test_the_guides_retry_retries_a_stream_only_before_its_first_message(
    flaky_server: Server,
    flaky: FlakyEcho,
    retry_three_times: InterceptorFunction,
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky.script(fail(messages=0), fail(messages=1))
    async with open_client(flaky_server.url, interceptors=[retry_three_times]) as client:
        got = []
        with pytest.raises(ConnectError):
            async with client.stub(ECHO).ServerStream(EchoRequest(repeat=3)) as stream:
                async for response in stream:
                    got.append(response.index)
    assert got == [0]
    assert flaky.attempts == [1, 2]
