"""Our HTTP/2 server against real HTTP/2 tools: curl, and nghttp2's h2load and nghttp.

Each test runs the EchoService of ``tests/echo_service.py`` on a real server
on 127.0.0.1 and points one of the tools at it in a process of its own:

- curl (built with nghttp2): Connect unary calls with JSON bodies over h2c
  with prior knowledge, and over TLS with ALPN ``h2``; an unknown method's
  ``unimplemented`` error; a 1 MiB body, which only gets through if the
  server keeps opening the stream's flow-control window.
- h2load: 2000 unary calls on 4 connections, 16 streams each; and 100 streams
  each against a server that allows only a few (``max_concurrent_streams``).
- nghttp: one call, with every frame printed, to check the server's SETTINGS
  and the response; an unknown method; and more streams than allowed, to
  check they are refused one by one (``RST_STREAM(REFUSED_STREAM)``), not the
  connection.

What can't be asserted, and why:

- curl 7.88 fails (``(92) Stream error in the HTTP/2 framing layer``), now
  and then, a POST answered before all of its body was sent, once the
  server ends the upload with ``RST_STREAM(NO_ERROR)`` as RFC 9113 section 8.1
  lets it (and there says clients must keep the response). An unknown method
  is answered at once, so curl calls it with a Connect GET, which has no body;
  nghttp, which keeps the response, calls it with a POST.
- h2load (like any nghttp2 client) sends its first ``-m`` requests with its
  connection preface, before the server's SETTINGS can arrive. The streams of
  that first burst beyond the server's limit are refused (RFC 9113 section
  5.1.2) and h2load counts them as failed without retrying, so with ``-m``
  above the limit "every request succeeded" is out of reach. What is
  asserted: only that burst fails, every later request succeeds (h2load kept
  to the advertised limit), and the server never ran more calls at once on a
  connection than it advertised.

The tools are nghttp2-client (h2load, nghttp) and curl; ``.ci/run`` installs
nghttp2-client where apt-get can. A test whose tool is missing skips, saying so.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Final

import pytest
import trio
import trustme

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from tests.interop._tools import JSON, h2load_counts, json_file, run_tool
from tests.tls import server_context
from trioplugin import ServerOptions
from trioplugin.rpc import HandlerContext, serve_connect
from trioplugin.transport import Server, ServerLimits

pytestmark = pytest.mark.interop

ECHO_PATH: Final = f"/{ECHO.name}/Echo"
STREAM_LIMIT: Final = 8
"""The ``max_concurrent_streams`` of the server that allows only a few streams."""
BIG_TEXT: Final = "big" * (1024 * 1024 // 3 + 1)
"""A little over 1 MiB: sixteen times a stream's 64 KiB receive window."""


# --- the tools -----------------------------------------------------------------


async def _curl(curl: str, url: str, *args: str, tls: bool = False) -> tuple[str, int, str]:
    """curl ``url`` over HTTP/2: the HTTP version it spoke, the status, the body."""
    # h2c needs prior knowledge; https gets h2 only if the server picks it in ALPN.
    version = "--http2" if tls else "--http2-prior-knowledge"
    out = await run_tool(
        curl,
        "--silent",
        "--show-error",
        version,
        "-w",
        r"\n%{http_version} %{http_code}",
        *args,
        url,
    )
    body, _, status = out.rpartition("\n")
    http_version, code = status.split()
    return http_version, int(code), body


# --- servers -------------------------------------------------------------------


class CountingEcho(EchoImpl):
    """EchoService that also counts the calls running at once on each connection."""

    def __init__(self) -> None:
        super().__init__()
        self.running: Counter[object] = Counter()
        self.peak: Counter[object] = Counter()

    async def Echo(self, request: EchoRequest, ctx: HandlerContext) -> EchoResponse:
        connection = ctx.peer.address if ctx.peer is not None else None
        self.running[connection] += 1
        self.peak[connection] = max(self.peak[connection], self.running[connection])
        try:
            return await super().Echo(request, ctx)
        finally:
            self.running[connection] -= 1


@pytest.fixture
def counting_echo() -> CountingEcho:
    return CountingEcho()


