"""connectrpc's ASGI application serving EchoService: what uvicorn and pyvoy both serve.

A module of its own, importing neither uvicorn nor pyvoy, because pyvoy loads
the application by name (``benchmarks._peer_app:app``) inside the Envoy
process. connectrpc's code generator is not available offline, so the
service is described by hand with ``MethodInfo`` and ``Endpoint``; the
messages are the google.protobuf classes of ``bench_pb2``, through
``connectrpc.compat``'s codecs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

from connectrpc.compat import google_protobuf_codecs
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint

from .bench_pb2 import EchoRequest, EchoResponse, StreamRequest

SERVICE: Final = "trioplugin.bench.v1.EchoService"

ECHO: Final = MethodInfo(
    name="Echo",
    service_name=SERVICE,
    input=EchoRequest,
    output=EchoResponse,
    idempotency_level=IdempotencyLevel.NO_SIDE_EFFECTS,
    stream_type=StreamType.UNARY,
)
SERVER_STREAM: Final = MethodInfo(
    name="ServerStream",
    service_name=SERVICE,
    input=StreamRequest,
    output=EchoResponse,
    idempotency_level=IdempotencyLevel.UNKNOWN,
    stream_type=StreamType.SERVER_STREAM,
)
BIDI: Final = MethodInfo(
    name="Bidi",
    service_name=SERVICE,
    input=EchoRequest,
    output=EchoResponse,
    idempotency_level=IdempotencyLevel.UNKNOWN,
    stream_type=StreamType.BIDI_STREAM,
)


class EchoPeer:
    """The handlers, doing what ``benchmarks._service.Echo`` does."""

    async def echo(
        self, request: EchoRequest, ctx: RequestContext[EchoRequest, EchoResponse]
    ) -> EchoResponse:
        return EchoResponse(text=request.text)

    async def server_stream(
        self, request: StreamRequest, ctx: RequestContext[StreamRequest, EchoResponse]
    ) -> AsyncIterator[EchoResponse]:
        response = EchoResponse(text=request.text)
        for _ in range(request.count):
            yield response

    async def bidi(
        self,
        requests: AsyncIterator[EchoRequest],
        ctx: RequestContext[EchoRequest, EchoResponse],
    ) -> AsyncIterator[EchoResponse]:
        async for request in requests:
            yield EchoResponse(text=request.text)


def _endpoints(peer: EchoPeer) -> Mapping[str, Endpoint[Any, Any]]:
    endpoints: list[Endpoint[Any, Any]] = [
        Endpoint.unary(ECHO, peer.echo),
        Endpoint.server_stream(SERVER_STREAM, peer.server_stream),
        Endpoint.bidi_stream(BIDI, peer.bidi),
    ]
    return {f"/{SERVICE}/{e.method.name}": e for e in endpoints}


class EchoApplication(ConnectASGIApplication[EchoPeer]):
    """What connectrpc's code generator would write for EchoService, by hand."""

    def __init__(self) -> None:
        super().__init__(
            service=EchoPeer(),
            # It wants a private union of the four Endpoint kinds; Endpoint.unary()
            # and its siblings make members of it, but only the base is public.
            endpoints=_endpoints,  # type: ignore[arg-type]
            codecs=google_protobuf_codecs(),
        )

    @property
    def path(self) -> str:
        return f"/{SERVICE}"


app: Final = EchoApplication()
"""The application, by the name pyvoy loads it by."""
