"""Our HTTP/1.1 server against real HTTP/1.1 clients: curl and nghttp2's h2load.

Each test runs the EchoService of ``tests/echo_service.py`` on a real server
on 127.0.0.1 and points a tool at it, in a process of its own:

- curl ``--http1.1``: a unary call with a JSON body; the same body sent in
  chunks (``Transfer-Encoding: chunked``); with ``Expect: 100-continue``
  (the server answers 100 when the handler first reads the body); and a
  1 MiB body each way.
- curl ``--http2`` on an ``http://`` URL: curl asks to switch to h2c with
  ``Upgrade: h2c`` on its POST. The server declines, as RFC 9110 section
  7.8 lets it, and serves the request over HTTP/1.1, body and all.
- h2load ``--h1``: 2,000 calls on 4 keep-alive connections, 16 requests
  pipelined on each, answered in order.

The tools are curl and nghttp2-client (h2load); ``.ci/run`` installs the
latter where apt-get can. A test whose tool is missing skips, saying so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import pytest

from tests.echo_service import ECHO, EchoImpl
from tests.interop._tools import JSON, h2load_counts, json_file, run_tool

pytestmark = pytest.mark.interop

ECHO_PATH: Final = f"/{ECHO.name}/Echo"
BIG_TEXT: Final = "big" * (1024 * 1024 // 3 + 1)
"""A little over 1 MiB."""


async def _curl(curl: str, url: str, *args: str) -> tuple[str, int, str]:
    """curl ``url`` (HTTP/1.1 unless ``args`` say otherwise): its HTTP version, status, body."""
    out = await run_tool(
        curl, "--silent", "--show-error", "-w", r"\n%{http_version} %{http_code}", *args, url
    )
    body, _, status = out.rpartition("\n")
    http_version, code = status.split()
    return http_version, int(code), body


def _echoed(body: str) -> dict[str, object]:
    answer = json.loads(body)
    assert answer["seen"] == {"http-version": "1.1"}, answer
    return dict(answer)


async def test_curl_unary_json(curl: str, our_url: str) -> None:
    version, code, body = await _curl(
        curl, our_url + ECHO_PATH, "--http1.1", *JSON, "--data", '{"text": "hello curl"}'
    )
    assert (version, code) == ("1.1", 200)
    assert _echoed(body)["text"] == "hello curl"


async def test_curl_chunked_request_body(curl: str, our_url: str, tmp_path: Path) -> None:
    request = json_file(tmp_path, {"text": "in chunks"})
    version, code, body = await _curl(
        curl,
        our_url + ECHO_PATH,
        "--http1.1",
        *JSON,
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "@" + request,
    )
    assert (version, code) == ("1.1", 200)
    assert _echoed(body)["text"] == "in chunks"


async def test_curl_expect_100_continue(curl: str, our_url: str, echo_impl: EchoImpl) -> None:
    # curl waits (up to its --expect100-timeout) for the 100 before sending the body.
    version, code, body = await _curl(
        curl,
        our_url + ECHO_PATH,
        "--http1.1",
        "--expect100-timeout",
        "20",
        *JSON,
        "-H",
        "Expect: 100-continue",
        "--data",
        '{"text": "after the 100"}',
    )
    assert (version, code) == ("1.1", 200)
    assert _echoed(body)["text"] == "after the 100"
    assert echo_impl.calls == 1


async def test_curl_large_body_both_ways(curl: str, our_url: str, tmp_path: Path) -> None:
    request = json_file(tmp_path, {"text": BIG_TEXT})
    version, code, body = await _curl(
        curl, our_url + ECHO_PATH, "--http1.1", *JSON, "--data-binary", "@" + request
    )
    assert (version, code) == ("1.1", 200)
    text = _echoed(body)["text"]
    assert isinstance(text, str) and len(text) == len(BIG_TEXT)
    assert text == BIG_TEXT


async def test_curl_h2c_upgrade_is_declined_and_the_post_served(
    curl: str, our_url: str, echo_impl: EchoImpl
) -> None:
    assert our_url.startswith("http://")
    version, code, body = await _curl(
        curl, our_url + ECHO_PATH, "--http2", *JSON, "--data", '{"text": "no upgrade"}'
    )
    assert (version, code) == ("1.1", 200)
    assert _echoed(body)["text"] == "no upgrade"
    assert echo_impl.calls == 1


async def test_h2load_pipelined_keep_alive_calls(
    h2load: str, our_url: str, echo_impl: EchoImpl, tmp_path: Path
) -> None:
    body = json_file(tmp_path, {"text": "load"})
    got = await h2load_counts(
        h2load, our_url + ECHO_PATH, body, "--h1", "-n", "2000", "-c", "4", "-m", "16"
    )
    assert got["done"] == got["succeeded"] == 2000, got
    assert (got["failed"], got["errored"], got["timeout"]) == (0, 0, 0), got
    assert got["status_2xx"] == 2000, got
    assert echo_impl.calls == 2000
