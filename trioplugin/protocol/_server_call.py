"""The server side of one Connect call as a state machine: request in, response out, sans I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, final

from . import _headers as h
from ._call_errors import LocalProtocolError, RemoteProtocolError
from ._call_events import (
    NEED_DATA,
    EndOfRequest,
    Message,
    NeedData,
    Output,
    ResponseHead,
)
from ._code import Code
from ._compression import Compression
from ._end_stream import EndStream, encode_end_stream
from ._envelope import EnvelopeFlags, encode_envelope
from ._error import ConnectError, error_to_json
from ._message_reader import BODY_END, EndStreamPayload, MessageReader
from ._metadata import Metadata
from ._request import RejectedRequest, RequestSpec, validate_request
from ._stream_type import SHAPES, StreamType

_JSON_HEADERS: Final = (h.CONTENT_TYPE, h.JSON_ERROR_CONTENT_TYPE)
_TEXT_HEADERS: Final = (h.CONTENT_TYPE, "text/plain; charset=utf-8")


@final
@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What a server accepts and how it answers, shared by all its calls."""

    codecs: tuple[str, ...]
    """The codec names requests may use."""
    compressions: tuple[Compression, ...]
    """The compressions requests may use and responses may be sent with."""
    max_message_size: int
    """The largest message (after decompression) a request may carry."""
    compress_min_bytes: int
    """Response messages smaller than this go uncompressed."""


@final
@dataclass(frozen=True, slots=True)
class Refused:
    """The request cannot be served: ``output`` is the whole response to send."""

    error: ConnectError
    output: Output


def unknown_procedure(path: str) -> Refused:
    """The answer to a request for a procedure nobody serves: ``unimplemented``, HTTP 404.

    404, not the code's 501: the path is not found, as any HTTP router would
    say (connect-go's mux answers the same), and clients map 404 to
    ``unimplemented``.
    """
    error = ConnectError(Code.UNIMPLEMENTED, f"unknown procedure {path}")
    head = ResponseHead(404, [_JSON_HEADERS])
    return Refused(error, Output(head, error_to_json(error), end=True))


