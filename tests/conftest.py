"""Shared test set-up: pytest-trio in trio mode, and readable failures from exception groups."""

from __future__ import annotations

from collections.abc import Generator

import pytest
import trio

from tests.echo_service import ECHO
from tests.flaky_service import FlakyEcho
from trioplugin.rpc import ConnectApp
from trioplugin.transport import Server, serve


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Re-raise the single leaf of a one-leaf exception group.

    trio wraps every error that leaves a nursery in an ExceptionGroup, so a
    failing assertion inside one would otherwise show as a bare group
    traceback instead of pytest's assertion report.
    """
    try:
        return (yield)
    except BaseExceptionGroup as group:
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        if leaf is group:
            raise
        raise leaf from group


@pytest.fixture
def flaky() -> FlakyEcho:
    """An EchoService that fails on command (see tests/flaky_service.py)."""
    return FlakyEcho()


@pytest.fixture
async def flaky_server(nursery: trio.Nursery, flaky: FlakyEcho) -> Server:
    """A real server on 127.0.0.1 serving ``flaky``."""
    server: Server = await nursery.start(serve, ConnectApp({ECHO: flaky}))
    return server


@pytest.fixture
async def refused_url() -> str:
    """The URL of a loopback port that was bound and closed: connections to it are refused."""
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
