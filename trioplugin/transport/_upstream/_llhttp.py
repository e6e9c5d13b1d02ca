"""llhttp, through httptools, under our HTTP/1.1 (``_http1/_reader.py``): every use of it is here.

httptools is the Python binding (MagicStack/httptools) of llhttp, the parser
of Node.js (nodejs/llhttp): it checks the syntax and the framing and calls
the reader back (``on_message_begin``, ``on_url``, ``on_header``, ...). What
the reader counts on beyond what httptools documents, or works around, is
marked ``L1`` ... ``L11`` here and listed in ``_upstream/__init__.py``; each
has a canary in ``tests/transport/test_upstream_canaries.py``. The parser's
own methods (``get_http_version``, ``should_keep_alive``, ``get_method``,
``get_status_code``) are called by the reader directly, on its hot path.
"""

from __future__ import annotations

from typing import Final, TypeAlias, final

import httptools

RequestParser: TypeAlias = httptools.HttpRequestParser
ResponseParser: TypeAlias = httptools.HttpResponseParser
Parser: TypeAlias = RequestParser | ResponseParser

FIELD_OWS: Final = b" \t"
"""L4: the whitespace llhttp leaves at the end of a field value.

llhttp drops the optional whitespace before a value but not after it (as
http-parser did, by design: nodejs/http-parser#393, "you just have to deal
with it"); RFC 9110 §5.5 says a parser MUST exclude it. The reader strips it.
"""


@final
class Malformed(Exception):
    """llhttp refused the bytes (the message is its reason, after what it was parsing)."""


@final
class CallbackRaised(Exception):
    """A parser callback raised: llhttp stopped there.

    L3: httptools reports any exception from a callback as
    ``HttpParserCallbackError``, the original only as its ``__context__``; so
    the reader keeps the error it means to raise itself, then stops llhttp.
    """


def new_parser(protocol: object, *, client: bool) -> Parser:
    """A parser of responses (``client``) or of requests, calling ``protocol`` back."""
    if client:
        return httptools.HttpResponseParser(protocol)
    return httptools.HttpRequestParser(protocol)


def failed(exc: Exception) -> int:
    """What an exception from ``feed_data`` means: where an upgrade's rest begins, or why not.

    The reader calls ``feed_data`` itself (its hot path) and this on any
    exception from it.

    L2: a request asking to switch protocols (``Connection: upgrade`` with
    ``Upgrade``, or ``CONNECT``), or a 101 response, ends at its head:
    httptools tells llhttp to skip the body, calls ``on_message_complete``,
    then raises ``HttpParserUpgrade`` (not an ``HttpParserError``) with the
    offset of the rest in the data fed (MagicStack/httptools#17: raised after
    the callbacks), having already let llhttp go on
    (``llhttp_resume_after_upgrade`` inside ``feed_data``,
    MagicStack/httptools#56). There is no way to have the body parsed: see
    :func:`body_parser`.

    Raises:
        Malformed: llhttp refused the bytes (it refuses all later ones too).
        CallbackRaised: a callback raised.
        Exception: ``exc``, if httptools did not raise it.
    """
    if isinstance(exc, httptools.HttpParserUpgrade):
        return int(exc.args[0])
    if isinstance(exc, httptools.HttpParserCallbackError):
        raise CallbackRaised from exc
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        raise Malformed(f"invalid request method: {exc}") from exc
    if isinstance(exc, httptools.HttpParserInvalidStatusError):
        raise Malformed(f"invalid status line: {exc}") from exc
    if isinstance(exc, httptools.HttpParserInvalidURLError):
        raise Malformed(f"invalid request target: {exc}") from exc
    if isinstance(exc, httptools.HttpParserError):
        raise Malformed(f"malformed HTTP/1.1: {exc}") from exc
    raise exc


def body_parser(protocol: object, framing: bytes) -> RequestParser:
    """A request parser primed to read a body framed by ``framing`` (one field line).

    The workaround for L2 on a server that declines an upgrade (RFC 9110
    §7.8): llhttp ended the request at its head, so a fresh parser is fed a
    head of its own with the request's framing (``content-length: N`` or
    ``transfer-encoding: chunked``) and reads the body that follows. Its
    callbacks run on ``protocol`` during this call. No upstream issue found
    for reading the body of an upgrade request.
    """
    parser = httptools.HttpRequestParser(protocol)
    parser.feed_data(b"POST / HTTP/1.1\r\n" + framing + b"\r\n\r\n")
    return parser


def misreads_chunked(raw: bytes) -> bool:
    """Whether llhttp frames a message with ``Transfer-Encoding: raw`` otherwise than as chunked.

    L5: a tab in the whitespace after a final ``chunked`` makes llhttp read
    a response until the connection closes, its chunk framing handed on as
    body (nodejs/llhttp#876, open), where RFC 9110 §5.5 says the value is
    ``chunked``. (A request of that form llhttp refuses.) The reader refuses
    such a message rather than frame it otherwise than llhttp.
    """
    value = raw.rstrip(FIELD_OWS)
    return b"\t" in raw[len(value) :] and value.rpartition(b",")[2].strip().lower() == b"chunked"
