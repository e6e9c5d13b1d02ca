"""The connectrpc package (the Connect authors' Python implementation) as an interop peer.

Run from the repository root, in a process of its own (connectrpc runs on
asyncio, the test suite on trio)::

    python -m tests.interop._connectrpc_peer serve

serves EchoService with connectrpc's ASGI application on uvicorn (HTTP/1.1)
on a free loopback port, prints that port as one line on stdout, and serves
until SIGTERM, SIGINT or the end of its stdin; then it shuts down and exits 0.
Its handlers mirror ``tests/echo_service.py``: the same answers, the same
``fail_code`` errors with a ``FailureInfo`` detail, and ``seen`` reports the
request's ``x-`` headers, ``connect-timeout-ms`` and the HTTP version. ::

    python -m tests.interop._connectrpc_peer call URL [--http-version 1.1|2] CASE...

calls the EchoService at URL with connectrpc's client, one scripted case
after another (``python -m tests.interop._connectrpc_peer call --help`` lists
them), and prints one JSON object per case on stdout. A Connect error is a
result (``{"error": {...}}``); anything else exits non-zero with the
traceback on stderr.

connectrpc's code generator is not available offline, so the service is
described by hand with ``MethodInfo`` and ``Endpoint``, and the messages are
the google.protobuf classes of ``tests/echo_pb2.py``, read and written
through ``connectrpc.compat``'s codecs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
import os
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Final, TypeAlias

import uvicorn
from connectrpc.client import ConnectClient, ResponseMetadata
from connectrpc.code import Code
from connectrpc.compat import (
    google_protobuf_binary_codec,
    google_protobuf_codecs,
    google_protobuf_json_codec,
)
from connectrpc.compression.gzip import GzipCompression
from connectrpc.errors import ConnectError, ErrorDetail
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from protobuf.wkt import Any as AnyDetail
from pyqwest import Client as HTTPClient
from pyqwest import HTTPTransport, HTTPVersion

from tests.echo_pb2 import EchoRequest, EchoResponse, FailureInfo

SERVICE: Final = "trioplugin.test.v1.EchoService"
GZIP_PAYLOAD: Final = b"abc" * 10_000
"""Compresses well and is far above any compression threshold."""

Method: TypeAlias = MethodInfo[EchoRequest, EchoResponse]
Context: TypeAlias = RequestContext[EchoRequest, EchoResponse]
JSONObject: TypeAlias = dict[str, Any]


def _method(
    name: str,
    stream_type: StreamType,
    idempotency: IdempotencyLevel = IdempotencyLevel.UNKNOWN,
) -> Method:
    return MethodInfo(
        name=name,
        service_name=SERVICE,
        input=EchoRequest,
        output=EchoResponse,
        idempotency_level=idempotency,
        stream_type=stream_type,
    )


ECHO = _method("Echo", StreamType.UNARY, IdempotencyLevel.NO_SIDE_EFFECTS)
PUT = _method("Put", StreamType.UNARY)
SERVER_STREAM = _method("ServerStream", StreamType.SERVER_STREAM)
CLIENT_STREAM = _method("ClientStream", StreamType.CLIENT_STREAM)
BIDI = _method("Bidi", StreamType.BIDI_STREAM)


# --- the server ---------------------------------------------------------------

_http_version: contextvars.ContextVar[str] = contextvars.ContextVar("http_version", default="")
"""The HTTP version of the request being handled (from the ASGI scope)."""


def _fail(request: EchoRequest) -> None:
    if request.fail_code:
        detail = AnyDetail(
            type_url=f"type.googleapis.com/{FailureInfo.DESCRIPTOR.full_name}",
            value=FailureInfo(reason=request.text).SerializeToString(),
        )
        raise ConnectError(
            Code(request.fail_code), f"asked to fail: {request.text}", [ErrorDetail(detail)]
        )


async def _delay(request: EchoRequest) -> None:
    if request.delay_ms:
        await asyncio.sleep(request.delay_ms / 1000)


def _answer(request: EchoRequest, ctx: Context, index: int = 0) -> EchoResponse:
    headers = ctx.request_headers
    seen = {key: value for key, value in headers.allitems() if key.startswith("x-")}
    timeout = headers.get("connect-timeout-ms")
    if timeout is not None:
        seen["connect-timeout-ms"] = timeout
    seen["http-version"] = _http_version.get()
    payload = request.payload or b"x" * request.response_size
    return EchoResponse(text=request.text, payload=payload, index=index, seen=seen)


class EchoPeer:
    """EchoService on connectrpc, answering as ``tests.echo_service.EchoImpl`` does."""

    async def echo(self, request: EchoRequest, ctx: Context) -> EchoResponse:
        await _delay(request)
        _fail(request)
        ctx.response_headers["x-echo"] = "1"
        ctx.response_trailers["x-trailer"] = "done"
        return _answer(request, ctx)

    async def put(self, request: EchoRequest, ctx: Context) -> EchoResponse:
        if request.text == "raise":
            raise RuntimeError("secret internal detail")
        return await self.echo(request, ctx)

    async def server_stream(
        self, request: EchoRequest, ctx: Context
    ) -> AsyncIterator[EchoResponse]:
        ctx.response_headers["x-echo"] = "stream"
        for index in range(request.repeat):
            yield _answer(request, ctx, index)
        await _delay(request)
        _fail(request)
        ctx.response_trailers["x-count"] = str(request.repeat)

    async def client_stream(
        self, requests: AsyncIterator[EchoRequest], ctx: Context
    ) -> EchoResponse:
        texts = []
        last = EchoRequest()
        async for request in requests:
            _fail(request)
            texts.append(request.text)
            last = request
        return _answer(EchoRequest(text=",".join(texts), payload=last.payload), ctx, len(texts))

    async def bidi(
        self, requests: AsyncIterator[EchoRequest], ctx: Context
    ) -> AsyncIterator[EchoResponse]:
        index = 0
        async for request in requests:
            _fail(request)
            await _delay(request)
            yield _answer(request, ctx, index)
            index += 1


def _endpoints(peer: EchoPeer) -> Mapping[str, Endpoint[EchoRequest, EchoResponse]]:
    endpoints: list[Endpoint[EchoRequest, EchoResponse]] = [
        Endpoint.unary(ECHO, peer.echo),
        Endpoint.unary(PUT, peer.put),
        Endpoint.server_stream(SERVER_STREAM, peer.server_stream),
        Endpoint.client_stream(CLIENT_STREAM, peer.client_stream),
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


ASGIApp: TypeAlias = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def _recording_http_version(app: ASGIApp) -> ASGIApp:
    async def wrapped(
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        _http_version.set(str(scope.get("http_version", "")))
        await app(scope, receive, send)

    return wrapped


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handling, which re-raises the signal on exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _stop_on_eof(server: uvicorn.Server) -> None:
    mode = os.fstat(sys.stdin.fileno()).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return  # a terminal or /dev/null: only signals stop the server
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while await reader.read(4096):
        pass
    server.should_exit = True


async def serve() -> None:
    """Serve on a free loopback port until SIGTERM, SIGINT or the end of stdin."""
    app: ASGIApp = EchoApplication()
    config = uvicorn.Config(
        _recording_http_version(app),
        lifespan="off",
        http="h11",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    # Naming IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted
    # connections only when the listening socket says it is TCP, and without
    # it every HTTP/1.1 response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, setattr, server, "should_exit", True)
    # The socket listens already: a client that connects now waits in its backlog.
    print(sock.getsockname()[1], flush=True)
    watcher = asyncio.create_task(_stop_on_eof(server))
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()


# --- the client ---------------------------------------------------------------


def _message(response: EchoResponse) -> JSONObject:
    return {
        "text": response.text,
        "index": response.index,
        "seen": dict(response.seen),
        "payload_size": len(response.payload),
    }


def _error(error: ConnectError) -> JSONObject:
    details = []
    for detail in error.details:
        entry: JSONObject = {"type": detail.type_name}
        if detail.type_name == FailureInfo.DESCRIPTOR.full_name:
            info = FailureInfo.FromString(detail.message_bytes)
            entry["reason"] = info.reason
            entry["attempt"] = info.attempt
        details.append(entry)
    return {"code": error.code.value, "message": error.message, "details": details}


_REPORTED_HEADERS: Final = ("content-encoding", "connect-content-encoding")


def _metadata(meta: ResponseMetadata) -> JSONObject:
    headers = meta.headers
    return {
        "status": meta.http_status,
        "headers": {
            key: value
            for key, value in headers.allitems()
            if key.startswith("x-") or key in _REPORTED_HEADERS
        },
        "trailers": dict(meta.trailers.allitems()),
    }


async def _requests(*requests: EchoRequest) -> AsyncIterator[EchoRequest]:
    for request in requests:
        yield request


class Caller:
    """The scripted calls, each returning what it saw as JSON."""

    def __init__(self, url: str, http: HTTPClient) -> None:
        self._url = url
        self._http = http

    def client(self, *, json: bool = False, gzip: bool = False) -> ConnectClient:
        """A connectrpc client; it sends identity unless asked for gzip."""
        codec = google_protobuf_json_codec() if json else google_protobuf_binary_codec()
        return ConnectClient(
            self._url,
            codec=codec,
            send_compression=GzipCompression() if gzip else None,
            http_client=self._http,
        )

    async def _unary(self, client: ConnectClient, request: EchoRequest, **kw: Any) -> JSONObject:
        with ResponseMetadata() as meta:
            try:
                response = await client.execute_unary(request=request, method=ECHO, **kw)
            except ConnectError as error:
                return {"error": _error(error), **_metadata(meta)}
        return {"message": _message(response), **_metadata(meta)}

    async def _collect(
        self,
        stream: AsyncIterator[EchoResponse],
        on_message: Callable[[int], Awaitable[None]] | None = None,
    ) -> JSONObject:
        """Read a response stream to its end; ``on_message`` hears each count so far."""
        messages = []
        result: JSONObject = {}
        # The call starts at the first read, inside the metadata's context.
        with ResponseMetadata() as meta:
            try:
                async for response in stream:
                    messages.append(_message(response))
                    if on_message is not None:
                        await on_message(len(messages))
            except ConnectError as error:
                result["error"] = _error(error)
        return {"messages": messages, **result, **_metadata(meta)}

    async def _server_stream(self, client: ConnectClient, request: EchoRequest) -> JSONObject:
        return await self._collect(
            client.execute_server_stream(request=request, method=SERVER_STREAM)
        )

    async def _client_stream(self, client: ConnectClient, *requests: EchoRequest) -> JSONObject:
        with ResponseMetadata() as meta:
            try:
                response = await client.execute_client_stream(
                    request=_requests(*requests), method=CLIENT_STREAM
                )
            except ConnectError as error:
                return {"error": _error(error), **_metadata(meta)}
        return {"message": _message(response), **_metadata(meta)}

    async def unary_proto(self) -> JSONObject:
        """Echo over application/proto, with a request header."""
        request = EchoRequest(text="hello")
        return await self._unary(self.client(), request, headers={"x-trace": "abc"})

    async def unary_json(self) -> JSONObject:
        """Echo over application/json."""
        return await self._unary(self.client(json=True), EchoRequest(text="hello json"))

    async def unary_get(self) -> JSONObject:
        """Echo (side-effect free) as an HTTP GET."""
        return await self._unary(self.client(), EchoRequest(text="got"), use_get=True)

    async def unary_timeout(self) -> JSONObject:
        """Echo with a 5 s timeout: the server should see Connect-Timeout-Ms 5000."""
        return await self._unary(self.client(), EchoRequest(text="t"), timeout_ms=5000)

    async def deadline_exceeded(self) -> JSONObject:
        """Echo that outlives a 300 ms timeout."""
        request = EchoRequest(text="slow", delay_ms=10_000)
        return await self._unary(self.client(), request, timeout_ms=300)

    async def error_details(self) -> JSONObject:
        """Echo that fails with failed_precondition and a FailureInfo detail."""
        request = EchoRequest(text="why", fail_code="failed_precondition")
        return await self._unary(self.client(), request)

    async def error_details_json(self) -> JSONObject:
        """The same error, asked for over application/json."""
        request = EchoRequest(text="why json", fail_code="not_found")
        return await self._unary(self.client(json=True), request)

    async def server_stream(self) -> JSONObject:
        """ServerStream of three over application/connect+proto."""
        return await self._server_stream(self.client(), EchoRequest(text="s", repeat=3))

    async def server_stream_json(self) -> JSONObject:
        """ServerStream of two over application/connect+json."""
        client = self.client(json=True)
        return await self._server_stream(client, EchoRequest(text="sj", repeat=2))

    async def server_stream_error(self) -> JSONObject:
        """ServerStream of two, then an aborted error with a detail in the end-of-stream."""
        request = EchoRequest(text="boom", repeat=2, fail_code="aborted")
        return await self._server_stream(self.client(), request)

    async def client_stream(self) -> JSONObject:
        """ClientStream of a, b, c."""
        requests = [EchoRequest(text=text) for text in "abc"]
        return await self._client_stream(self.client(), *requests)

    async def client_stream_error(self) -> JSONObject:
        """ClientStream whose second message fails with out_of_range."""
        requests = [EchoRequest(text="a"), EchoRequest(text="b", fail_code="out_of_range")]
        return await self._client_stream(self.client(), *requests)

    async def bidi_half_duplex(self) -> JSONObject:
        """Bidi: three requests sent and the request closed, then the answers read.

        What the Connect protocol promises for bidi over HTTP/1.1.
        """
        requests = _requests(*(EchoRequest(text=f"half {index}") for index in range(3)))
        return await self._collect(self.client().execute_bidi_stream(request=requests, method=BIDI))

    async def bidi(self) -> JSONObject:
        """Bidi: three requests, each sent once the previous one is answered (full duplex)."""
        send: asyncio.Queue[EchoRequest | None] = asyncio.Queue()

        async def requests() -> AsyncIterator[EchoRequest]:
            while (request := await send.get()) is not None:
                yield request

        async def answered(count: int) -> None:
            await send.put(EchoRequest(text=f"ping {count}") if count < 3 else None)

        # Ping-pong: the next request goes only once the previous answer is in,
        # so this ends only if the call is full duplex.
        await send.put(EchoRequest(text="ping 0"))
        return await self._collect(
            self.client().execute_bidi_stream(request=requests(), method=BIDI), answered
        )

    async def gzip(self) -> JSONObject:
        """Big messages, gzip both ways: unary POST and GET, server- and client-stream."""
        client = self.client(gzip=True)
        big = EchoRequest(text="z", payload=GZIP_PAYLOAD)
        unary = await self._unary(client, big)
        get = await self._unary(client, big, use_get=True)
        stream = await self._server_stream(client, EchoRequest(payload=GZIP_PAYLOAD, repeat=2))
        upload = await self._client_stream(client, big, big)
        # A call that failed has no message (and its error is in the result).
        payloads = [
            unary.get("message", {}).get("payload_size"),
            get.get("message", {}).get("payload_size"),
            *(m["payload_size"] for m in stream["messages"]),
            upload.get("message", {}).get("payload_size"),
        ]
        return {
            "payload_sizes": payloads,
            "unary": unary,
            "get": get,
            "stream": stream,
            "upload": upload,
        }


CASES: Final = [
    name
    for name, value in vars(Caller).items()
    if not name.startswith("_") and name != "client" and callable(value)
]


async def call(url: str, http_version: str, cases: list[str]) -> None:
    """Run ``cases`` against ``url``; print one JSON line per case."""
    version = HTTPVersion.HTTP2 if http_version == "2" else HTTPVersion.HTTP1
    async with HTTPTransport(http_version=version) as transport:
        caller = Caller(url, HTTPClient(transport))
        for case in cases:
            result = await getattr(caller, case)()
            print(json.dumps({"case": case, **result}, sort_keys=True), flush=True)


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m tests.interop._connectrpc_peer")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve EchoService on a free loopback port")
    caller = commands.add_parser(
        "call",
        help="call the EchoService at URL",
        epilog="cases: " + ", ".join(CASES),
    )
    caller.add_argument("url")
    caller.add_argument(
        "--http-version",
        choices=["1.1", "2"],
        default="1.1",
        help="HTTP/1.1, or HTTP/2 (h2c with prior knowledge for http:// URLs)",
    )
    caller.add_argument("cases", nargs="+", choices=CASES, metavar="CASE")
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve())
    else:
        asyncio.run(call(args.url, args.http_version, args.cases))
        # pyqwest hands each response to asyncio from a tokio thread, with
        # loop.call_soon_threadsafe, which lets go of the GIL to write the loop's
        # wake-up byte. If the interpreter has begun to finalize before that
        # thread takes the GIL back, CPython (before 3.14) ends the thread with
        # pthread_exit, whose unwinding through Rust frames aborts the process:
        # SIGABRT after a successful run, about one exit in seven here. The work
        # is done and the output written, so exit without finalizing.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
