"""Nothing hangs, nothing leaks: the RPC client against servers that misbehave.

Every fault of tests/fault_servers.py, over both HTTP versions, for unary and
server-streaming calls, with and without a caller's deadline, all in virtual
time (MockClock jumps whenever every task waits):

- With a deadline, the call ends with the caller's own ``trio.TooSlowError``
  at the deadline (garbage fails faster, with ``unavailable``).
- Without one, the client's :class:`ClientLimits` bound the call on HTTP/2:
  no SETTINGS within ``connect_timeout``, or no PING ack within
  ``keepalive_interval + keepalive_timeout``, fails it with ``unavailable``.
- HTTP/1.1 has no pings: a server that takes the connection (or the
  request) and then stalls holds a call without a deadline for as long as it
  likes. Those cases check that the call is still waiting after a virtual
  hour: the documented reason calls over HTTP/1.1 need a deadline.

After each case no task is left anywhere in the run and no file descriptor
is left open.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Final, Literal

import pytest
import trio
import trio.lowlevel
import trio.testing
import trustme

from tests.echo_pb2 import EchoRequest
from tests.echo_service import ECHO
from tests.fault_servers import FAULTS, FaultServer, blackhole
from tests.tasks import live_tasks
from tests.tls import client_context
from trioplugin import ClientOptions
from trioplugin.protocol import Code, ConnectError
from trioplugin.rpc import Client, open_client
from trioplugin.transport import ClientLimits, HTTPVersion, UnprocessedError

LIMITS: Final = ClientLimits(connect_timeout=5, keepalive_interval=10, keepalive_timeout=5)
DEADLINE: Final = 3.0
"""The caller's deadline: shorter than every bound of LIMITS, so the caller's own wins."""
MARGIN: Final = 0.1
"""Virtual seconds a call may take beyond the bound that ends it."""
KEEPALIVE_MARGIN: Final = 0.5
"""The same for keepalive: when the ping goes out depends on when the last frame came."""
HTTP1_PATIENCE: Final = 3600.0
"""How long an HTTP/1.1 call without a deadline is watched before it is called "waiting"."""
GUARD: Final = 2 * HTTP1_PATIENCE
"""The test's own bound on each case, so that a client that does hang fails the test instead."""

CallKind = Literal["unary", "server_stream"]


# -- what is left behind ---------------------------------------------------------------------


def open_fds() -> set[str]:
    """This process's open file descriptors (the listing's own descriptor excluded)."""
    with os.scandir("/proc/self/fd") as entries:
        listed = {entry.name for entry in entries}
    # The directory being listed is itself open while it is listed; it is the
    # one entry that no longer resolves afterwards.
    return {fd for fd in listed if os.path.exists(f"/proc/self/fd/{fd}")}


@dataclass
class Leftovers:
    """What a block left behind: tasks and file descriptors that were not there before."""

    tasks: set[trio.lowlevel.Task]
    fds: set[str]


@asynccontextmanager
async def watch_leftovers() -> AsyncIterator[Leftovers]:
    """Record the tasks and fds before the block; fill in, after it, those it left."""
    tasks_before = live_tasks()
    fds_before = open_fds()
    leftovers = Leftovers(set(), set())
    yield leftovers
    leftovers.tasks = live_tasks() - tasks_before
    leftovers.fds = open_fds() - fds_before


def details(leftovers: Leftovers) -> str:
    """The leftovers, as a failure message."""
    names = sorted(task.name for task in leftovers.tasks)
    targets = {fd: _readlink(fd) for fd in sorted(leftovers.fds)}
    return f"tasks left: {names}; fds left: {targets}"


