"""A client transport over ``httpx.AsyncClient``: HTTP/1.1 (and HTTP/2), not full duplex.

httpx sends the whole request body before it hands out the response, so this
transport cannot do bidi streaming; use :func:`open_http2_transport` for that
(and for speed). It is the transport for HTTP/1.1 servers and for callers who
already configured an ``httpx.AsyncClient`` of their own (proxies, auth,
unix sockets, ...). What it counts on httpx and httpcore for beyond their
documented API is in ``_upstream/_httpx.py``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Final, final

import httpx
import trio

from .._util import NoPublicConstructor
from ..protocol import Code, ConnectError, Metadata
from ._client_errors import connect_timed_out, copy_error, transport_closed
from ._limits import ClientLimits
from ._types import Peer
from ._upstream._httpx import drop_default_accept_encoding, from_httpx, peer_of

_BODY_CHANNEL_SIZE: Final = 0


@final
class HttpxTransport(metaclass=NoPublicConstructor):
    """A :class:`~trioplugin.transport.ClientTransport` over an ``httpx.AsyncClient``.

    Create it with :func:`open_httpx_transport`. Not full duplex: the response
    of a streaming request becomes readable only once the request has ended.
    """

    full_duplex: Final = False
    """httpx reads the response only after the request body has been sent."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._address = httpx.URL(base_url).netloc.decode("ascii", "replace")
        self._closed = False

    def _error(self, exc: httpx.HTTPError) -> ConnectError:
        """``exc`` as a ConnectError; a connect timeout names the address and the timeout."""
        timeout = self._client.timeout.connect
        if isinstance(exc, httpx.ConnectTimeout) and timeout is not None:
            error = connect_timed_out(self._address, timeout, "the TCP connect or TLS handshake")
            error.__cause__ = exc
            return error
        return from_httpx(self._address, exc)

    @property
    def client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` the exchanges run on."""
        return self._client

    def exchange(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        *,
        body: bytes | None = None,
    ) -> HttpxClientExchange:
        """Open a request to ``path`` (appended to the base URL); an async context manager.

        With ``body``, the request is sent whole; without, its body is streamed
        from :meth:`HttpxClientExchange.send_data` until ``end_request``. httpx's
        own ``Accept-Encoding`` is dropped unless ``headers`` set one: the RPC
        layer negotiates compression itself, and reads the body as it came.

        Raises:
            ConnectError: on entering, ``unavailable`` if the server cannot be reached.
        """
        return HttpxClientExchange._create(self, method, self._base_url + path, headers, body)

    async def aclose(self) -> None:
        """Refuse new exchanges (the client itself is closed by whoever created it)."""
        self._closed = True
        await trio.lowlevel.checkpoint()


@final
class HttpxClientExchange(metaclass=NoPublicConstructor):
    """One request over httpx and its response: an :class:`HttpxTransport`'s ClientExchange."""

    def __init__(
        self,
        transport: HttpxTransport,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
    ) -> None:
        self._transport = transport
        self._method = method
        self._url = url
        self._headers = headers
        self._body = body
        self._response: httpx.Response | None = None
        self._error: ConnectError | None = None
        self._head_ready = trio.Event()
        self._stack: AsyncExitStack | None = None
        self._nursery: trio.Nursery | None = None
        self._body_send: trio.MemorySendChannel[bytes] | None = None
        self._raw: AsyncIterator[bytes] | None = None
        self._ended = False
        self._entered = False
        self._exited = False

    def _build(self, content: Any) -> httpx.Request:
        client = self._transport._client
        request = client.build_request(
            self._method, self._url, headers=list(self._headers), content=content
        )
        drop_default_accept_encoding(request, self._headers)
        return request

    async def __aenter__(self) -> HttpxClientExchange:
        if self._entered:
            raise RuntimeError("an exchange can be entered only once")
        self._entered = True
        transport = self._transport
        if transport._closed:
            raise transport_closed()
        if self._body is not None:
            request = self._build(self._body)
            self._body = None
            try:
                self._response = await transport._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise transport._error(exc) from exc
            self._head_ready.set()
            return self
        send, receive = trio.open_memory_channel[bytes](_BODY_CHANNEL_SIZE)
        self._body_send = send
        stack = AsyncExitStack()
        nursery = await stack.enter_async_context(trio.open_nursery())
        self._stack = stack
        self._nursery = nursery
        nursery.start_soon(self._run, receive)
        return self

    async def _run(self, receive: trio.MemoryReceiveChannel[bytes]) -> None:
        async def body() -> AsyncIterator[bytes]:
            async for chunk in receive:
                yield chunk

        transport = self._transport
        try:
            self._response = await transport._client.send(self._build(body()), stream=True)
        except httpx.HTTPError as exc:
            self._error = transport._error(exc)
        except Exception as exc:  # answered like any failure, not left to crash the caller
            self._error = ConnectError(Code.INTERNAL, f"the request failed: {exc!r}")
            self._error.__cause__ = exc
        finally:
            receive.close()
            self._head_ready.set()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exited = True
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                if self._body_send is not None:
                    self._body_send.close()
                if not self._head_ready.is_set() and self._nursery is not None:
                    self._nursery.cancel_scope.cancel()  # abort the request on its way
                await stack.aclose()
        finally:
            response = self._response
            if response is not None:
                await response.aclose()  # httpcore shields its own cleanup (X4)

    # -- the request ------------------------------------------------------------------

    def _check(self) -> None:
        if not self._entered:
            raise RuntimeError("use the exchange as an async context manager first")
        if self._exited:
            raise RuntimeError("the exchange has been closed")

    async def send_data(self, data: bytes) -> None:
        """Write part of the request body (waits until httpx takes it).

        Raises:
            ConnectError: the request failed.
            RuntimeError: the request has already ended.
        """
        self._check()
        if self._ended or self._body_send is None:
            raise RuntimeError("the request has already ended")
        try:
            await self._body_send.send(data)
        except trio.BrokenResourceError:
            await self._head_ready.wait()
            if self._error is not None:
                raise copy_error(self._error) from None
            # The server answered before reading the whole body: the response tells.

    async def end_request(self) -> None:
        """Finish the request body. Ending it twice does nothing."""
        self._check()
        if self._ended:
            await trio.lowlevel.checkpoint()
            return
        self._ended = True
        if self._body_send is not None:
            await self._body_send.aclose()
        else:
            await trio.lowlevel.checkpoint()

    # -- the response -----------------------------------------------------------------

    async def receive_head(self) -> tuple[int, Metadata]:
        """The response status and headers (after the request has been sent whole).

        Raises:
            ConnectError: the request failed.
        """
        self._check()
        await self._head_ready.wait()
        if self._error is not None:
            raise copy_error(self._error)
        response = self._response
        assert response is not None
        items = [
            (name.decode("ascii").lower(), value.decode("utf-8", "replace"))
            for name, value in response.headers.raw
        ]
        return response.status_code, Metadata(items)

    async def receive_data(self) -> bytes:
        """The next chunk of the response body as it came (not decoded); ``b""`` at the end.

        Raises:
            ConnectError: the connection failed before the body ended.
        """
        self._check()
        await self._head_ready.wait()
        if self._error is not None:
            raise copy_error(self._error)
        response = self._response
        assert response is not None
        if self._raw is None:
            self._raw = response.aiter_raw()
        try:
            async for chunk in self._raw:
                if chunk:
                    return chunk
        except httpx.HTTPError as exc:
            self._error = self._transport._error(exc)
            raise copy_error(self._error) from exc
        except httpx.StreamError as exc:
            raise ConnectError(Code.INTERNAL, f"the response body cannot be read: {exc}") from exc
        return b""

    @property
    def peer(self) -> Peer | None:
        """The server as httpcore reports it, once the response head is in (best effort)."""
        return peer_of(self._response) if self._response is not None else None


@asynccontextmanager
async def open_httpx_transport(
    base_url: str,
    *,
    client: httpx.AsyncClient | None = None,
    http1: bool = True,
    http2: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    limits: ClientLimits | None = None,
) -> AsyncIterator[HttpxTransport]:
    """Open a client transport over httpx to ``base_url``; close it on exit.

    Without ``client``, an ``httpx.AsyncClient`` is made (and closed on exit)
    with the given HTTP versions (``http2=True, http1=False`` is h2c with
    prior knowledge on ``http://``), TLS on ``ssl_context`` (or httpx's
    default verification), no redirects, and one timeout: ``limits``'s
    ``connect_timeout`` (default :class:`ClientLimits`), which httpcore
    applies to the TCP connect and, for ``https://``, again to the TLS
    handshake (so an attempt takes at most twice it). httpx's own HTTP/2
    (``http2=True``) needs the ``h2`` package: install
    ``trioplugin[httpx-http2]``. A connection that is
    not made in time fails the exchange with ``unavailable`` (an
    :class:`~trioplugin.transport.UnprocessedError`: nothing was sent).
    Everything after the connect has no timeout of its own: deadlines come
    from trio's cancel scopes. ``keepalive_interval`` and
    ``keepalive_timeout`` do not apply here: HTTP/1.1 has no pings (and
    httpx's HTTP/2 sends none), so a server that accepts a request and then
    stalls holds a call until the caller's deadline; use
    :func:`~trioplugin.transport.open_http2_transport` to have a frozen peer
    found without one.

    A caller's ``client`` is used as it is (its own timeouts apply) and
    left open. An exception from the block passes through as it was raised.

    Raises:
        ValueError: neither HTTP version is enabled, or ``limits`` was given
            with a ``client`` (configure that client's timeouts instead).
    """
    if not http1 and not http2:
        raise ValueError("enable http1, http2 or both")
    own = client is None
    if client is None:
        connect_timeout = (limits or ClientLimits()).connect_timeout
        client = httpx.AsyncClient(
            http1=http1,
            http2=http2,
            verify=ssl_context if ssl_context is not None else True,
            timeout=httpx.Timeout(connect=connect_timeout, read=None, write=None, pool=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
            follow_redirects=False,
            trust_env=False,
        )
    elif limits is not None:
        raise ValueError(
            "limits apply to the httpx client this function makes; "
            "set the timeouts of your own client instead"
        )
    transport = HttpxTransport._create(client, base_url)
    try:
        yield transport
    finally:
        await transport.aclose()
        if own:
            await client.aclose()
