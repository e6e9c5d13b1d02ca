"""One user's share of an HTTP/2 transport: its exchanges, under its path, closed on their own.

Endpoints on the same origin can call through one :class:`HTTP2Transport`
(one connection, its streams multiplexed) while each closes on its own:
closing a share ends the exchanges made through it, at once, and leaves the
transport and every other share's exchanges alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, final

import trio

from .._util import NoPublicConstructor
from ._client_errors import transport_closing
from ._http2_client_exchange import HTTP2ClientExchange

if TYPE_CHECKING:
    from ._http2_client import HTTP2Transport, HTTP2TransportStatistics


@final
class HTTP2TransportShare(metaclass=NoPublicConstructor):
    """A :class:`~trioplugin.transport.ClientTransport` that is one share of an HTTP2Transport.

    Get one from :meth:`HTTP2Transport.share`. Its exchanges go over the
    transport's connections, their paths appended to the share's own
    prefix; :meth:`aclose` fails the exchanges made through this share
    alone (``unavailable``, "transport is closed"), as closing a transport
    of its own would, and later ones fail on entering. The transport itself
    stays open for the other shares: whoever opened it closes it. An
    exchange still waiting for a connection when its share closes fails as
    soon as it has one (or its attempt fails), before sending anything.
    """

    __slots__ = ("_closed", "_prefix", "_transport")

    full_duplex: Final = True
    """The response can be read while the request is still being written."""

    def __init__(self, transport: HTTP2Transport, prefix: str) -> None:
        self._transport = transport
        self._prefix = prefix
        self._closed = False

    @property
    def base_url(self) -> str:
        """The origin and path prefix every exchange's path is appended to."""
        return self._transport.base_url + self._prefix

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    def exchange(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        *,
        body: bytes | None = None,
    ) -> HTTP2ClientExchange:
        """Open a request to ``path`` (appended to the share's prefix), as the transport does.

        Raises:
            ConnectError: on entering, ``unavailable`` if the share or the
                transport is closed, or no connection can be made.
            ValueError: on entering, an invalid method, path, header name or value.
        """
        if self._prefix and path[:1] == "/":  # else the transport says what is wrong with it
            path = self._prefix + path
        return HTTP2ClientExchange._create(self._transport, method, path, headers, body, self)

    def statistics(self) -> HTTP2TransportStatistics:
        """The shared transport's statistics (every share's exchanges together)."""
        return self._transport.statistics()

    async def aclose(self) -> None:
        """Fail this share's exchanges in flight, and every later one; the transport stays open."""
        if not self._closed:
            self._closed = True  # exchanges not yet on a connection see it on entering
            error = transport_closing()
            for conn in list(self._transport._connections):
                for exchange in list(conn.streams.values()):
                    if exchange._owner is self:
                        exchange.abort(error)
        await trio.lowlevel.checkpoint()
