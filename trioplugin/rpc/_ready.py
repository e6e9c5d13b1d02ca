"""Waiting until a server answers HTTP at all: ``connect(wait_ready=True)``, a Go plugin's start."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import trio

from ..protocol import Code, ConnectError
from ..transport import ClientTransport, TLSError
from ._open import open_transport
from ._options import ClientOptions

PROBE_PATH = "/grpc.health.v1.Health/Check"
"""What the probe asks for; any HTTP answer at all (even 404) means the endpoint is there."""

FIRST_DELAY = 0.05
LONGEST_DELAY = 1.0


async def wait_until_answering(
    url: str,
    options: ClientOptions | None = None,
    *,
    transport: Callable[[], AbstractAsyncContextManager[ClientTransport]] | None = None,
) -> None:
    """Return once the server at ``url`` answers an HTTP request; retry refused connections.

    Any answer counts (a 404 too): the server is there and speaks HTTP.
    Bounded by the caller's deadline, and by ``options.limits.connect_timeout``
    of its own. ``transport``, if given, opens the transport to probe with
    instead of ``url`` and ``options``.

    Raises:
        ConnectError: ``unavailable``: it did not answer within the bound
            (the message quotes the last failure); a TLS failure at once.
    """
    options = ClientOptions() if options is None else options
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
        f"nothing answered at {url} within {bound:g} s"
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
