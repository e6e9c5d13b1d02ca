"""One-call set-ups: a client for an endpoint URL, a Connect server for some services."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Literal

import trio

from ..protocol import DEFAULT_CODECS, DEFAULT_COMPRESSIONS, PROTO, Codec, Compression
from ..transport import (
    ClientLimits,
    ClientTransport,
    Server,
    ServerLimits,
    open_h2_transport,
    open_h11_transport,
    open_server,
    serve,
)
from ._app import ConnectApp
from ._client import Client
from ._endpoint import check_interceptors, detach_interceptors
from ._interceptor import InterceptorLike
from ._service import Service
from ._wire_common import (
    DEFAULT_COMPRESS_MIN_BYTES,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_SERVER_COMPRESS_MIN_BYTES,
)

HTTPVersionChoice = Literal["1.1", "2"]


def open_transport(
    base_url: str,
    *,
    http_version: HTTPVersionChoice = "2",
    ssl_context: ssl.SSLContext | None = None,
    limits: ClientLimits | None = None,
) -> AbstractAsyncContextManager[ClientTransport]:
    """The client transport for ``base_url``: our own HTTP/2 connection, or our own HTTP/1.1 pool.

    ``"2"`` speaks h2c (prior knowledge) to ``http://`` URLs and h2 over TLS
    to ``https://`` ones, full duplex; ``"1.1"`` speaks HTTP/1.1 (TLS with
    ALPN ``http/1.1`` for ``https://``) over a pool of keep-alive
    connections (:func:`~trioplugin.transport.open_h11_transport`), not full
    duplex. Callers who bring an ``httpx.AsyncClient`` of their own pass it
    to :func:`~trioplugin.transport.open_httpx_transport` instead.

    ``limits`` bound what the connection waits for when no call's deadline
    does (default :class:`~trioplugin.transport.ClientLimits`): the connect
    timeout on both versions, keepalive PINGs on ``"2"`` only. HTTP/1.1 has
    no pings, so there a server that takes a request and then stalls holds
    the call until its deadline: give calls over ``"1.1"`` a deadline.

    Raises:
        ValueError: ``http_version`` is neither ``"1.1"`` nor ``"2"``.
    """
    if http_version == "2":
        return open_h2_transport(base_url, ssl_context=ssl_context, limits=limits)
    if http_version == "1.1":
        return open_h11_transport(base_url, ssl_context=ssl_context, limits=limits)
    raise ValueError(f"http_version must be '1.1' or '2', not {http_version!r}")


@asynccontextmanager
async def open_client(
    base_url: str,
    *,
    http_version: HTTPVersionChoice = "2",
    ssl_context: ssl.SSLContext | None = None,
    limits: ClientLimits | None = None,
    interceptors: Sequence[InterceptorLike] = (),
    codec: Codec | str = PROTO,
    send_compression: Compression | None = None,
    accept_compressions: Sequence[Compression] = DEFAULT_COMPRESSIONS,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    compress_min_bytes: int = DEFAULT_COMPRESS_MIN_BYTES,
    default_timeout: float | None = None,
    http_get: bool = False,
) -> AsyncIterator[Client]:
    """A :class:`Client` for the Connect endpoint at ``base_url``, open for the block.

    Example::

        async with open_client("http://127.0.0.1:8080") as client:
            kv = client.stub(KVService)
            reply = await kv.Get(GetRequest(key="a"))

    ``limits`` bound the connection's own waits, for calls without a
    deadline (see :func:`open_transport`); ``default_timeout`` bounds each
    such call as a whole (``deadline_exceeded`` past it). ``http_get`` sends
    calls of side-effect-free methods as Connect GET (see :class:`Client`).
    Leaving the block closes its
    connections; an exception from the block passes through as it was raised.

    Raises:
        TypeError: an element of ``interceptors`` is not an interceptor.
    """
    check_interceptors(interceptors)
    async with open_transport(
        base_url, http_version=http_version, ssl_context=ssl_context, limits=limits
    ) as transport:
        client = Client(
            transport,
            codec=codec,
            send_compression=send_compression,
            accept_compressions=accept_compressions,
            interceptors=interceptors,
            max_message_size=max_message_size,
            compress_min_bytes=compress_min_bytes,
            default_timeout=default_timeout,
            http_get=http_get,
        )
        try:
            yield client
        finally:
            detach_interceptors(client.interceptors)


def _app(
    services: Mapping[Service, object] | Iterable[tuple[Service, object]],
    interceptors: Sequence[InterceptorLike],
    codecs: Sequence[Codec],
    compressions: Sequence[Compression],
    max_message_size: int,
    compress_min_bytes: int,
) -> ConnectApp:
    return ConnectApp(
        services,
        interceptors=interceptors,
        codecs=codecs,
        compressions=compressions,
        max_message_size=max_message_size,
        compress_min_bytes=compress_min_bytes,
    )


@asynccontextmanager
async def open_connect_server(
    services: Mapping[Service, object] | Iterable[tuple[Service, object]],
    *,
    interceptors: Sequence[InterceptorLike] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    limits: ServerLimits | None = None,
    grace_period: float = 5.0,
    codecs: Sequence[Codec] = DEFAULT_CODECS,
    compressions: Sequence[Compression] = DEFAULT_COMPRESSIONS,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    compress_min_bytes: int = DEFAULT_SERVER_COMPRESS_MIN_BYTES,
) -> AsyncIterator[Server]:
    """Serve ``services`` over Connect for the block; the server's ``url`` says where.

    Example::

        async with open_connect_server({KVService: KV()}) as server:
            print(server.url)   # http://127.0.0.1:PORT

    HTTP/1.1, h2c and (with ``ssl_context``) TLS with ALPN are all served on
    the one port. ``compressions`` are what requests may use and responses
    are sent with, to clients that accept them, for responses of at least
    ``compress_min_bytes``. Leaving the block shuts down gracefully:
    in-flight calls get ``grace_period`` seconds to finish.
    """
    app = _app(services, interceptors, codecs, compressions, max_message_size, compress_min_bytes)
    async with open_server(
        app,
        host=host,
        port=port,
        ssl_context=ssl_context,
        limits=limits,
        grace_period=grace_period,
    ) as server:
        yield server


async def serve_connect(
    services: Mapping[Service, object] | Iterable[tuple[Service, object]],
    *,
    interceptors: Sequence[InterceptorLike] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    limits: ServerLimits | None = None,
    grace_period: float = 5.0,
    codecs: Sequence[Codec] = DEFAULT_CODECS,
    compressions: Sequence[Compression] = DEFAULT_COMPRESSIONS,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    compress_min_bytes: int = DEFAULT_SERVER_COMPRESS_MIN_BYTES,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``services`` until cancelled.

    ``server = await nursery.start(serve_connect, services)`` hands back the
    :class:`~trioplugin.transport.Server` once it listens.
    """
    app = _app(services, interceptors, codecs, compressions, max_message_size, compress_min_bytes)
    await serve(
        app,
        host=host,
        port=port,
        ssl_context=ssl_context,
        limits=limits,
        grace_period=grace_period,
        task_status=task_status,
    )
