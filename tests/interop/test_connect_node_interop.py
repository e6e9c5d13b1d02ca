"""Interop with connect-node (``@connectrpc/connect-node``), the Connect authors' Node.js code.

Where ``test_connectrpc_interop.py`` has only an HTTP/1.1 server to talk to,
connect-node serves h2c, so this is where our own HTTP/2 client, and our bidi
calls, meet an HTTP/2 server written by someone else. Both directions, each
peer in a process of its own: our client against connect-node's server (h2c,
and HTTP/1.1 through httpx), and connect-node's client against our server
(h2c and HTTP/1.1). The peer is ``tests/interop/node/peer.mjs``; it serves and
calls the same EchoService as ``tests/echo_service.py``, described at run time
from ``tests/interop/node/echo.binpb`` (``scripts/gen-protos`` writes it).
The peer's pinned npm packages are installed once per session (``npm ci`` in
``tests/interop/node/``, the ``npm_peers`` fixture) and the module skips,
saying why, without node and npm or when the install fails.

What can't be covered, and why:

- One plaintext Node server speaks either h2c or HTTP/1.1, not both, so the
  peer serves one or the other (``serve --http-version``).
- connect-node's server refuses bidi over HTTP/1.1 (HTTP 505), so our
  HTTP/1.1 client's bidi, which we refuse anyway, has nothing to meet there.
  The other way, connect-node's client happens to do full-duplex bidi over
  HTTP/1.1 with our server, but only half duplex, what Connect promises
  there, is asserted.
- When a deadline runs out, our client's RST_STREAM(CANCEL) and the Node
  handler's own timer race, so its abort may say either; leaving a stream
  early has no such race and must say ``canceled``.
- Calls whose answer comes before the request body has been read (an early
  error in a big client stream) are left out over HTTP/1.1: connect-node's
  server then stops reading the connection until its keep-alive timer kills
  it, and the outcome depends on socket buffer sizes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import pytest
import trio

from tests.echo_pb2 import EchoRequest, EchoResponse, FailureInfo
from tests.echo_service import ECHO, EchoImpl
from tests.interop._peers import (
    NODE_DIR,
    Lines,
    echoed,
    failure,
    peer_server,
    run_scripted_calls,
)
from trioplugin.protocol import GZIP, Code, ConnectError
from trioplugin.rpc import ClientOptions, open_client
from trioplugin.transport import HTTPVersion

pytestmark = pytest.mark.interop

PEER_SCRIPT: Final = NODE_DIR / "peer.mjs"
NODE_MAJOR_MIN: Final = 20
"""connect-node 2.1 wants Node.js 20 or later (2.2 wants 22; package.json pins 2.1)."""
CALL_TIMEOUT: Final = 30.0
EVENT_TIMEOUT: Final = 5.0
"""How long the peer may take to report that a handler's signal fired."""
BIG: Final = b"abc" * 10_000


def _node_major(node: str) -> int | None:
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"v(\d+)\.", version.strip())
    return int(found.group(1)) if found else None


@pytest.fixture(scope="module", autouse=True)
def node(npm_peers: None) -> str:
    """Node.js, once the peer's npm packages are installed (once for the session)."""
    node = shutil.which("node")
    assert node is not None  # npm_peers skips without it
    major = _node_major(node)
    if major is None or major < NODE_MAJOR_MIN:
        pytest.skip(f"the connect-node peer needs Node.js {NODE_MAJOR_MIN}+, {node} is {major}")
    return node


# --- connect-node's server, our client -----------------------------------------


class NodeServer:
    """connect-node serving EchoService: where, and what its handlers report."""

    def __init__(self, url: str, lines: Lines) -> None:
        self.url = url
        self._lines = lines

    async def event(self) -> dict[str, Any]:
        """The next event the peer reports (one JSON line on its stdout)."""
        with trio.fail_after(EVENT_TIMEOUT):
            event = json.loads(await self._lines.next())
        assert isinstance(event, dict), event
        return event


