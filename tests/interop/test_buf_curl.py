"""Our server against ``buf curl``, the Connect client of Buf's CLI (connect-go inside).

Each test runs the EchoService of ``tests/echo_service.py`` on a real server
on 127.0.0.1 and calls it with ``buf curl --protocol connect`` in a process of
its own, the schema read from ``tests/interop/node/echo.binpb`` (a
FileDescriptorSet; we have no reflection service). Every call kind, over
HTTP/1.1 and over h2c with prior knowledge: unary calls (with headers,
trailers and the deadline ``--timeout`` sends), a gzip server stream, a client
stream and a full-duplex bidi ping-pong fed through stdin, and errors, which
buf curl prints as Connect error JSON on stderr and turns into its exit code
(the code's number shifted left three bits).

buf is the pinned ``@bufbuild/buf`` of ``tests/interop/node/package.json``,
whose optional dependency ``@bufbuild/buf-<platform>`` holds the binary; it is
installed once per session with the connect-node peer (the ``npm_peers``
fixture), and the module skips, saying why, without node and npm, when the
install fails or when npm has no buf binary for this platform.

What isn't covered, and why:

- ``--protocol grpc`` and ``grpcweb``: our server speaks Connect only.
- Bidi over HTTP/1.1: buf curl calls a bidi method over HTTP/2 even without
  ``--http2-prior-knowledge``, and our server refuses bidi over HTTP/1.1.
- Connect GET and request compression: buf curl has no flags for them (it
  only offers ``Accept-Encoding: gzip``, which the server stream uses).
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import pytest
import trio
from google.protobuf import descriptor_pb2

from tests.echo_pb2 import FailureInfo
from tests.echo_service import ECHO
from tests.interop._peers import NODE_DIR, Lines
from trioplugin.protocol import Code

pytestmark = pytest.mark.interop

BUF: Final = NODE_DIR / "node_modules" / ".bin" / "buf"
SCHEMA: Final = NODE_DIR / "echo.binpb"
TOOL_TIMEOUT: Final = 30.0
"""A buf curl call takes well under a second here; a loaded CI box is slower."""
BIG: Final = 20_000
"""A response payload big enough that the server gzips it."""


@pytest.fixture(scope="module")
def buf(npm_peers: None) -> str:
    """The buf CLI, installed by ``npm ci``, at the version package.json pins."""
    if not BUF.exists():
        pytest.skip(f"npm installed no {BUF} (no @bufbuild/buf binary for this platform?)")
    pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["@bufbuild/buf"]
    version = subprocess.run(
        [BUF, "--version"], capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )
    assert (version.returncode, version.stdout.strip()) == (0, pinned), version.stderr
    return str(BUF)


@dataclass
class Result:
    """How a ``buf curl`` run ended: its exit code and what it wrote."""

    returncode: int
    stdout: str
    stderr: str

    def messages(self) -> list[Any]:
        """The JSON documents (response messages) buf curl wrote to stdout, in order."""
        decoder, documents, index = json.JSONDecoder(), [], 0
        while self.stdout[index:].strip():
            while self.stdout[index].isspace():
                index += 1
            document, index = decoder.raw_decode(self.stdout, index)
            documents.append(document)
        return documents

    def error(self, code: Code) -> dict[str, Any]:
        """The Connect error buf curl reported, which must be ``code``."""
        assert self.returncode == code.number << 3, self
        error = json.loads(self.stderr)
        assert isinstance(error, dict), error
        assert error["code"] == code.value, error
        return error

    def headers(self) -> tuple[dict[str, str], dict[str, str]]:
        """The response headers and trailers ``--verbose`` wrote to stderr (names lowercased)."""
        headers: dict[str, str] = {}
        trailers: dict[str, str] = {}
        for line in self.stderr.splitlines():
            # "buf: < (#1) Name: value", and "buf: < (#1) [*] Name: value" for a trailer.
            prefix, found, field = line.partition(") ")
            if not (found and prefix.startswith("buf: < (#")) or ": " not in field:
                continue
            into = trailers if field.startswith("[*] ") else headers
            name, _, value = field.removeprefix("[*] ").partition(": ")
            into[name.lower()] = value
        return headers, trailers


def _command(
    buf: str, url: str, method: str, http_version: str, *args: str, schema: Path = SCHEMA
) -> list[str]:
    """The ``buf curl`` command line calling ``method`` (h2c with prior knowledge for "2")."""
    h2 = ["--http2-prior-knowledge"] if http_version == "2" else []
    url = f"{url}/{ECHO.name}/{method}"
    return [buf, "curl", "--protocol", "connect", *h2, "--schema", str(schema), *args, url]


async def _buf_curl(
    buf: str,
    url: str,
    method: str,
    http_version: str,
    *args: str,
    stdin: bytes = b"",
    schema: Path = SCHEMA,
) -> Result:
    """Run ``buf curl`` on ``method`` (at most TOOL_TIMEOUT); what it exited with and wrote."""
    with trio.fail_after(TOOL_TIMEOUT):
        result = await trio.run_process(
            _command(buf, url, method, http_version, *args, schema=schema),
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return Result(result.returncode, result.stdout.decode(), result.stderr.decode())


def _data(*messages: dict[str, Any]) -> bytes:
    """Request messages as buf curl reads them with ``-d @-``: JSON documents, one a line."""
    return b"".join(json.dumps(message).encode() + b"\n" for message in messages)


def _ok(result: Result) -> list[Any]:
    assert result.returncode == 0, f"buf curl exited with {result.returncode}:\n{result.stderr}"
    return result.messages()


async def test_unary(buf: str, our_url: str, peer_http_version: str) -> None:
    result = await _buf_curl(
        buf,
        our_url,
        "Echo",
        peer_http_version,
        *("--verbose", "--timeout", "5s", "-H", "x-trace: abc", "-d", '{"text": "hi"}'),
    )
    [message] = _ok(result)
    seen = message.pop("seen")
    assert message == {"text": "hi"}
    # The handler ran under the deadline buf sent.
    timeout, remaining = int(seen.pop("connect-timeout-ms")), int(seen.pop("remaining-ms"))
    assert 4000 < remaining <= timeout <= 5000
    assert seen == {"http-version": peer_http_version, "x-trace": "abc"}
    headers, _ = result.headers()
    assert headers["content-type"] == "application/proto"
    assert headers["x-echo"] == "1"
    assert headers["trailer-x-trailer"] == "done"


async def test_server_stream_gzip(buf: str, our_url: str, peer_http_version: str) -> None:
    request = json.dumps({"text": "s", "repeat": 3, "responseSize": BIG})
    result = await _buf_curl(
        buf,
        our_url,
        "ServerStream",
        peer_http_version,
        "--verbose",
        "--emit-defaults",
        "-d",
        request,
    )
    payload = base64.b64encode(b"x" * BIG).decode()
    seen = {"http-version": peer_http_version}
    assert _ok(result) == [
        {"text": "s", "payload": payload, "index": index, "seen": seen} for index in range(3)
    ]
    headers, trailers = result.headers()
    assert headers["content-type"] == "application/connect+proto"
    assert headers["connect-content-encoding"] == "gzip"
    assert headers["x-echo"] == "stream"
    assert trailers == {"x-count": "3"}


async def test_client_stream_from_stdin(buf: str, our_url: str, peer_http_version: str) -> None:
    data = _data(*({"text": text} for text in "abc"))
    result = await _buf_curl(
        buf, our_url, "ClientStream", peer_http_version, "-d", "@-", stdin=data
    )
    assert _ok(result) == [
        {"text": "a,b,c", "index": 3, "seen": {"http-version": peer_http_version}}
    ]


async def _next_message(lines: Lines) -> Any:
    """The next (pretty-printed, several lines) JSON document on buf's stdout."""
    text = b""
    while True:
        text += await lines.next() + b"\n"
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            continue


