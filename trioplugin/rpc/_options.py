"""The options of each side: how a client calls an endpoint, how a server serves its services.

One frozen value per side, taken by every entry point of that side
(:func:`open_client`, :class:`Client`, :func:`open_transport`, a plugin
nursery's ``connect``; :func:`open_connect_server`, :func:`serve_connect`,
:class:`ConnectApp`), so that a knob is set once and reaches every place it
applies. Every field is checked when the options are made: a wrong value
fails there, with a ``TypeError`` or ``ValueError`` naming the field.
Derive variants with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, final, get_args

from .._checks import check_int, check_seconds, check_type
from ..protocol import (
    DEFAULT_CODECS,
    DEFAULT_COMPRESSIONS,
    DEFAULT_GET_URL_LIMIT,
    JSON,
    PROTO,
    Codec,
    Compression,
)
from ..transport import ClientLimits, HTTPVersion, ServerLimits
from ._wire_common import (
    DEFAULT_COMPRESS_MIN_BYTES,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_SERVER_COMPRESS_MIN_BYTES,
)

_CODECS: Final[dict[str, Codec]] = {PROTO.name: PROTO, JSON.name: JSON}
_HTTP_VERSIONS: Final = get_args(HTTPVersion)
_CLIENT_LIMITS: Final = ClientLimits()
_SERVER_LIMITS: Final = ServerLimits()


@final
@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How a client reaches one Connect endpoint, and how it encodes its calls.

    Example::

        options = ClientOptions(http_version="1.1", default_timeout=5.0)
        async with open_client("http://127.0.0.1:8080", options) as client:
            ...

    The connection's fields (``http_version``, ``ssl_context``, ``limits``)
    are the transport's; the others are the calls'. A :class:`Client` made
    on a transport of your own uses only the calls' fields.
    """

    http_version: HTTPVersion = "2"
    """``"2"``: our own HTTP/2 client, h2c (prior knowledge) to ``http://`` URLs and
    h2 over TLS to ``https://`` ones, full duplex. ``"1.1"``: our own HTTP/1.1
    client over a pool of keep-alive connections (TLS with ALPN ``http/1.1``
    for ``https://``); not full duplex, so no bidi calls."""

    ssl_context: ssl.SSLContext | None = None
    """The TLS context for ``https://`` URLs (with a client certificate for mTLS);
    None: one that verifies the server against the system's CAs. Its ALPN
    protocols are set to the HTTP version's."""

    unix_socket: str | None = None
    """Connect to this unix socket instead of the URL's host and port (which still name
    the server, for ``:authority`` and TLS), e.g. a plugin's that listens on one."""

    limits: ClientLimits = _CLIENT_LIMITS
    """What the connection bounds on its own, whether or not a call has a deadline:
    the connect timeout, HTTP/2 keepalive PINGs and flow-control windows, the
    HTTP/1.1 pool (see :class:`~trioplugin.transport.ClientLimits`)."""

    codec: Codec | str = PROTO
    """How messages are encoded: a :class:`~trioplugin.protocol.Codec`, or the name
    ``"proto"`` or ``"json"`` (replaced by its codec when the options are made)."""

    send_compression: Compression | None = None
    """Compress requests with this (None: send them uncompressed)."""

    accept_compressions: Sequence[Compression] = DEFAULT_COMPRESSIONS
    """Compressions the server may compress responses with (kept as a tuple)."""

    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    """The largest response message taken, in bytes once decompressed
    (``resource_exhausted`` beyond it)."""

    compress_min_bytes: int = DEFAULT_COMPRESS_MIN_BYTES
    """With ``send_compression``, requests smaller than this go uncompressed."""

    default_timeout: float | None = None
    """Seconds a call may take when its caller set no deadline (None: no limit);
    past them it fails with ``deadline_exceeded``."""

    http_get: bool = False
    """Send unary calls of methods marked ``NO_SIDE_EFFECTS`` as Connect GET
    (cacheable by HTTP proxies); an interceptor may also choose per call."""

    get_url_limit: int = DEFAULT_GET_URL_LIMIT
    """With ``http_get``, a call whose URL would be longer than this goes as POST."""

    def __post_init__(self) -> None:
        if self.http_version not in _HTTP_VERSIONS:
            raise ValueError(
                f"ClientOptions.http_version must be '1.1' or '2', not {self.http_version!r}"
            )
        check_type(self, "ssl_context", (ssl.SSLContext, type(None)), "an ssl.SSLContext or None")
        check_type(self, "limits", ClientLimits, "a trioplugin.transport.ClientLimits")
        check_type(self, "unix_socket", (str, type(None)), "a socket's path or None")
        object.__setattr__(self, "codec", _codec(self.codec))
        if self.send_compression is not None:
            _check_compression(self.send_compression, "send_compression")
        accepted = _compressions(self.accept_compressions, "ClientOptions.accept_compressions")
        object.__setattr__(self, "accept_compressions", accepted)
        check_int(self, "max_message_size", 1)
        check_int(self, "compress_min_bytes", 0)
        if self.default_timeout is not None:
            check_seconds(self, "default_timeout", none="no limit")
        check_type(self, "http_get", bool, "True or False")
        check_int(self, "get_url_limit", 1)