@asynccontextmanager
async def node_server(node: str, http_version: HTTPVersion = "2") -> AsyncIterator[NodeServer]:
    """Run connect-node's EchoService (h2c, or HTTP/1.1) for the block.

    Leaving the block closes the peer's stdin, and it must then exit 0 promptly;
    whatever happens, the process is killed and reaped before the block ends.
    """
    command = [node, str(PEER_SCRIPT), "serve", "--http-version", http_version]
    async with peer_server(command, NODE_DIR, "connect-node") as (port, lines):
        yield NodeServer(f"http://127.0.0.1:{port}", lines)


def _seen(seen: Mapping[str, str], deadline_ms: float = CALL_TIMEOUT * 1000) -> dict[str, str]:
    """What the peer saw, less the deadline every call under ``trio.fail_after`` sends.

    The Node handler reports the Connect-Timeout-Ms it got and what was left
    of it (``ctx.timeoutMs()``) when it answered.
    """
    rest = dict(seen)
    timeout = int(rest.pop("connect-timeout-ms"))
    remaining = int(rest.pop("remaining-ms"))
    assert 0 < remaining <= timeout <= deadline_ms
    return rest


@pytest.mark.parametrize("codec", ["proto", "json"])
async def test_our_h2_client_unary(node: str, codec: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with (
            node_server(node) as server,
            open_client(server.url, ClientOptions(codec=codec)) as client,
        ):
            response = await client.stub(ECHO).Echo.call(
                EchoRequest(text="hello", response_size=3), headers={"x-trace": "abc"}
            )
    assert response.message.text == "hello"
    assert response.message.payload == b"xxx"
    assert _seen(response.message.seen) == {"x-trace": "abc", "http-version": "2"}
    assert response.headers["x-echo"] == "1"
    assert response.headers["content-type"] == f"application/{codec}"
    assert response.trailers["x-trailer"] == "done"
    assert "trailer-x-trailer" not in response.headers


async def test_our_h2_client_sends_the_nearest_deadline(node: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with node_server(node) as server, open_client(server.url) as client:
            with trio.fail_after(2):
                reply = await client.stub(ECHO).Echo(EchoRequest(text="t"))
    # The Node handler ran under (about) the deadline our client sent.
    timeout = int(reply.seen["connect-timeout-ms"])
    assert 1000 < timeout <= 2000
    assert timeout - 500 < int(reply.seen["remaining-ms"]) <= timeout
    assert _seen(reply.seen, deadline_ms=2000) == {"http-version": "2"}


async def test_our_h2_client_deadline_aborts_the_node_handler(node: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with node_server(node) as server, open_client(server.url) as client:
            with trio.move_on_after(0.5) as scope:
                await client.stub(ECHO).Echo(EchoRequest(text="slow", delay_ms=10_000))
            assert scope.cancelled_caught
            sleeping = await server.event()
            event = await server.event()
            # The call still works after the abort, on the same connection.
            after = await client.stub(ECHO).Echo(EchoRequest(text="after"))
    assert sleeping == {"event": "sleeping", "method": "Echo", "text": "slow", "ms": 10_000}
    assert (event["event"], event["method"], event["text"]) == ("aborted", "Echo", "slow")
    # The Node handler's own timer (deadline_exceeded) and our client's
    # RST_STREAM(CANCEL) at the same deadline (canceled) race; either proves
    # the handler was told.
    assert event["code"] in {"deadline_exceeded", "canceled"}, event
    assert after.text == "after"


@pytest.mark.parametrize("codec", ["proto", "json"])
async def test_our_h2_client_unary_error_with_details(node: str, codec: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with (
            node_server(node) as server,
            open_client(server.url, ClientOptions(codec=codec)) as client,
        ):
            with pytest.raises(ConnectError) as caught:
                await client.stub(ECHO).Echo(
                    EchoRequest(text="why", fail_code="failed_precondition")
                )
    error = caught.value
    assert error.code is Code.FAILED_PRECONDITION
    assert error.message == "asked to fail: why"
    assert error.unpack_details(FailureInfo) == [FailureInfo(reason="why")]


@pytest.mark.parametrize("codec", ["proto", "json"])
async def test_our_h2_client_server_stream(node: str, codec: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with (
            node_server(node) as server,
            open_client(server.url, ClientOptions(codec=codec)) as client,
        ):
            request = EchoRequest(text="s", repeat=3)
            async with client.stub(ECHO).ServerStream(request) as responses:
                got = [(r.text, r.index, _seen(r.seen)) async for r in responses]
    assert got == [("s", index, {"http-version": "2"}) for index in range(3)]
    assert responses.headers["x-echo"] == "stream"
    assert responses.headers["content-type"] == f"application/connect+{codec}"
    assert responses.trailers["x-count"] == "3"


async def test_our_h2_client_server_stream_error_after_messages(node: str) -> None:
    got = []
    with trio.fail_after(CALL_TIMEOUT):
        async with node_server(node) as server, open_client(server.url) as client:
            request = EchoRequest(text="boom", repeat=2, fail_code="aborted")
            with pytest.raises(ConnectError) as caught:
                async with client.stub(ECHO).ServerStream(request) as responses:
                    async for response in responses:
                        got.append(response.index)
    assert got == [0, 1]
    assert caught.value.code is Code.ABORTED
    assert caught.value.message == "asked to fail: boom"
    assert caught.value.unpack_details(FailureInfo) == [FailureInfo(reason="boom")]


async def test_our_h2_client_client_stream(node: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with node_server(node) as server, open_client(server.url) as client:
            echo = client.stub(ECHO)
            reply = await echo.ClientStream([EchoRequest(text=text) for text in "abc"])
            empty = await echo.ClientStream([])
            with pytest.raises(ConnectError) as caught:
                await echo.ClientStream(
                    [EchoRequest(text="a"), EchoRequest(text="b", fail_code="out_of_range")]
                )
    assert (reply.text, reply.index, _seen(reply.seen)) == ("a,b,c", 3, {"http-version": "2"})
    assert (empty.text, empty.index) == ("", 0)
    assert caught.value.code is Code.OUT_OF_RANGE
    assert caught.value.message == "asked to fail: b"
    assert caught.value.unpack_details(FailureInfo) == [FailureInfo(reason="b")]


async def test_our_h2_client_bidi_ping_pong(node: str) -> None:
    # Each request goes only once the answer to the previous one is in, with
    # the request stream still open: this ends (before EVENT_TIMEOUT per
    # answer) only if both ends are full duplex.
    got: list[tuple[str, int, dict[str, str]]] = []
    with trio.fail_after(CALL_TIMEOUT):
        async with node_server(node) as server, open_client(server.url) as client:
            async with client.stub(ECHO).Bidi(headers={"x-trace": "bidi"}) as stream:
                for index in range(3):
                    await stream.send(EchoRequest(text=f"ping {index}"))
                    with trio.fail_after(EVENT_TIMEOUT):
                        reply: EchoResponse = await stream.receive()
                    got.append((reply.text, reply.index, _seen(reply.seen)))
                await stream.close_send()
                rest = [reply async for reply in stream]
    seen = {"x-trace": "bidi", "http-version": "2"}
    assert got == [(f"ping {index}", index, seen) for index in range(3)]
    assert rest == []
    assert stream.headers["content-type"] == "application/connect+proto"


async def test_our_h2_client_bidi_error_with_details(node: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with node_server(node) as server, open_client(server.url) as client:
            with pytest.raises(ConnectError) as caught:
                async with client.stub(ECHO).Bidi() as stream:
                    await stream.send(EchoRequest(text="fine"))
                    first = await stream.receive()
                    await stream.send(EchoRequest(text="no", fail_code="resource_exhausted"))
                    await stream.receive()
    assert (first.text, first.index) == ("fine", 0)
    assert caught.value.code is Code.RESOURCE_EXHAUSTED
    assert caught.value.message == "asked to fail: no"
    assert caught.value.unpack_details(FailureInfo) == [FailureInfo(reason="no")]


async def test_our_h2_client_gzip_both_ways(node: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with (
            node_server(node) as server,
            open_client(server.url, ClientOptions(send_compression=GZIP)) as client,
        ):
            echo = client.stub(ECHO)
            unary = await echo.Echo.call(EchoRequest(payload=BIG))
            async with echo.ServerStream(EchoRequest(payload=BIG, repeat=2)) as responses:
                streamed = [(r.payload, r.seen) async for r in responses]
            upload = await echo.ClientStream.call([EchoRequest(text="1"), EchoRequest(payload=BIG)])
            async with echo.Bidi() as stream:
                await stream.send(EchoRequest(text="b", payload=BIG))
                chat = await stream.receive()
                await stream.close_send()
    # The Node handler saw gzip requests, and we read its gzip responses.
    assert unary.message.payload == BIG
    assert _seen(unary.message.seen)["request-content-encoding"] == "gzip"
    assert unary.headers.first("content-encoding") == "gzip"
    assert [payload for payload, _ in streamed] == [BIG, BIG]
    assert _seen(streamed[0][1])["request-connect-content-encoding"] == "gzip"
    assert responses.headers.first("connect-content-encoding") == "gzip"
    assert responses.trailers["x-count"] == "2"
    assert (upload.message.text, upload.message.payload) == ("1,", BIG)
    assert _seen(upload.message.seen)["request-connect-content-encoding"] == "gzip"
    assert upload.headers.first("connect-content-encoding") == "gzip"
    assert (chat.text, chat.payload) == ("b", BIG)
    assert stream.headers.first("connect-content-encoding") == "gzip"


@pytest.mark.parametrize("method", ["ServerStream", "Bidi"])
async def test_our_h2_client_leaving_a_stream_cancels_the_node_handler(
    node: str, method: str
) -> None:
    # The handler answers, then sleeps 10 s under its call's AbortSignal;
    # leaving the stream early, while it sleeps, must reset the stream
    # (RST_STREAM CANCEL), which connect-node turns into an abort with the
    # code canceled.
    with trio.fail_after(CALL_TIMEOUT):
        async with node_server(node) as server, open_client(server.url) as client:
            echo = client.stub(ECHO)
            if method == "ServerStream":
                request = EchoRequest(text="leave", repeat=1, delay_ms=10_000)
                async with echo.ServerStream(request) as responses:
                    first = await responses.receive()
                    sleeping = await server.event()
            else:
                async with echo.Bidi() as stream:
                    await stream.send(EchoRequest(text="leave"))
                    first = await stream.receive()
                    await stream.send(EchoRequest(text="leave", delay_ms=10_000))
                    sleeping = await server.event()
            event = await server.event()
            # The connection outlives the reset stream.
            after = await echo.Echo(EchoRequest(text="after"))
    assert (first.text, first.index) == ("leave", 0)
    assert sleeping == {"event": "sleeping", "method": method, "text": "leave", "ms": 10_000}
    assert event == {
        "event": "aborted",
        "method": method,
        "text": "leave",
        "code": "canceled",
        "reason": "ConnectError: [canceled] http/2 stream closed with error code CANCEL (0x8)",
    }
    assert after.text == "after"


async def test_our_http1_client_unary_and_server_stream(node: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with (
            node_server(node, "1.1") as server,
            open_client(server.url, ClientOptions(http_version="1.1")) as client,
        ):
            echo = client.stub(ECHO)
            unary = await echo.Echo.call(EchoRequest(text="one"), headers={"x-trace": "h1"})
            async with echo.ServerStream(EchoRequest(text="s", repeat=2)) as responses:
                got = [(r.text, r.index, _seen(r.seen)) async for r in responses]
    assert (unary.message.text, _seen(unary.message.seen)) == (
        "one",
        {"x-trace": "h1", "http-version": "1.1"},
    )
    assert unary.trailers["x-trailer"] == "done"
    assert got == [("s", index, {"http-version": "1.1"}) for index in range(2)]
    assert responses.trailers["x-count"] == "2"


@pytest.mark.parametrize("codec", ["proto", "json"])
@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_our_client_calls_node_with_connect_get(
    node: str, codec: str, http_version: HTTPVersion
) -> None:
    text = "get me: & ? / = + %"  # every character the query encoding must carry
    with trio.fail_after(CALL_TIMEOUT):
        async with (
            node_server(node, http_version) as server,
            open_client(
                server.url,
                ClientOptions(
                    http_version=http_version, codec=codec, http_get=True, send_compression=GZIP
                ),
            ) as client,
        ):
            echo = client.stub(ECHO)
            got = await echo.Echo(EchoRequest(text=text))
            put = await echo.Put(EchoRequest(text="post"))  # side effects: always POST
    assert got.text == text
    assert got.seen["http-method"] == "GET"
    assert "http-method" not in put.seen


async def test_our_h2_client_meets_the_http1_node_server(node: str) -> None:
    with trio.fail_after(CALL_TIMEOUT):
        async with node_server(node, "1.1") as server, open_client(server.url) as client:
            with trio.fail_after(5), pytest.raises(ConnectError) as caught:
                await client.stub(ECHO).Echo(EchoRequest(text="h2?"))
    assert caught.value.code is Code.UNAVAILABLE
    assert "does not speak HTTP/2" in caught.value.message


# --- connect-node's client, our server -----------------------------------------


async def _node_calls(node: str, url: str, http_version: str, *cases: str) -> dict[str, Any]:
    """Run the peer's scripted ``cases`` against ``url``; their results by case."""
    command = [node, str(PEER_SCRIPT), "call", url, "--http-version", http_version]
    with trio.fail_after(CALL_TIMEOUT):
        return await run_scripted_calls(command, NODE_DIR, "connect-node", cases)


async def test_node_client_unary(node: str, our_url: str, peer_http_version: str) -> None:
    v = peer_http_version
    got = await _node_calls(node, our_url, v, "unary_proto", "unary_json", "unary_get")
    unary = {"headers": {"x-echo": "1"}, "trailers": {"x-trailer": "done"}}
    assert got["unary_proto"] == {"message": echoed("hello", v, seen={"x-trace": "abc"}), **unary}
    assert got["unary_json"] == {"message": echoed("hello json", v), **unary}
    assert got["unary_get"] == {"message": echoed("got", v), **unary}


async def test_node_client_oversize_refusal_leaves_the_connection_usable(
    node: str, our_url: str, peer_http_version: str
) -> None:
    got = (await _node_calls(node, our_url, peer_http_version, "oversize_then_next"))[
        "oversize_then_next"
    ]
    assert got["big"]["error"]["code"] == "resource_exhausted"
    assert got["next"]["message"]["text"] == "next"


async def test_node_client_timeout(node: str, our_url: str, peer_http_version: str) -> None:
    got = await _node_calls(node, our_url, peer_http_version, "unary_timeout")
    seen = got["unary_timeout"]["message"]["seen"]
    assert seen["connect-timeout-ms"] == "5000"
    # Our handler ran under that deadline.
    assert 4000 < int(seen["remaining-ms"]) <= 5000


async def test_node_client_deadline_exceeded(
    node: str, our_url: str, peer_http_version: str, echo_impl: EchoImpl
) -> None:
    got = await _node_calls(node, our_url, peer_http_version, "deadline_exceeded")
    assert got["deadline_exceeded"]["error"]["code"] == "deadline_exceeded"
    # The handler, asked to sleep 10 s, was cancelled by the 300 ms deadline.
    with trio.fail_after(5):
        await echo_impl.cancelled.wait()


async def test_node_client_errors_with_details(
    node: str, our_url: str, peer_http_version: str
) -> None:
    got = await _node_calls(
        node,
        our_url,
        peer_http_version,
        "error_details",
        "error_details_json",
        "server_stream_error",
        "client_stream_error",
    )
    assert got["error_details"]["error"] == failure("failed_precondition", "why")
    assert got["error_details_json"]["error"] == failure("not_found", "why json")
    stream_error = got["server_stream_error"]
    assert [m["index"] for m in stream_error["messages"]] == [0, 1]
    assert stream_error["error"] == failure("aborted", "boom")
    assert got["client_stream_error"]["error"] == failure("out_of_range", "b")


async def test_node_client_streams(node: str, our_url: str, peer_http_version: str) -> None:
    v = peer_http_version
    got = await _node_calls(
        node, our_url, v, "server_stream", "server_stream_json", "client_stream"
    )
    assert got["server_stream"]["messages"] == [echoed("s", v, i) for i in range(3)]
    assert got["server_stream"]["headers"]["x-echo"] == "stream"
    assert got["server_stream"]["trailers"] == {"x-count": "3"}
    assert got["server_stream_json"]["messages"] == [echoed("sj", v, i) for i in range(2)]
    assert got["server_stream_json"]["trailers"] == {"x-count": "2"}
    assert got["client_stream"]["message"] == echoed("a,b,c", v, 3)


async def test_node_client_abort_cancels_our_handler(
    node: str, our_url: str, peer_http_version: str, echo_impl: EchoImpl
) -> None:
    # connect-node aborts a server stream after its first answer, while our
    # handler sleeps 10 s: over h2c an RST_STREAM, over HTTP/1.1 a closed
    # connection. Either must cancel the handler.
    v = peer_http_version
    got = (await _node_calls(node, our_url, v, "server_stream_abort"))["server_stream_abort"]
    assert got["messages"] == [echoed("leave", v)]
    assert got["error"]["code"] == "canceled"
    with trio.fail_after(5):
        await echo_impl.cancelled.wait()
        await echo_impl.finished.wait()


async def test_node_client_bidi_half_duplex(
    node: str, our_url: str, peer_http_version: str
) -> None:
    # All requests first, then the answers: what Connect promises over HTTP/1.1 too.
    v = peer_http_version
    got = await _node_calls(node, our_url, v, "bidi_half_duplex")
    assert got["bidi_half_duplex"]["messages"] == [echoed(f"half {i}", v, i) for i in range(3)]


async def test_node_client_bidi_full_duplex_over_h2c(node: str, our_url: str) -> None:
    # Each request is sent only once the previous answer is in: a deadlock
    # (cut short by CALL_TIMEOUT) unless both ends are full duplex.
    got = await _node_calls(node, our_url, "2", "bidi")
    assert got["bidi"]["messages"] == [echoed(f"ping {i}", "2", i) for i in range(3)]


async def test_node_client_gzip_both_ways(node: str, our_url: str, peer_http_version: str) -> None:
    got = (await _node_calls(node, our_url, peer_http_version, "gzip"))["gzip"]
    assert got["payload_sizes"] == [len(BIG)] * 5
    assert got["unary"]["message"]["text"] == "z"
    assert got["unary"]["headers"]["content-encoding"] == "gzip"
    assert got["get"]["message"]["text"] == "z"
    assert got["get"]["headers"]["content-encoding"] == "gzip"
    assert got["stream"]["headers"]["connect-content-encoding"] == "gzip"
    assert got["stream"]["trailers"] == {"x-count": "2"}
    assert got["upload"]["message"]["text"] == "z,z"
    assert got["upload"]["headers"]["connect-content-encoding"] == "gzip"
