"""The transport of a launched plugin whose calls wait for it while it restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from ..protocol import Code, ConnectError
from ..rpc import ClientOptions, open_transport
from ..transport import ClientExchange, ClientTransport
from ._launch import Supervisor


class FollowingTransport:
    """Opens each exchange once the supervised plugin serves: a restart is waited out.

    The wait is bounded by the caller's deadline (its cancel scope), and
    ends with ``unavailable`` once the plugin will not come back.
    """

    def __init__(self, inner: ClientTransport, supervisor: Supervisor) -> None:
        self._inner = inner
        self._supervisor = supervisor

    @property
    def full_duplex(self) -> bool:
        """Whether the response can be read while the request is still being written."""
        return self._inner.full_duplex

    @asynccontextmanager
    async def exchange(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        *,
        body: bytes | None = None,
    ) -> AsyncIterator[ClientExchange]:
        """Wait until the plugin serves, then open the request on the plugin's connection."""
        await until_serving(self._supervisor)
        async with self._inner.exchange(method, path, headers, body=body) as exchange:
            yield exchange

    async def aclose(self) -> None:
        """Close the plugin's connections; later exchanges fail."""
        await self._inner.aclose()


async def until_serving(supervisor: Supervisor) -> None:
    """Return once the plugin serves.

    Raises:
        ConnectError: ``unavailable``: it is not running and will not be restarted.
    """
    while not supervisor.serving:
        if supervisor.finished:
            raise ConnectError(
                Code.UNAVAILABLE, f"plugin {supervisor.name!r} is not running and will not restart"
            )
        await supervisor.wait_changed()


@asynccontextmanager
async def open_following(
    url: str, options: ClientOptions, supervisor: Supervisor
) -> AsyncIterator[ClientTransport]:
    """Open the plugin's transport, following it across restarts."""
    async with open_transport(url, options) as inner:
        yield FollowingTransport(inner, supervisor)
