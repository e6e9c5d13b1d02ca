"""The opt-in ready check of ``connect()``: wait until the endpoint answers HTTP, within bounds."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import trio

from ..protocol import Code, ConnectError
from ..rpc import ClientOptions, open_transport
from ..transport import ClientTransport, TLSError

PROBE_PATH = "/grpc.health.v1.Health/Check"
"""What the probe asks for; any HTTP answer at all (even 404) means the endpoint is there."""

FIRST_DELAY = 0.05
LONGEST_DELAY = 1.0


async def wait_until_answering(
    name: str,
    url: str,
    options: ClientOptions,
    transport: Callable[[], AbstractAsyncContextManager[ClientTransport]] | None,
) -> None:
    """Return once the endpoint answers a request; retry refused connections meanwhile.

    Bounded by the caller's deadline, and by ``options.limits.connect_timeout``
    of its own.

    Raises:
        ConnectError: ``unavailable``: it did not answer within the bound
            (the message quotes the last failure); a TLS failure at once.
    """
    bound = options.limits.connect_timeout
    delay = FIRST_DELAY
    last: ConnectError | None = None
    with trio.move_on_after(bound):
        while True:  # ends: an answer, a TLS failure, or the bound
            try:
                await _probe(url, options, transport)
                return
            except TLSError:
                raise  # a certificate or protocol mismatch does not mend itself
            except ConnectError as exc:
                if exc.code is not Code.UNAVAILABLE:
                    raise
                last = exc
            await trio.sleep(delay)
            delay = min(LONGEST_DELAY, delay * 2)
    raise ConnectError(
        Code.UNAVAILABLE,
        f"plugin {name!r} at {url} did not answer within {bound:g} s"
        + (f": {last.message}" if last is not None else ""),
    )


async def _probe(
    url: str,
    options: ClientOptions,
    transport: Callable[[], AbstractAsyncContextManager[ClientTransport]] | None,
) -> None:
    opened = open_transport(url, options) if transport is None else transport()
    headers = [("content-type", "application/proto")]
    async with opened as client, client.exchange("POST", PROBE_PATH, headers, body=b"") as exchange:
        await exchange.receive_head()