async def _read_all(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
    async for chunk in stream:
        into += chunk


async def test_bidi_ping_pong(buf: str, our_url: str) -> None:
    # Each request goes only once the answer to the previous one is in, with
    # the request stream still open: this ends (before TOOL_TIMEOUT) only if
    # both ends are full duplex.
    command = _command(buf, our_url, "Bidi", "2", "--emit-defaults", "-d", "@-")
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    got, stderr = [], bytearray()
    with trio.fail_after(TOOL_TIMEOUT):
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(trio.run_process, command, check=False, **pipes)
            )
            assert process.stdin and process.stdout and process.stderr
            nursery.start_soon(_read_all, process.stderr, stderr)
            lines = Lines(process.stdout)
            for index in range(3):
                await process.stdin.send_all(_data({"text": f"ping {index}"}))
                got.append(await _next_message(lines))
            await process.stdin.aclose()
    assert process.returncode == 0, stderr.decode()
    seen = {"http-version": "2"}
    assert got == [
        {"text": f"ping {index}", "payload": "", "index": index, "seen": seen} for index in range(3)
    ]


def _failure_detail(error: dict[str, Any], text: str) -> None:
    """``error`` carries the FailureInfo EchoService attaches when asked to fail."""
    assert error["message"] == f"asked to fail: {text}"
    [detail] = error["details"]
    assert detail["type"] == "trioplugin.test.v1.FailureInfo"
    assert detail["debug"] == {"reason": text}
    value = base64.b64decode(detail["value"] + "=" * (-len(detail["value"]) % 4))
    assert FailureInfo.FromString(value) == FailureInfo(reason=text)


async def test_unary_error_with_details(buf: str, our_url: str, peer_http_version: str) -> None:
    request = json.dumps({"text": "why", "failCode": "failed_precondition"})
    result = await _buf_curl(buf, our_url, "Echo", peer_http_version, "-d", request)
    assert result.stdout == ""
    _failure_detail(result.error(Code.FAILED_PRECONDITION), "why")


async def test_server_stream_error_after_messages(
    buf: str, our_url: str, peer_http_version: str
) -> None:
    request = json.dumps({"text": "boom", "repeat": 2, "failCode": "aborted"})
    result = await _buf_curl(
        buf, our_url, "ServerStream", peer_http_version, "--emit-defaults", "-d", request
    )
    assert [message["index"] for message in result.messages()] == [0, 1]
    _failure_detail(result.error(Code.ABORTED), "boom")


def _schema_with(path: Path, method: str) -> Path:
    """SCHEMA with one more EchoService method, which our server doesn't have."""
    files = descriptor_pb2.FileDescriptorSet.FromString(SCHEMA.read_bytes())
    [service] = [
        service
        for file in files.file
        for service in file.service
        if f"{file.package}.{service.name}" == ECHO.name
    ]
    [echo] = [existing for existing in service.method if existing.name == "Echo"]
    service.method.add(name=method, input_type=echo.input_type, output_type=echo.output_type)
    path.write_bytes(files.SerializeToString())
    return path


async def test_unknown_method_is_unimplemented(
    buf: str, our_url: str, peer_http_version: str, tmp_path: Path
) -> None:
    schema = _schema_with(tmp_path / "echo-plus.binpb", "NoSuchMethod")
    data = '{"text": "nobody reads this"}'
    result = await _buf_curl(
        buf, our_url, "NoSuchMethod", peer_http_version, "-d", data, schema=schema
    )
    assert result.stdout == ""
    error = result.error(Code.UNIMPLEMENTED)
    assert "NoSuchMethod" in error["message"], error