@pytest.fixture
async def few_streams_server(nursery: trio.Nursery, counting_echo: CountingEcho) -> Server:
    """A server that allows STREAM_LIMIT streams at once on a connection."""
    limits = ServerLimits(max_concurrent_streams=STREAM_LIMIT)
    server: Server = await nursery.start(
        partial(serve_connect, {ECHO: counting_echo}, ServerOptions(limits=limits))
    )
    return server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_url(nursery: trio.Nursery, ca: trustme.CA) -> str:
    server: Server = await nursery.start(
        partial(serve_connect, {ECHO: EchoImpl()}, ServerOptions(ssl_context=server_context(ca)))
    )
    return server.url


# --- curl ----------------------------------------------------------------------


async def test_curl_unary_json(curl: str, our_url: str) -> None:
    version, code, body = await _curl(
        curl, our_url + ECHO_PATH, *JSON, "--data", '{"text": "hello curl"}'
    )
    assert (version, code) == ("2", 200)
    assert json.loads(body) == {"text": "hello curl", "seen": {"http-version": "2"}}


async def test_curl_unknown_method_is_unimplemented(curl: str, our_url: str) -> None:
    # A Connect GET: a POST's body may still be on its way (see the module docstring).
    url = f"{our_url}/{ECHO.name}/NoSuchMethod?encoding=json&message=%7B%7D"
    version, code, body = await _curl(curl, url)
    assert (version, code) == ("2", 404)
    error = json.loads(body)
    assert error["code"] == "unimplemented"
    assert "NoSuchMethod" in error["message"]


async def test_curl_large_body_round_trips_through_flow_control(
    curl: str, our_url: str, tmp_path: Path
) -> None:
    # 1 MiB each way: the request needs the server's WINDOW_UPDATEs to get through.
    request = json_file(tmp_path, {"text": BIG_TEXT})
    version, code, body = await _curl(
        curl, our_url + ECHO_PATH, *JSON, "--data-binary", "@" + request
    )
    assert (version, code) == ("2", 200)
    text = json.loads(body)["text"]
    assert len(text) == len(BIG_TEXT)
    assert text == BIG_TEXT


async def test_curl_over_tls_with_alpn_h2(
    curl_tls: str, tls_url: str, ca: trustme.CA, tmp_path: Path
) -> None:
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    assert tls_url.startswith("https://")
    version, code, body = await _curl(
        curl_tls,
        tls_url + ECHO_PATH,
        "--cacert",
        str(cafile),
        *JSON,
        "--data",
        '{"text": "over tls"}',
        tls=True,
    )
    assert (version, code) == ("2", 200)
    assert json.loads(body) == {"text": "over tls", "seen": {"http-version": "2"}}


# --- h2load --------------------------------------------------------------------


async def test_h2load_many_unary_calls(
    h2load: str, our_url: str, echo_impl: EchoImpl, tmp_path: Path
) -> None:
    body = json_file(tmp_path, {"text": "load"})
    got = await h2load_counts(
        h2load, our_url + ECHO_PATH, body, "-n", "2000", "-c", "4", "-m", "16"
    )
    assert got["done"] == got["succeeded"] == 2000, got
    assert (got["failed"], got["errored"], got["timeout"]) == (0, 0, 0), got
    assert got["status_2xx"] == 2000, got
    assert echo_impl.calls == 2000


async def test_h2load_keeps_to_max_concurrent_streams(
    h2load: str, few_streams_server: Server, counting_echo: CountingEcho, tmp_path: Path
) -> None:
    # Each call sleeps 1 ms in its handler, so the calls of a connection overlap.
    body = json_file(tmp_path, {"text": "load", "delayMs": 1})
    clients, streams, total = 4, 100, 2000
    got = await h2load_counts(
        h2load,
        few_streams_server.url + ECHO_PATH,
        body,
        *("-n", str(total), "-c", str(clients), "-m", str(streams)),
    )
    # Every request got an answer; only the first burst of each connection, sent
    # before the server's SETTINGS arrived, can have been refused.
    burst = clients * (streams - STREAM_LIMIT)
    assert got["done"] == total, got
    assert got["timeout"] == 0, got
    assert got["succeeded"] + got["failed"] == total, got
    assert got["failed"] <= burst, got
    assert got["status_2xx"] == got["succeeded"] == counting_echo.calls, got
    # The server kept its limit, and closed no connection over the refusals.
    assert len(counting_echo.peak) == clients
    assert max(counting_echo.peak.values()) <= STREAM_LIMIT, counting_echo.peak
    stats = few_streams_server.statistics()
    assert stats.connections_closed_protocol_error == 0, stats
    assert stats.connections_closed_limit == 0, stats


