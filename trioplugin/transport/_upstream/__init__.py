"""What the transport takes from other libraries beyond their documented API, in one place.

Every import of hpack, httptools and httpx in the library is in this package,
one module per library, and every reliance on a library's internals or on
behaviour it does not promise is written down here: what, where it is used,
the upstream issue or code it depends on, and a canary in
``tests/transport/test_upstream_canaries.py`` that fails the day upstream
changes it (when one fails, read the entry: the workaround may be obsolete,
or the code that relies on it wrong). h2, h11 and hyperframe are not used at
run time (the test suite's peers only); ``tests/test_imports.py`` checks that
every run-time import is declared in ``pyproject.toml``. This package imports
nothing itself, so that ``import trioplugin`` does not import httpx.

hpack (python-hyper/hpack; ``_hpack.py``, used by ``_http2/_hpack.py``)

- H1 ``hpack.table.HeaderTable.STATIC_TABLE``, undocumented, read as RFC 7541
  Appendix A (the indexes our encoder sends). No upstream issue.
- H2 ``Decoder.header_table.dynamic_entries``, undocumented, to tell whether a
  block left the dynamic table alone. No upstream issue found.
- H3 ``max_header_list_size`` is RFC 9113 §6.5.2's size, checked field by
  field; ``OversizedHeaderListError`` is a ``HPACKDecodingError``
  (CVE-2016-6581, hpack 2.3.0).
- H4 a malformed block raises an ``HPACKError``, never anything else.
- H5 a table size update after a block's first field is refused
  (python-hyper/hpack#97, #100); the decoded-block cache depends on it.
- H6 the decoder allows a table of 4096 bytes, the size we advertise by not
  sending SETTINGS_HEADER_TABLE_SIZE; larger updates are refused.
- H7 ``decode(raw=True)`` returns a list of byte pairs (annotated
  ``Iterable[HeaderTuple]``). No upstream issue found.
- H8 hpack logs every decoded and evicted header field at DEBUG on the
  undocumented ``hpack.hpack`` and ``hpack.table`` loggers, credentials
  included, with no switch but the level. Workaround: a filter drops their
  DEBUG records. No upstream issue found. Canary in
  ``tests/transport/test_upstream_hpack_logging.py``.

llhttp through httptools (nodejs/llhttp, MagicStack/httptools; ``_llhttp.py``,
used by ``_http1/_reader.py``)

- L1 versions: ``get_http_version()`` is ``"1.1"``; llhttp accepts only 0.9,
  1.0, 1.1 and 2.0 (we answer 505 to the other two) and refuses
  ``HTTP/1.2`` and the like (400), where RFC 9112 §2.3 says a server SHOULD
  read 1.x as 1.1. Not special-cased. No upstream issue found.
- L2 an upgrade request ends at its head (``on_message_complete``) and
  ``HttpParserUpgrade`` (not an ``HttpParserError``) carries the offset
  after it (MagicStack/httptools#17, #56). Workaround: a primed parser reads
  the body of an upgrade the server declines (``body_parser``).
- L3 a callback's exception comes out as ``HttpParserCallbackError``, the
  original only as its ``__context__``. The reader keeps its own error.
- L4 llhttp leaves trailing whitespace in field values
  (nodejs/http-parser#393, by design). Workaround: the reader strips it.
- L5 a response's ``Transfer-Encoding: chunked`` followed by a tab is read
  until close by llhttp (nodejs/llhttp#876, open). Workaround: refused.
- L6 ``should_keep_alive()`` is wrong once the message has ended (llhttp
  resets its flags: nodejs/llhttp#147); the reader asks in
  ``on_headers_complete``.
- L7 llhttp lets through only token field names and ``Content-Length``
  values of digits, once, without ``Transfer-Encoding``, not overflowing:
  the reader decodes the names and converts the length unchecked. No
  upstream issue.
- L8 ``on_header`` is called once per whole field however the bytes were
  split (httptools joins llhttp's pieces, which llhttp itself hands out in
  parts: nodejs/llhttp#412), trailer fields included, after
  ``on_headers_complete``.
- L9 httptools has no end-of-input call (``llhttp_finish``) and llhttp no
  head size limit: the reader ends a close-delimited body at EOF and counts
  the head itself. No upstream issue found.
- L10 a 1xx response ends at its head; the final response follows as a new
  message. A status below 100 llhttp reads as a final response (RFC 9110
  §15: an invalid status is read as a 5xx), and so does the reader. But only
  100 to 103 end at their head whatever their fields: past 103, llhttp reads
  a body by ``Content-Length`` or ``Transfer-Encoding``
  (``llhttp__after_headers_complete``), where RFC 9112 §6.3 says a 1xx has
  none. Workaround: the reader refuses a 1xx once a body byte comes. No
  upstream issue found.
- L11 a request whose last transfer coding is not ``chunked`` is refused by
  llhttp (RFC 9112 §6.3); a response like it is read until close, as the
  reader's own reading of the framing says.

httpx and httpcore (encode/httpx, encode/httpcore; ``_httpx.py``, used by
``_httpx_client.py``, imported on first use)

- X1 the ``__cause__`` chain of an httpx exception holds httpcore's and the
  backend's, down to the ``ssl.SSLError`` or ``OSError``
  (encode/httpcore#678); httpx has no TLS error of its own
  (encode/httpx#3350, open).
- X2 the ``network_stream`` and ``http_version`` response extensions
  (httpcore's): peer address, TLS details, HTTP version.
- X3 the default ``Accept-Encoding`` is added when a request is built, not
  sent; the transport removes it. No upstream issue found.
- X4 ``Response.aclose()`` in a cancelled scope still releases the connection
  (httpcore's shield, encode/httpcore#726; encode/httpcore#927 would change it).
- X5 the connect timeout applies to the TCP connect and again to the TLS
  handshake. No upstream issue found.
- X6 ``http2=True`` makes httpcore import h2 (``httpx[http2]``): declared as the
  ``httpx-http2`` extra, not a dependency (our transports do not need it).
"""