@final
class ServerCall:
    """One call on the server, from the request head to the last response byte.

    Feed it the request head (:meth:`receive_request_head`), then body bytes
    (:meth:`receive_data`, :meth:`receive_end`), and take
    :class:`~trioplugin.protocol.Message` and ``EndOfRequest`` events out with
    :meth:`next_event`. Answer with :meth:`send_headers`, :meth:`send_message`
    and :meth:`send_end`, writing each :class:`Output` they return. A request
    that breaks the protocol raises :class:`RemoteProtocolError` (send it back
    with :meth:`send_end`); driving the machine out of order raises
    :class:`LocalProtocolError`.
    """

    __slots__ = (
        "_config",
        "_enveloped",
        "_head_sent",
        "_held",
        "_reader",
        "_request_done",
        "_response",
        "_response_done",
        "_streams_requests",
        "_streams_responses",
        "allow_get",
        "spec",
        "stream_type",
    )

    def __init__(self, config: ServerConfig, stream_type: StreamType, *, allow_get: bool) -> None:
        self._config = config
        self.stream_type = stream_type
        self._enveloped, self._streams_requests, self._streams_responses = SHAPES[stream_type]
        self.allow_get = allow_get
        self.spec: RequestSpec | None = None
        """What the request head said, once it was accepted."""
        self._reader: MessageReader | None = None
        self._held: Message | None = None
        self._request_done = False
        self._head_sent = False
        self._response: bytes | None = None
        self._response_done = False

    # -- the request ----------------------------------------------------------------

    def receive_request_head(
        self, http_method: str, headers: Metadata, query: str
    ) -> RequestSpec | Refused:
        """Check the request head; the spec to serve it by, or the response that refuses it."""
        if self.spec is not None or self._response_done:
            raise LocalProtocolError("the request head was received already")
        try:
            spec = validate_request(
                http_method=http_method,
                headers=headers,
                query=query,
                streaming=self._enveloped,
                allow_get=self.allow_get,
                codecs=self._config.codecs,
                compressions=self._config.compressions,
            )
        except RejectedRequest as rejected:
            self._response_done = True
            return Refused(rejected.error, self._refusal(rejected, headers))
        self.spec = spec
        self._reader = MessageReader(
            enveloped=self._enveloped,
            limit=self._config.max_message_size,
            compression=spec.request_compression,
            peer_fault=Code.INVALID_ARGUMENT,
            what="request" if not self._enveloped else "request stream",
        )
        if spec.timeout == 0:
            # Connect-Timeout-Ms: 0 is a deadline that has passed already.
            error = ConnectError(
                Code.DEADLINE_EXCEEDED, "the client's timeout (Connect-Timeout-Ms: 0) has passed"
            )
            return Refused(error, self.send_end(error, Metadata(), Metadata()))
        if spec.get_payload is not None:
            self._reader.feed(spec.get_payload)
            self._reader.feed_end()
        return spec

    def _refusal(self, rejected: RejectedRequest, request_headers: Metadata) -> Output:
        if rejected.http_status is not None:
            body = (rejected.error.message + "\n").encode()
            head = ResponseHead(rejected.http_status, [_TEXT_HEADERS, *rejected.headers])
            return Output(head, body, end=True)
        codec = self._refusal_codec(request_headers)
        return self._error_output(rejected.error, Metadata(), Metadata(), codec, rejected.headers)

    def _refusal_codec(self, request_headers: Metadata) -> str:
        content_type = h.parse_content_type(request_headers.first(h.CONTENT_TYPE))
        if content_type is not None and content_type.codec in self._config.codecs:
            return content_type.codec
        return self._default_codec()

    def receive_data(self, data: bytes) -> None:
        """Add request body bytes."""
        self._require_reader().feed(data)

    def receive_end(self) -> None:
        """The request body has ended."""
        self._require_reader().feed_end()

    def next_event(self) -> Message | EndOfRequest | NeedData:
        """The next request event.

        A call that takes one request message (unary, server-streaming)
        yields it only once the body has ended, so that a second message is
        refused before the handler runs.

        Raises:
            RemoteProtocolError: the request breaks the protocol (a message-count
                violation is ``unimplemented``; malformed bytes ``invalid_argument``;
                a message over the limit ``resource_exhausted``).
        """
        if self._request_done:
            return EndOfRequest()
        reader = self._require_reader()
        single = not self._streams_requests
        while True:
            item = reader.next()
            if item is None:
                return NEED_DATA
            if item is BODY_END:
                if single:
                    held = self._held
                    if held is None:
                        raise self._count_violation("zero")
                    self._held = None
                    self._request_done = True
                    return held
                self._request_done = True
                return EndOfRequest()
            if isinstance(item, EndStreamPayload):
                raise RemoteProtocolError(
                    Code.INVALID_ARGUMENT,
                    "protocol error: a request envelope has the end-stream flag",
                )
            assert isinstance(item, bytes)
            if not single:
                return Message(item)
            if self._held is not None:
                raise self._count_violation("multiple")
            self._held = Message(item)
            if not self._enveloped:
                continue  # a unary body is one message: BODY_END follows at once

    def _count_violation(self, how_many: str) -> RemoteProtocolError:
        what = "unary request" if self.stream_type is StreamType.UNARY else "request"
        kind = self.stream_type.value.replace("_", "-")
        return RemoteProtocolError(
            Code.UNIMPLEMENTED, f"{kind} call: the {what} has {how_many} messages; want exactly one"
        )

    def _require_reader(self) -> MessageReader:
        if self._reader is None:
            raise LocalProtocolError("the request head has not been accepted")
        return self._reader

    # -- the response ---------------------------------------------------------------

    def send_headers(self, headers: Metadata) -> Output | None:
        """Send the response head now (streaming responses); None where it must wait.

        A unary call's head goes with its body, so this returns None for it.
        """
        self._check_open()
        if not self._enveloped or self._head_sent:
            return None
        self._head_sent = True
        return Output(self._stream_head(headers), b"", end=False)

    def send_message(self, data: bytes, headers: Metadata) -> Output | None:
        """Send one encoded response message; None while a single response waits for the end.

        ``headers`` are the response headers, used if the head is not sent yet.

        Raises:
            LocalProtocolError: a second message for a call that answers with one.
        """
        self._check_open()
        if not self._streams_responses:
            if self._response is not None:
                raise LocalProtocolError(
                    f"a {self.stream_type.value} call answers with one message"
                )
            self._response = data
            return None
        head = None
        if not self._head_sent:
            self._head_sent = True
            head = self._stream_head(headers)
        return Output(head, self._frame(data), end=False)

    def send_end(self, error: ConnectError | None, headers: Metadata, trailers: Metadata) -> Output:
        """End the response: with ``error``, or successfully with the message sent before.

        Raises:
            LocalProtocolError: success with no message for a call that answers
                with one, or the response has ended already.
        """
        self._check_open()
        config = self._config
        codec = self.spec.codec if self.spec is not None else self._default_codec()
        if error is None and not self._streams_responses and self._response is None:
            raise LocalProtocolError(f"a {self.stream_type.value} call needs a response message")
        if error is not None:
            self._response_done = True
            if self._head_sent:
                return Output(None, self._end_stream(error, trailers), end=True)
            return self._error_output(error, headers, trailers, codec)
        self._response_done = True
        if self._enveloped:
            data = b"" if self._response is None else self._frame(self._response)
            data += self._end_stream(None, trailers)
            head = None
            if not self._head_sent:
                self._head_sent = True
                head = self._stream_head(headers)
            return Output(head, data, end=True)
        body = self._response or b""
        response_headers = [(h.CONTENT_TYPE, h.UNARY_PREFIX + codec)]
        compression = self.spec.response_compression if self.spec is not None else None
        if compression is not None and len(body) >= config.compress_min_bytes:
            body = compression.compress(body)
            response_headers.append((h.CONTENT_ENCODING, compression.name))
        response_headers.extend(h.custom_metadata(headers))
        response_headers.extend(h.prefix_unary_trailers(trailers))
        return Output(ResponseHead(200, response_headers), body, end=True)

    def _default_codec(self) -> str:
        return self._config.codecs[0] if self._config.codecs else "proto"

    def _error_output(
        self,
        error: ConnectError,
        headers: Metadata,
        trailers: Metadata,
        codec: str,
        extra: Sequence[tuple[str, str]] = (),
    ) -> Output:
        if self._enveloped:
            # "Streaming responses always have an HTTP status of 200 OK."
            self._head_sent = True
            head = ResponseHead(
                200,
                [(h.CONTENT_TYPE, h.STREAM_PREFIX + codec), *extra, *h.custom_metadata(headers)],
            )
            return Output(head, self._end_stream(error, trailers), end=True)
        response_headers = [_JSON_HEADERS, *extra, *h.custom_metadata(headers)]
        response_headers.extend(h.prefix_unary_trailers(trailers))
        response_headers.extend(h.custom_metadata(error.metadata))
        return Output(
            ResponseHead(error.code.http_status, response_headers), error_to_json(error), True
        )

    def _stream_head(self, headers: Metadata) -> ResponseHead:
        spec = self.spec
        codec = spec.codec if spec is not None else self._default_codec()
        response_headers = [(h.CONTENT_TYPE, h.STREAM_PREFIX + codec)]
        if spec is not None and spec.response_compression is not None:
            response_headers.append((h.CONNECT_CONTENT_ENCODING, spec.response_compression.name))
        if headers:
            response_headers.extend(h.custom_metadata(headers))
        return ResponseHead(200, response_headers)

    def _frame(self, data: bytes) -> bytes:
        spec = self.spec
        compression = spec.response_compression if spec is not None else None
        if compression is not None and len(data) >= self._config.compress_min_bytes:
            return encode_envelope(compression.compress(data), EnvelopeFlags.COMPRESSED)
        return encode_envelope(data)

    @staticmethod
    def _end_stream(error: ConnectError | None, trailers: Metadata) -> bytes:
        return encode_envelope(
            encode_end_stream(EndStream(error, trailers)), EnvelopeFlags.END_STREAM
        )

    def _check_open(self) -> None:
        if self._response_done:
            raise LocalProtocolError("the response has ended already")

    @property
    def response_started(self) -> bool:
        """Whether a response head has been handed out (a refusal counts)."""
        return self._head_sent or self._response_done

    @property
    def response_done(self) -> bool:
        """Whether the response has ended."""
        return self._response_done