def _readlink(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


async def test_the_leftover_checks_see_a_task_and_a_socket() -> None:
    # The checks below are only worth something if they can fail.
    async with trio.open_nursery() as outside:
        async with watch_leftovers() as leftovers:
            sock = trio.socket.socket()
            outside.start_soon(trio.sleep_forever, name="left-behind")
            await trio.testing.wait_all_tasks_blocked()
        with sock:
            assert [task.name for task in leftovers.tasks] == ["left-behind"]
            assert len(leftovers.fds) == 1
            assert _readlink(next(iter(leftovers.fds))).startswith("socket:")
        outside.cancel_scope.cancel()


# -- one call, against one fault -----------------------------------------------------------


async def make_call(client: Client, kind: CallKind) -> None:
    """One call of ``kind``; it must not succeed against a fault server."""
    stub = client.stub(ECHO)
    if kind == "unary":
        reply = await stub.Echo(EchoRequest(text="anyone there?"))
        raise AssertionError(f"a fault server answered: {reply}")
    async with stub.ServerStream(EchoRequest(text="anyone there?", repeat=1)) as responses:
        response = await responses.receive()
        raise AssertionError(f"a fault server sent a response: {response}")


@dataclass
class Ended:
    """How a call ended, and after how many virtual seconds."""

    error: BaseException | None
    elapsed: float


async def call_against(
    fault: AbstractAsyncContextManager[FaultServer],
    http_version: HTTPVersion,
    kind: CallKind,
    *,
    deadline: float | None,
) -> tuple[Ended, FaultServer, Leftovers]:
    """Make one call to ``fault`` (with LIMITS); how it ended, the server, and what was left.

    Without a ``deadline`` the call is given up on after HTTP1_PATIENCE
    (``error`` None then): the HTTP/1.1 cases expect that, on HTTP/2 it
    turns a call the limits did not end into a failure rather than a hang.
    """
    with trio.fail_after(GUARD):
        return await _call_against(fault, http_version, kind, deadline=deadline)


async def _call_against(
    fault: AbstractAsyncContextManager[FaultServer],
    http_version: HTTPVersion,
    kind: CallKind,
    *,
    deadline: float | None,
) -> tuple[Ended, FaultServer, Leftovers]:
    async with watch_leftovers() as leftovers:
        async with (
            fault as server,
            open_client(
                server.url, ClientOptions(http_version=http_version, limits=LIMITS)
            ) as client,
        ):
            start = trio.current_time()
            error: BaseException | None = None
            try:
                if deadline is None:
                    with trio.move_on_after(HTTP1_PATIENCE):
                        await make_call(client, kind)
                else:
                    with trio.fail_after(deadline):
                        await make_call(client, kind)
            except (trio.TooSlowError, ConnectError) as exc:
                error = exc
            ended = Ended(error, trio.current_time() - start)
    return ended, server, leftovers


def check_server_saw_the_call(fault: str, server: FaultServer, http_version: str) -> None:
    """The fault server was reached, in the expected protocol (else the test proves nothing)."""
    assert server.connections >= 1
    if fault != "blackhole":
        assert server.protocols[:1] == [http_version]
    if fault in ("headers_then_stall", "trickle", "frozen"):
        assert server.requests == 1


FAULT_NAMES: Final = list(FAULTS)
STALLS: Final = ["blackhole", "headers_then_stall", "trickle", "frozen"]
"""The faults a server can keep a connection in for as long as it likes."""


@pytest.mark.parametrize("kind", ["unary", "server_stream"])
@pytest.mark.parametrize("http_version", ["1.1", "2"])
@pytest.mark.parametrize("fault", FAULT_NAMES)
async def test_with_a_deadline_the_call_ends_at_the_deadline(
    fault: str,
    http_version: HTTPVersion,
    kind: CallKind,
    autojump_clock: trio.testing.MockClock,
) -> None:
    ended, server, leftovers = await call_against(
        FAULTS[fault](), http_version, kind, deadline=DEADLINE
    )
    check_server_saw_the_call(fault, server, http_version)
    if fault == "garbage":
        assert isinstance(ended.error, ConnectError), ended
        assert ended.error.code is Code.UNAVAILABLE
        assert ended.elapsed <= MARGIN
    else:
        assert isinstance(ended.error, trio.TooSlowError), ended
        assert DEADLINE <= ended.elapsed <= DEADLINE + MARGIN
    assert not leftovers.tasks and not leftovers.fds, details(leftovers)


def h2_bound(fault: str) -> tuple[float, float]:
    """When an HTTP/2 call without a deadline must fail against ``fault``: (earliest, latest)."""
    if fault == "garbage":
        return 0.0, MARGIN
    if fault == "blackhole":  # no SETTINGS: the connect timeout
        return LIMITS.connect_timeout, LIMITS.connect_timeout + MARGIN
    # The server's last frame came at once; a PING goes out keepalive_interval
    # later and is never acknowledged.
    assert LIMITS.keepalive_interval is not None
    bound = LIMITS.keepalive_interval + LIMITS.keepalive_timeout
    return bound - KEEPALIVE_MARGIN, bound + KEEPALIVE_MARGIN


@pytest.mark.parametrize("kind", ["unary", "server_stream"])
@pytest.mark.parametrize("fault", FAULT_NAMES)
async def test_http2_without_a_deadline_the_limits_end_the_call(
    fault: str, kind: CallKind, autojump_clock: trio.testing.MockClock
) -> None:
    ended, server, leftovers = await call_against(FAULTS[fault](), "2", kind, deadline=None)
    check_server_saw_the_call(fault, server, "2")
    assert isinstance(ended.error, ConnectError), ended
    assert ended.error.code is Code.UNAVAILABLE
    earliest, latest = h2_bound(fault)
    assert earliest <= ended.elapsed <= latest, (ended, ended.error)
    if fault == "blackhole":
        assert isinstance(ended.error, UnprocessedError)
    assert not leftovers.tasks and not leftovers.fds, details(leftovers)


@pytest.mark.parametrize("kind", ["unary", "server_stream"])
async def test_http1_without_a_deadline_garbage_fails_fast(
    kind: CallKind, autojump_clock: trio.testing.MockClock
) -> None:
    ended, server, leftovers = await call_against(FAULTS["garbage"](), "1.1", kind, deadline=None)
    check_server_saw_the_call("garbage", server, "1.1")
    assert isinstance(ended.error, ConnectError), ended
    assert ended.error.code is Code.UNAVAILABLE
    assert ended.elapsed <= MARGIN
    assert not leftovers.tasks and not leftovers.fds, details(leftovers)


@pytest.mark.parametrize("kind", ["unary", "server_stream"])
@pytest.mark.parametrize("fault", STALLS)
async def test_http1_without_a_deadline_a_stalled_server_holds_the_call(
    fault: str, kind: CallKind, autojump_clock: trio.testing.MockClock
) -> None:
    # HTTP/1.1 has no pings and the client no read timeout (one would cut off
    # a long, legitimately quiet stream): only a deadline bounds these calls.
    ended, server, leftovers = await call_against(FAULTS[fault](), "1.1", kind, deadline=None)
    check_server_saw_the_call(fault, server, "1.1")
    assert ended.error is None, ended  # still waiting when the test gave up on it
    assert HTTP1_PATIENCE <= ended.elapsed <= HTTP1_PATIENCE + MARGIN
    if fault == "trickle":  # and the trickle kept going all that time
        assert HTTP1_PATIENCE - 2 <= server.sent <= HTTP1_PATIENCE + 1
    assert not leftovers.tasks and not leftovers.fds, details(leftovers)


# -- the connect timeout ---------------------------------------------------------------------


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_a_tls_handshake_that_never_ends_times_out_on_connect(
    http_version: HTTPVersion, autojump_clock: trio.testing.MockClock
) -> None:
    # TCP connects at once on loopback; the handshake is what the blackhole stalls.
    with trio.fail_after(GUARD):
        await _tls_connect_times_out(http_version)


async def _tls_connect_times_out(http_version: HTTPVersion) -> None:
    async with watch_leftovers() as leftovers:
        async with (
            blackhole(tls=True) as server,
            open_client(
                server.url,
                ClientOptions(
                    http_version=http_version,
                    ssl_context=client_context(trustme.CA()),
                    limits=LIMITS,
                ),
            ) as client,
        ):
            start = trio.current_time()
            with pytest.raises(UnprocessedError) as caught:
                await make_call(client, "unary")
            elapsed = trio.current_time() - start
    assert server.connections == 1
    assert caught.value.code is Code.UNAVAILABLE
    assert server.url.removeprefix("https://") in caught.value.message
    assert f"{LIMITS.connect_timeout:g} s" in caught.value.message
    assert LIMITS.connect_timeout <= elapsed <= LIMITS.connect_timeout + MARGIN
    assert not leftovers.tasks and not leftovers.fds, details(leftovers)


async def test_the_default_limits_bound_the_connect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    default = ClientLimits().connect_timeout
    with trio.fail_after(GUARD):
        async with (
            blackhole(tls=True) as server,
            open_client(
                server.url,
                ClientOptions(http_version="1.1", ssl_context=client_context(trustme.CA())),
            ) as client,
        ):
            start = trio.current_time()
            with pytest.raises(UnprocessedError) as caught:
                await make_call(client, "unary")
            elapsed = trio.current_time() - start
    assert f"{default:g} s" in caught.value.message
    assert default <= elapsed <= default + MARGIN
