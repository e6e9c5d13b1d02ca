"""One-call set-ups: a client for an endpoint URL, a Connect server for some services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import trio

from ..transport import (
    ClientTransport,
    Server,
    open_http1_transport,
    open_http2_transport,
    open_server,
    serve,
)
from ._app import ConnectApp
from ._client import Client
from ._endpoint import check_interceptors, detach_interceptors
from ._interceptor import InterceptorLike
from ._options import ClientOptions, ServerOptions
from ._service import Service

_Implementations = Mapping[Service, object] | Iterable[tuple[Service, object]]
"""Services with the objects implementing them."""


def open_transport(
    base_url: str, options: ClientOptions | None = None
) -> AbstractAsyncContextManager[ClientTransport]:
    """The client transport for ``base_url`` that ``options`` describe.

    ``options`` default to :class:`ClientOptions`. Their ``http_version``
    picks our own HTTP/2 connection
    (:func:`~trioplugin.transport.open_http2_transport`) or our own HTTP/1.1
    pool (:func:`~trioplugin.transport.open_http1_transport`); their
    ``ssl_context`` and ``limits`` go to it. Callers who bring an ``httpx.AsyncClient`` of
    their own pass it to :func:`~trioplugin.transport.open_httpx_transport`
    instead.

    HTTP/1.1 has no pings, so there a server that takes a request and then
    stalls holds the call until its deadline: give calls over ``"1.1"`` a
    deadline (or a ``default_timeout``).
    """
    options = ClientOptions() if options is None else options
    opener = open_http2_transport if options.http_version == "2" else open_http1_transport
    return opener(
        base_url,
        ssl_context=options.ssl_context,
        limits=options.limits,
        unix_socket=options.unix_socket,
    )


@asynccontextmanager
async def open_client(
    base_url: str,
    options: ClientOptions | None = None,
    *,
    interceptors: Sequence[InterceptorLike] = (),
) -> AsyncIterator[Client]:
    """A :class:`Client` for the Connect endpoint at ``base_url``, open for the block.

    Example::

        async with open_client("http://127.0.0.1:8080") as client:
            kv = client.stub(KVService)
            reply = await kv.Get(GetRequest(key="a"))

    ``options`` (default :class:`ClientOptions`) say how to reach the
    endpoint and encode the calls; ``interceptors`` wrap every call, the
    first outermost. Leaving the block closes its connections; an exception
    from the block passes through as it was raised.

    Raises:
        TypeError: an element of ``interceptors`` is not an interceptor.
    """
    check_interceptors(interceptors)
    options = ClientOptions() if options is None else options
    async with open_transport(base_url, options) as transport:
        client = Client(transport, options, interceptors=interceptors)
        try:
            yield client
        finally:
            detach_interceptors(client.interceptors)


@asynccontextmanager
async def open_connect_server(
    services: _Implementations | ConnectApp,
    options: ServerOptions | None = None,
    *,
    interceptors: Sequence[InterceptorLike] = (),
    listeners: Sequence[trio.SocketListener] | None = None,
) -> AsyncIterator[Server]:
    """Serve ``services`` over Connect for the block; the server's ``url`` says where.

    Example::

        async with open_connect_server({KVService: KV()}) as server:
            print(server.url)   # http://127.0.0.1:PORT

    HTTP/1.1, h2c and (with ``options.ssl_context``) TLS with ALPN are all
    served on the one port: ``options`` (default :class:`ServerOptions`)
    say where, with which limits and encodings. ``listeners``, if given,
    are served instead of binding ``options.host`` and ``options.port``
    (for instance a unix socket); the server closes them when it stops.
    ``services`` may also be a :class:`ConnectApp` made beforehand (with
    services of its own interceptors); ``interceptors`` are then its own.
    Leaving the block shuts down gracefully: in-flight calls get the limits'
    ``grace_period`` to finish.

    Raises:
        TypeError: an element of ``interceptors`` is not an interceptor, or
            an implementing method has the wrong shape.
        ValueError: a method is served twice.
    """
    options = ServerOptions() if options is None else options
    if isinstance(services, ConnectApp):
        if interceptors:
            raise TypeError("give a ConnectApp its interceptors when you make it, not here")
        app = services
    else:
        app = ConnectApp(services, options, interceptors=interceptors)
    async with open_server(
        app,
        host=options.host,
        port=options.port,
        listeners=listeners,
        ssl_context=options.ssl_context,
        limits=options.limits,
    ) as server:
        yield server


async def serve_connect(
    services: _Implementations,
    options: ServerOptions | None = None,
    *,
    interceptors: Sequence[InterceptorLike] = (),
    listeners: Sequence[trio.SocketListener] | None = None,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``services`` until cancelled; the arguments are :func:`open_connect_server`'s.

    ``server = await nursery.start(serve_connect, services)`` hands back the
    :class:`~trioplugin.transport.Server` once it listens.
    """
    options = ServerOptions() if options is None else options
    app = ConnectApp(services, options, interceptors=interceptors)
    await serve(
        app,
        host=options.host,
        port=options.port,
        listeners=listeners,
        ssl_context=options.ssl_context,
        limits=options.limits,
        task_status=task_status,
    )