# --- nghttp --------------------------------------------------------------------


def _received_settings(out: str) -> dict[str, int]:
    """The parameters of the (non-ACK) SETTINGS frame nghttp -v says it received."""
    match = re.search(
        r"recv SETTINGS frame <[^>]*flags=0x00[^>]*>\n\s+\(niv=\d+\)\n((?:\s+\[.*\]\n)*)", out
    )
    assert match is not None, f"no SETTINGS from the server in:\n{out}"
    return {
        name: int(value)
        for name, value in re.findall(r"\[(SETTINGS_\w+)\(0x[0-9a-f]+\):(\d+)\]", match.group(1))
    }


def _nghttp_body(out: str) -> dict[str, Any]:
    """The JSON response body nghttp -v wrote between its frame lines."""
    start = out.find('{"')
    assert start >= 0, f"no JSON body in:\n{out}"
    message, _ = json.JSONDecoder().raw_decode(out, start)
    assert isinstance(message, dict), message
    return message


async def test_nghttp_frames_of_one_call(
    nghttp: str, few_streams_server: Server, tmp_path: Path
) -> None:
    body = json_file(tmp_path, {"text": "frames"})
    out = await run_tool(nghttp, "-v", "-d", body, *JSON, few_streams_server.url + ECHO_PATH)
    settings = _received_settings(out)
    assert settings["SETTINGS_MAX_CONCURRENT_STREAMS"] == STREAM_LIMIT, settings
    assert re.search(r"recv \(stream_id=\d+\) :status: 200$", out, re.MULTILINE), out
    assert re.search(r"recv \(stream_id=\d+\) content-type: application/json$", out, re.MULTILINE)
    assert _nghttp_body(out) == {"text": "frames", "seen": {"http-version": "2"}}
    assert not re.search(r"recv GOAWAY", out), out


async def test_nghttp_unknown_method_is_unimplemented(
    nghttp: str, our_url: str, tmp_path: Path
) -> None:
    body = json_file(tmp_path, {"text": "nobody reads this"})
    out = await run_tool(nghttp, "-v", "-d", body, *JSON, f"{our_url}/{ECHO.name}/NoSuchMethod")
    assert re.search(r"recv \(stream_id=\d+\) :status: 404$", out, re.MULTILINE), out
    error = _nghttp_body(out)
    assert error["code"] == "unimplemented", error
    # The server may answer before the request body is in, then stop the upload,
    # but only with RST_STREAM(NO_ERROR), after the complete response.
    resets = re.findall(r"recv RST_STREAM frame [^\n]*\n\s+\(error_code=(\w+)", out)
    assert set(resets) <= {"NO_ERROR"}, resets


async def test_nghttp_streams_beyond_the_limit_are_refused_alone(
    nghttp: str, few_streams_server: Server, counting_echo: CountingEcho, tmp_path: Path
) -> None:
    # 3 x STREAM_LIMIT requests at once, all sent before the server's SETTINGS.
    body = json_file(tmp_path, {"text": "many", "delayMs": 1})
    count = 3 * STREAM_LIMIT
    # nghttp exits 1 when some of its requests went unanswered: the refused ones.
    url = few_streams_server.url + ECHO_PATH
    out = await run_tool(nghttp, "-nv", "-m", str(count), "-d", body, *JSON, url, check=False)
    answered = len(re.findall(r"recv \(stream_id=\d+\) :status: 200$", out, re.MULTILINE))
    resets = re.findall(r"recv RST_STREAM frame [^\n]*\n\s+\(error_code=(\w+)", out)
    assert answered >= STREAM_LIMIT, out
    assert answered + len(resets) == count, out
    assert set(resets) <= {"REFUSED_STREAM"}, resets
    assert counting_echo.calls == answered
    assert max(counting_echo.peak.values()) <= STREAM_LIMIT, counting_echo.peak
    assert not re.search(r"recv GOAWAY", out), out
    stats = few_streams_server.statistics()
    assert stats.connections_closed_protocol_error == 0, stats
    assert stats.connections_closed_limit == 0, stats
