"""The scrape endpoint: ``GET /metrics`` on trioplugin's own HTTP server, in the trio thread."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import trio
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from ...transport import Server, ServerApp, ServerExchange, open_server, serve

METRICS_PATH: Final = "/metrics"
"""Where the metrics server answers, as Prometheus scrapes by default."""

_TEXT: Final = ("content-type", "text/plain; charset=utf-8")


def _metrics_app(registry: CollectorRegistry) -> ServerApp:
    """Answers ``GET /metrics`` with the registry's exposition; 404 and 405 otherwise."""

    async def app(exchange: ServerExchange) -> None:
        if exchange.path != METRICS_PATH:
            body = f"not found: the metrics are at {METRICS_PATH}\n".encode()
            await exchange.send_response(404, [_TEXT], body)
            return
        if exchange.method != "GET":
            body = f"method {exchange.method} not allowed: use GET\n".encode()
            await exchange.send_response(405, [_TEXT, ("allow", "GET")], body)
            return
        headers = exchange.headers
        # The text format, or OpenMetrics when the scraper asks for it.
        encoder, content_type = choose_encoder(", ".join(headers.get_all("accept")))
        body = encoder(registry)
        response = [("content-type", content_type)]
        if gzip_accepted(", ".join(headers.get_all("accept-encoding"))):
            body = gzip.compress(body)
            response.append(("content-encoding", "gzip"))
        await exchange.send_response(200, response, body)

    return app


async def serve_metrics(
    registry: CollectorRegistry | None = None,
    *,
    host: str | None = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``registry`` at ``GET /metrics`` until cancelled or until the server is closed.

    Start it with ``server = await nursery.start(serve_metrics, registry)``
    to get the :class:`~trioplugin.transport.Server` once it listens (its
    :meth:`~trioplugin.transport.Server.aclose` stops it); Prometheus
    scrapes ``server.url + "/metrics"``. The answer is the Prometheus text
    format, or OpenMetrics for a scraper whose ``Accept`` asks for it,
    gzipped when ``Accept-Encoding`` allows; other paths get 404, other
    methods 405. The server is trioplugin's own HTTP/1.1 and HTTP/2 server
    (:func:`trioplugin.transport.serve`), and the registry is collected in
    the trio thread, where the endpoint actors live.

    Args:
        registry: what to serve; ``prometheus_client.REGISTRY`` by default.
        host: the address to bind (``None``: every interface).
        port: the TCP port; 0 picks a free one (see
            :attr:`~trioplugin.transport.Server.port`).
        task_status: for :meth:`trio.Nursery.start`.
    """
    app = _metrics_app(REGISTRY if registry is None else registry)
    await serve(app, host=host, port=port, task_status=task_status)


@asynccontextmanager
async def open_metrics_server(
    registry: CollectorRegistry | None = None,
    *,
    host: str | None = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[Server]:
    """Serve ``registry`` at ``GET /metrics`` for the duration of an ``async with`` block.

    For instance::

        async with open_metrics_server(registry, port=9464) as server:
            ...  # Prometheus scrapes server.url + "/metrics"

    What it serves and the arguments are those of :func:`serve_metrics`.
    Leaving the block stops the server (gracefully, as
    :func:`trioplugin.transport.open_server` does) and leaves no task behind.
    """
    app = _metrics_app(REGISTRY if registry is None else registry)
    async with open_server(app, host=host, port=port) as server:
        yield server
