"""The client side of one Connect call as a state machine: request out, response in, sans I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar, final

from . import _headers as h
from ._call_errors import LocalProtocolError, RemoteProtocolError
from ._call_events import NEED_DATA, EndOfResponse, Message, NeedData, Request
from ._code import Code
from ._compression import IDENTITY, Compression, accept_encoding_value
from ._end_stream import EndStream, decode_end_stream
from ._envelope import EnvelopeFlags, encode_envelope
from ._error import ConnectError
from ._get import DEFAULT_GET_URL_LIMIT, get_query
from ._message_reader import BODY_END, EndStreamPayload, MessageReader
from ._metadata import Metadata
from ._response import error_from_status, unary_error_from_response
from ._stream_type import SHAPES, StreamType
from ._timeout import format_timeout_ms

_NOT_MODIFIED: Final = 304
T = TypeVar("T")


@final
class ClientConfig:
    """How a client encodes, compresses and bounds its calls; shared by all of them.

    ``compress_min_bytes`` is 0 by default: asked for a compression, the
    client compresses every request (connect-go's default); a larger value
    sends small messages as they are. GET requests (for methods free of side
    effects) fall back to POST when the URL would pass ``get_url_limit``.
    """

    __slots__ = (
        "_accept_names",
        "_base_headers",
        "accept_compressions",
        "codec",
        "compress_min_bytes",
        "get_url_limit",
        "max_message_size",
        "send_compression",
        "user_agent",
    )

    def __init__(
        self,
        *,
        codec: str,
        send_compression: Compression | None = None,
        accept_compressions: Sequence[Compression] = (),
        max_message_size: int,
        compress_min_bytes: int = 0,
        user_agent: str = "",
        get_url_limit: int = DEFAULT_GET_URL_LIMIT,
    ) -> None:
        accepted = list(accept_compressions)
        if send_compression is not None and send_compression not in accepted:
            accepted.insert(0, send_compression)
        self.codec = codec
        self.send_compression = send_compression
        self.accept_compressions = tuple(accepted)
        self.max_message_size = max_message_size
        self.compress_min_bytes = compress_min_bytes
        self.user_agent = user_agent
        self.get_url_limit = get_url_limit
        self._accept_names = frozenset(c.name for c in accepted)
        self._base_headers = {
            streaming: self._headers_for(streaming=streaming) for streaming in (False, True)
        }

    def _headers_for(self, *, streaming: bool) -> list[tuple[str, str]]:
        headers = [
            (h.CONTENT_TYPE, h.ContentType(self.codec, streaming).header_value()),
            (h.CONNECT_PROTOCOL_VERSION, h.PROTOCOL_VERSION),
        ]
        if self.user_agent:
            headers.append(("user-agent", self.user_agent))
        if self.accept_compressions:
            accept = h.CONNECT_ACCEPT_ENCODING if streaming else h.ACCEPT_ENCODING
            headers.append((accept, accept_encoding_value(self.accept_compressions)))
        if streaming and self.send_compression is not None:
            headers.append((h.CONNECT_CONTENT_ENCODING, self.send_compression.name))
        return headers

    def compression_named(self, name: str) -> Compression | None:
        """The accepted compression called ``name`` (None for identity).

        Raises:
            RemoteProtocolError: ``internal``, a compression the client did not offer.
        """
        name = name.strip().lower()
        if name in ("", IDENTITY):
            return None
        if name in self._accept_names:
            for compression in self.accept_compressions:
                if compression.name == name:
                    return compression
        raise RemoteProtocolError(
            Code.INTERNAL, f"the server used compression {name!r}, which the client did not offer"
        )


@final
class ClientCall:
    """One call on the client, from the request head to the end of the response.

    Build the request with :meth:`start` (and, for client- and bidi-streaming
    calls, :meth:`send_message` / :meth:`end_request`); feed the response with
    :meth:`receive_response_head`, :meth:`receive_data` and
    :meth:`receive_end`, and take :class:`Message` and :class:`EndOfResponse`
    events out with :meth:`next_event`. A server's error is an
    ``EndOfResponse`` with its error (headers, trailers and HTTP status
    attached); a response that breaks the protocol raises
    :class:`RemoteProtocolError`; driving the machine out of order raises
    :class:`LocalProtocolError`.
    """

    __slots__ = (
        "_config",
        "_end_stream",
        "_ended",
        "_enveloped",
        "_error",
        "_headers",
        "_messages",
        "_reader",
        "_request_ended",
        "_sent",
        "_status",
        "_streams_requests",
        "_streams_responses",
        "_trailers",
        "procedure",
        "stream_type",
    )

    def __init__(self, config: ClientConfig, stream_type: StreamType, procedure: str) -> None:
        self._config = config
        self.stream_type = stream_type
        self._enveloped, self._streams_requests, self._streams_responses = SHAPES[stream_type]
        self.procedure = procedure
        self._sent = -1  # messages sent; -1 until the request has started
        self._request_ended = False
        self._status = 0
        self._headers: Metadata | None = None
        self._trailers: Metadata | None = None
        self._reader: MessageReader | None = None
        self._messages = 0
        self._error: EndOfResponse | None = None
        self._end_stream: EndStream | None = None
        self._ended = False

    # -- the request ----------------------------------------------------------------

    def start(
        self,
        *,
        timeout: float | None,
        metadata: Sequence[tuple[str, str]] = (),
        message: bytes | None = None,
        use_get: bool = False,
    ) -> Request:
        """The request to write: headers and, for a call that sends one message, its body.

        ``timeout`` is the time left for the call in seconds (None: no
        deadline), sent as ``Connect-Timeout-Ms`` rounded up. ``message`` is the
        encoded request of a unary or server-streaming call (None for the
        streaming kinds). ``use_get`` sends a unary call as a Connect GET when
        the URL stays within the config's limit.

        Raises:
            LocalProtocolError: a message where the kind streams its requests,
                none where it sends one, or a second start.
        """
        if self._sent >= 0:
            raise LocalProtocolError("the request has been started already")
        single = not self._streams_requests
        if single != (message is not None):
            raise LocalProtocolError(
                f"a {self.stream_type.value} call sends "
                + ("exactly one message with its head" if single else "its messages one by one")
            )
        config = self._config
        enveloped = self._enveloped
        headers = list(config._base_headers[enveloped])
        if timeout is not None:
            value = format_timeout_ms(timeout)
            if value is not None:
                headers.append((h.CONNECT_TIMEOUT_MS, value))
        headers.extend(metadata)
        self._sent = 0
        if message is None:
            return Request("POST", self.procedure, headers, None)
        self._sent = 1
        self._request_ended = True
        if enveloped:
            return Request("POST", self.procedure, headers, self._frame(message))
        compression = config.send_compression
        if compression is not None and len(message) < config.compress_min_bytes:
            compression = None
        if compression is not None:
            message = compression.compress(message)
        if use_get:
            name = compression.name if compression is not None else None
            get = self._get_request(headers, message, name)
            if get is not None:
                return get
        if compression is not None:
            headers.append((h.CONTENT_ENCODING, compression.name))
        return Request("POST", self.procedure, headers, message)

    def _get_request(
        self, headers: list[tuple[str, str]], message: bytes, compression: str | None
    ) -> Request | None:
        path = f"{self.procedure}?{get_query(self._config.codec, message, compression=compression)}"
        if len(path) > self._config.get_url_limit:
            return None
        # A GET has no body: no content type; the query's connect=v1 stands for the version.
        kept = [
            pair for pair in headers if pair[0] not in (h.CONTENT_TYPE, h.CONNECT_PROTOCOL_VERSION)
        ]
        return Request("GET", path, kept, None)

    def send_message(self, data: bytes) -> bytes:
        """The bytes that carry one more encoded request message of a streaming request.

        Raises:
            LocalProtocolError: the kind sends its one message with :meth:`start`,
                the request has not started, or it has ended.
        """
        if self._sent < 0 or self._request_ended:
            raise LocalProtocolError("no streaming request is open for another message")
        self._sent += 1
        return self._frame(data)

    def end_request(self) -> None:
        """No more request messages."""
        if self._sent < 0:
            raise LocalProtocolError("the request has not started")
        self._request_ended = True

    def _frame(self, data: bytes) -> bytes:
        config = self._config
        compression = config.send_compression
        if compression is not None and len(data) >= config.compress_min_bytes:
            return encode_envelope(compression.compress(data), EnvelopeFlags.COMPRESSED)
        return encode_envelope(data)

    # -- the response ---------------------------------------------------------------

    def receive_response_head(self, status: int, headers: Metadata) -> Metadata:
        """Check the response head; returns the response headers (unary trailers split off).

        Raises:
            RemoteProtocolError: a successful response that is not a Connect
                response of this call (``unknown`` if it does not look like
                Connect at all, ``internal`` if it uses another codec or a
                compression the client did not offer).
        """
        if self._headers is not None:
            raise LocalProtocolError("the response head was received already")
        enveloped = self._enveloped
        if not enveloped:
            headers, trailers = h.split_unary_trailers(headers)
            self._trailers = trailers
        self._headers = headers
        self._status = status
        encoding_header = h.CONNECT_CONTENT_ENCODING if enveloped else h.CONTENT_ENCODING
        if status != 200:
            if enveloped:
                # A proxy, not a Connect server: the status is all there is.
                self._error = self._end_with(error_from_status(status, headers))
                return headers
            compression = self._compression_or_none(headers.first(encoding_header))
        else:
            self._check_content_type(headers)
            compression = self._attach(
                lambda: self._config.compression_named(headers.first(encoding_header) or "")
            )
        self._reader = MessageReader(
            enveloped=enveloped and status == 200,
            limit=self._config.max_message_size,
            compression=compression,
            peer_fault=Code.INTERNAL,
            what="response" if not enveloped else "response stream",
        )
        return headers

    def _compression_or_none(self, name: str | None) -> Compression | None:
        try:
            return self._config.compression_named(name or "")
        except RemoteProtocolError:
            return None  # an error body we cannot read falls back to the status

    def _check_content_type(self, headers: Metadata) -> None:
        value = headers.first(h.CONTENT_TYPE) or ""
        enveloped = self._enveloped
        expected = h.ContentType(self._config.codec, enveloped).header_value()
        parsed = h.parse_content_type(value)
        if (
            parsed is not None
            and parsed.codec == self._config.codec
            and parsed.streaming == enveloped
        ):
            return
        # As connect-go: a response that does not even look like Connect is "unknown".
        prefix = h.STREAM_PREFIX if enveloped else h.UNARY_PREFIX
        code = Code.INTERNAL if value.strip().lower().startswith(prefix) else Code.UNKNOWN
        raise self._with_metadata(
            RemoteProtocolError(
                code, f"invalid content-type {value!r} in response; expecting {expected!r}"
            )
        )

    def receive_data(self, data: bytes) -> None:
        """Add response body bytes."""
        self._require_reader().feed(data)

    def receive_end(self) -> None:
        """The response body has ended (HTTP/2 trailers, if any, are not part of Connect)."""
        self._require_reader().feed_end()

    def next_event(self) -> Message | EndOfResponse | NeedData:
        """The next response event.

        Raises:
            RemoteProtocolError: the response breaks the protocol: malformed
                bytes or end-of-stream (``internal``), a message-count violation
                (``unimplemented``), a message over the limit
                (``resource_exhausted``).
        """
        if self._error is not None:
            return self._error
        if self._ended:
            raise LocalProtocolError("the response has ended already")
        reader = self._require_reader()
        item = self._attach(reader.next)
        if item is None:
            return NEED_DATA
        if not self._enveloped:
            if item is BODY_END:
                return self._end_with(None)
            assert isinstance(item, bytes)
            if self._status != 200:
                return self._unary_error(item)
            self._messages = 1
            return Message(item)
        if isinstance(item, EndStreamPayload) and self._end_stream is None:
            self._end_stream = self._attach(decode_end_stream, item)
            item = self._attach(reader.next)
            if item is None:
                # Only the end of the body may follow: the response is over with it,
                # so that bytes after the end-of-stream are refused however they arrive.
                return NEED_DATA
        if self._end_stream is not None:
            return self._after_end_stream(self._end_stream, item)
        if item is BODY_END:
            raise self._with_metadata(
                RemoteProtocolError(
                    Code.INTERNAL,
                    "protocol error: response stream ended without an end-of-stream message",
                )
            )
        assert isinstance(item, bytes)
        self._messages += 1
        if self._messages > 1 and not self._streams_responses:
            raise self._with_metadata(self._count_violation("multiple"))
        return Message(item)

    def _unary_error(self, body: bytes) -> EndOfResponse:
        headers = self._headers if self._headers is not None else Metadata()
        if self._status == _NOT_MODIFIED:
            # Only a GET can get one, and a client without a cache has no use for it.
            error = ConnectError(Code.UNKNOWN, "HTTP status 304 Not Modified", wire=True)
        else:
            error = unary_error_from_response(self._status, headers, body)
        return self._end_with(error)

    def _after_end_stream(self, end: EndStream, after: object) -> EndOfResponse:
        if after is not BODY_END:
            raise self._with_metadata(
                RemoteProtocolError(
                    Code.INTERNAL, "protocol error: response stream goes on after its end"
                )
            )
        self._trailers = end.trailers
        if end.error is None and self._messages == 0 and not self._streams_responses:
            raise self._with_metadata(self._count_violation("zero"))
        return self._end_with(end.error)

    def _count_violation(self, how_many: str) -> RemoteProtocolError:
        kind = self.stream_type.value.replace("_", "-")
        return RemoteProtocolError(
            Code.UNIMPLEMENTED,
            f"{kind} call: the response has {how_many} messages; want exactly one",
        )

    def _end_with(self, error: ConnectError | None) -> EndOfResponse:
        trailers = self._trailers if self._trailers is not None else Metadata()
        if error is not None:
            self._decorate(error)
        self._ended = True
        end = EndOfResponse(error, trailers)
        self._error = end if error is not None else None
        return end

    def _decorate(self, error: ConnectError) -> None:
        headers = self._headers if self._headers is not None else Metadata()
        trailers = self._trailers if self._trailers is not None else Metadata()
        error.http_status = self._status or None
        error.headers = headers
        error.trailers = trailers
        merged = Metadata.from_parsed([*headers.multi_items(), *trailers.multi_items()])
        # An error read from the response carries its headers or trailers already.
        if error.metadata and error.metadata is not headers and error.metadata is not trailers:
            merged.extend(error.metadata)
        error.metadata = merged

    def _with_metadata(self, error: RemoteProtocolError) -> RemoteProtocolError:
        self._decorate(error)
        return error

    def _attach(self, step: Callable[..., T], *args: Any) -> T:
        """Run a step on the response; its protocol error carries the response's metadata."""
        try:
            return step(*args)
        except RemoteProtocolError as exc:
            raise self._with_metadata(exc) from None
        except ConnectError as exc:  # a malformed response is the server's fault
            code = Code.INTERNAL if exc.code is Code.INVALID_ARGUMENT else exc.code
            raise self._with_metadata(
                RemoteProtocolError(code, f"invalid response: {exc.message}")
            ) from exc

    def _require_reader(self) -> MessageReader:
        if self._reader is None:
            raise LocalProtocolError("the response head has not been received")
        return self._reader

    @property
    def response_headers(self) -> Metadata:
        """The response headers (empty until the head has been received)."""
        return self._headers if self._headers is not None else Metadata()

    @property
    def response_trailers(self) -> Metadata:
        """The response trailers (complete once the response has ended)."""
        return self._trailers if self._trailers is not None else Metadata()

    @property
    def http_status(self) -> int:
        """The response's HTTP status (0 until the head has been received)."""
        return self._status
