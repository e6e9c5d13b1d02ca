"""One HTTP/2 transport for the endpoints of a nursery that are on the same origin.

Endpoints connected to one origin with the same connection options (TLS
context, unix socket, limits) call over one HTTP/2 connection, its streams
multiplexed, instead of a connection each: a host with many endpoints on
one plugin service holds one socket to it. Each endpoint's actor gets a
share of the transport (:meth:`~trioplugin.transport.HTTP2Transport.share`)
when it is first called and gives it back when it closes; closing it fails
that endpoint's calls in flight and nobody else's. The transport runs in a
task of the nursery's own, opened by the first share and closed when the
last share is given back. HTTP/1.1 runs one call per connection, so its
endpoints keep pools of their own.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import final
from urllib.parse import urlsplit

import trio

from ..rpc import ClientOptions, open_transport
from ..transport import ClientLimits, ClientTransport, HTTP2Transport, open_http2_transport

_Key = tuple[str, str, ssl.SSLContext | None, str | None, ClientLimits]


@dataclass(eq=False)
class _Entry:
    """One shared transport: who uses it, and its keeper task's progress."""

    users: int = 0
    transport: HTTP2Transport | None = None
    failure: BaseException | None = None
    ready: trio.Event = field(default_factory=trio.Event)
    idle: trio.Event = field(default_factory=trio.Event)
    closed: trio.Event = field(default_factory=trio.Event)


@final
class SharedTransports:
    """The HTTP/2 transports an endpoint nursery's actors share, one per origin and options."""

    __slots__ = ("_entries", "_nursery")

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._entries: dict[_Key, _Entry] = {}

    def open(
        self, url: str, options: ClientOptions
    ) -> AbstractAsyncContextManager[ClientTransport]:
        """The transport for the endpoint at ``url``: a share over HTTP/2, its own over HTTP/1.1."""
        if options.http_version != "2":
            return open_transport(url, options)
        return self._share(url, options)

    @asynccontextmanager
    async def _share(self, url: str, options: ClientOptions) -> AsyncIterator[ClientTransport]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        key: _Key = (
            parts.scheme,
            parts.netloc.lower(),
            options.ssl_context,
            options.unix_socket,
            options.limits,
        )
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            self._nursery.start_soon(self._keep, key, entry, origin, options)
        entry.users += 1
        try:
            await entry.ready.wait()
            if entry.transport is None:
                raise RuntimeError("the shared transport did not open") from entry.failure
            share = entry.transport.share(parts.path)
            try:
                yield share
            finally:
                await share.aclose()
        finally:
            entry.users -= 1
            if not entry.users:
                self._release(key, entry)
                with trio.CancelScope(shield=True):
                    await entry.closed.wait()  # the last one out leaves no socket behind

    def _release(self, key: _Key, entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]  # the next endpoint on this origin opens a new one
        entry.idle.set()

    async def _keep(self, key: _Key, entry: _Entry, origin: str, options: ClientOptions) -> None:
        """Hold the transport open while anyone has a share of it."""
        try:
            async with open_http2_transport(
                origin,
                ssl_context=options.ssl_context,
                limits=options.limits,
                unix_socket=options.unix_socket,
            ) as transport:
                entry.transport = transport
                entry.ready.set()
                await entry.idle.wait()
        except BaseException as exc:
            entry.failure = exc
            self._release(key, entry)
            raise
        finally:
            entry.ready.set()
            entry.closed.set()