@final
@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Where a Connect server listens, what it tolerates, and how it encodes responses.

    Example::

        options = ServerOptions(port=8080, limits=ServerLimits(grace_period=10))
        async with open_connect_server({KVService: KV()}, options) as server:
            ...

    The connection's fields (``host``, ``port``, ``ssl_context``, ``limits``)
    are the transport server's; the others are the calls'. A
    :class:`ConnectApp` uses only the calls' fields.
    """

    host: str | None = "127.0.0.1"
    """The address to bind (None: every interface)."""

    port: int = 0
    """The TCP port; 0 picks a free one (the server's ``port`` says which)."""

    ssl_context: ssl.SSLContext | None = None
    """Serve TLS with this context (its ALPN protocols are set to ``h2`` and
    ``http/1.1``). For mTLS, set ``verify_mode = ssl.CERT_REQUIRED`` and load the
    client CAs: the verified certificate reaches handlers through the peer."""

    limits: ServerLimits = _SERVER_LIMITS
    """Sizes, counts and timeouts per connection, and the shutdown grace period
    (see :class:`~trioplugin.transport.ServerLimits`)."""

    codecs: Sequence[Codec] = DEFAULT_CODECS
    """The codecs requests may use (kept as a tuple; at least one)."""

    compressions: Sequence[Compression] = DEFAULT_COMPRESSIONS
    """What requests may be compressed with, and responses are compressed with for
    clients that accept them (kept as a tuple)."""

    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    """The largest request message taken, in bytes once decompressed
    (``resource_exhausted`` beyond it, refused before it is read whole)."""

    compress_min_bytes: int = DEFAULT_SERVER_COMPRESS_MIN_BYTES
    """Responses smaller than this go uncompressed."""

    def __post_init__(self) -> None:
        check_type(self, "host", (str, type(None)), "a host name or address, or None")
        check_int(self, "port", 0, 65535)
        check_type(self, "ssl_context", (ssl.SSLContext, type(None)), "an ssl.SSLContext or None")
        check_type(self, "limits", ServerLimits, "a trioplugin.transport.ServerLimits")
        codecs = tuple(self.codecs)
        if not codecs:
            raise ValueError("ServerOptions.codecs must name at least one codec")
        for codec in codecs:
            if not isinstance(codec, Codec):
                raise TypeError(
                    f"ServerOptions.codecs must hold Codecs, not {type(codec).__name__}"
                )
        object.__setattr__(self, "codecs", codecs)
        compressions = _compressions(self.compressions, "ServerOptions.compressions")
        object.__setattr__(self, "compressions", compressions)
        check_int(self, "max_message_size", 1)
        check_int(self, "compress_min_bytes", 0)


def _codec(codec: object) -> Codec:
    if isinstance(codec, str):
        try:
            return _CODECS[codec]
        except KeyError:
            raise ValueError(
                f"ClientOptions.codec: unknown codec {codec!r}; use 'proto' or 'json', "
                "or give a Codec"
            ) from None
    if not isinstance(codec, Codec):
        raise TypeError(
            f"ClientOptions.codec must be a Codec or a codec name, not {type(codec).__name__}"
        )
    return codec


def _check_compression(compression: object, field: str) -> None:
    if not isinstance(compression, Compression):
        raise TypeError(
            f"ClientOptions.{field} must be a Compression (e.g. trioplugin.protocol.GZIP)"
            f"{' or None' if field == 'send_compression' else ''}, "
            f"not {type(compression).__name__}"
        )


def _compressions(compressions: Sequence[Compression], where: str) -> tuple[Compression, ...]:
    if isinstance(compressions, (str, bytes)):
        raise TypeError(f"{where} must be a sequence of Compressions, not a string")
    result = tuple(compressions)
    for compression in result:
        if not isinstance(compression, Compression):
            raise TypeError(
                f"{where} must hold Compressions (e.g. trioplugin.protocol.GZIP), "
                f"not {type(compression).__name__}"
            )
    return result
