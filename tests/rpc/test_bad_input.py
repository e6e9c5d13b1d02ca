"""Bad requests get the right status and Connect code, and never hurt the server."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
import trio

from tests.echo_pb2 import EchoRequest, EchoResponse
from tests.echo_service import ECHO, EchoImpl
from trioplugin import ServerOptions
from trioplugin.protocol import (
    EnvelopeFlags,
    decode_end_stream,
    encode_envelope,
)
from trioplugin.rpc import serve_connect
from trioplugin.transport import Server

ECHO_PATH = "/trioplugin.test.v1.EchoService/Echo"
PUT_PATH = "/trioplugin.test.v1.EchoService/Put"
STREAM_PATH = "/trioplugin.test.v1.EchoService/ServerStream"
LIMIT = 1024


@pytest.fixture
async def small_server(nursery: trio.Nursery) -> Server:
    server: Server = await nursery.start(
        lambda task_status: serve_connect(
            {ECHO: EchoImpl()},
            ServerOptions(max_message_size=LIMIT),
            task_status=task_status,
        )
    )
    return server


@pytest.fixture
async def http(small_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=small_server.url) as client:
        yield client
        # Whatever a test sent, the server still answers a good request.
        ok = await client.post(
            ECHO_PATH, content=b'{"text":"still"}', headers={"content-type": "application/json"}
        )
        assert ok.status_code == 200 and ok.json()["text"] == "still"


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    for fragment in fragments:
        assert fragment in body["message"]


def assert_bare_status(response: httpx.Response, status: int, *fragments: str) -> None:
    """A refusal that is not a Connect answer: the status alone tells clients what happened."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/plain")
    for fragment in fragments:
        assert fragment in response.text


def stream_end(response: httpx.Response) -> dict[str, object]:
    """The end-of-stream message of a streaming response, as JSON."""
    assert response.status_code == 200
    content = response.content
    assert content[0] & EnvelopeFlags.END_STREAM
    end = decode_end_stream(content[5:])
    assert end.error is not None
    return {"code": end.error.code.value, "message": end.error.message}


async def test_raw_connect_json_by_hand(http: httpx.AsyncClient) -> None:
    response = await http.post(
        ECHO_PATH,
        content=b'{"text": "by hand"}',
        headers={"content-type": "application/json", "connect-protocol-version": "1"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["text"] == "by hand"
    assert response.headers["trailer-x-trailer"] == "done"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_by_hand(small_server: Server) -> None:
    result = await trio.to_thread.run_sync(
        lambda: subprocess.run(
            [
                "curl",
                "--silent",
                "--show-error",
                "--max-time",
                "20",
                "--header",
                "Content-Type: application/json",
                "--data",
                '{"text": "curl"}',
                small_server.url + ECHO_PATH,
            ],
            capture_output=True,
            check=True,
        )
    )
    assert json.loads(result.stdout)["text"] == "curl"


async def test_unknown_procedure_is_404_unimplemented(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/trioplugin.test.v1.EchoService/Nope",
        content=b"{}",
        headers={"content-type": "application/json"},
    )
    assert_error(response, 404, "unimplemented", "/trioplugin.test.v1.EchoService/Nope")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        (ECHO_PATH, "text/plain"),
        (ECHO_PATH, "application/xml"),
        (ECHO_PATH, "application/connect+proto"),
        (STREAM_PATH, "application/proto"),
        (ECHO_PATH, "application/json; charset=latin-1"),
    ],
)
async def test_wrong_content_type_is_415(
    http: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await http.post(path, content=b"{}", headers={"content-type": content_type})
    assert_bare_status(response, 415, repr(content_type))
    assert "accept-post" in response.headers


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"repeat": "many"}', b""])
async def test_malformed_json_is_invalid_argument(http: httpx.AsyncClient, body: bytes) -> None:
    response = await http.post(
        ECHO_PATH, content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "invalid_argument", "trioplugin.test.v1.EchoRequest")


async def test_malformed_proto_is_invalid_argument(http: httpx.AsyncClient) -> None:
    response = await http.post(
        ECHO_PATH, content=b"\x0a\xff\xff\xff", headers={"content-type": "application/proto"}
    )
    assert_error(response, 400, "invalid_argument", "malformed protobuf")


async def test_oversize_message_is_resource_exhausted(http: httpx.AsyncClient) -> None:
    body = EchoRequest(payload=b"x" * (LIMIT + 1)).SerializeToString()
    response = await http.post(
        ECHO_PATH, content=body, headers={"content-type": "application/proto"}
    )
    assert_error(response, 429, "resource_exhausted", str(LIMIT))


async def test_gzip_bomb_is_resource_exhausted(http: httpx.AsyncClient) -> None:
    bomb = gzip.compress(EchoRequest(payload=b"\0" * 1_000_000).SerializeToString())
    assert len(bomb) < LIMIT
    response = await http.post(
        ECHO_PATH,
        content=bomb,
        headers={"content-type": "application/proto", "content-encoding": "gzip"},
    )
    assert_error(response, 429, "resource_exhausted")


async def test_unknown_compression_is_unimplemented(http: httpx.AsyncClient) -> None:
    response = await http.post(
        ECHO_PATH,
        content=b"{}",
        headers={"content-type": "application/json", "content-encoding": "br"},
    )
    assert_error(response, 501, "unimplemented", "'br'", "gzip")


@pytest.mark.parametrize("value", ["abc", "-5", "12345678901", "1.5"])
async def test_bad_timeout_is_invalid_argument(http: httpx.AsyncClient, value: str) -> None:
    response = await http.post(
        ECHO_PATH,
        content=b"{}",
        headers={"content-type": "application/json", "connect-timeout-ms": value},
    )
    assert_error(response, 400, "invalid_argument", "Connect-Timeout-Ms")


async def test_unknown_protocol_version_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post(
        ECHO_PATH,
        content=b"{}",
        headers={"content-type": "application/json", "connect-protocol-version": "2"},
    )
    assert_error(response, 400, "invalid_argument", "Connect-Protocol-Version")


async def post_stream(http: httpx.AsyncClient, *envelopes: bytes) -> httpx.Response:
    return await http.post(
        STREAM_PATH,
        content=b"".join(envelopes),
        headers={"content-type": "application/connect+proto"},
    )


async def test_compressed_envelope_without_negotiation_is_internal(
    http: httpx.AsyncClient,
) -> None:
    message = gzip.compress(EchoRequest(text="x").SerializeToString())
    response = await post_stream(
        http,
        encode_envelope(message, EnvelopeFlags.COMPRESSED),
    )
    end = stream_end(response)
    assert end["code"] == "internal"
    assert "no compression was negotiated" in str(end["message"])


async def test_end_stream_flag_in_a_request_is_invalid(http: httpx.AsyncClient) -> None:
    response = await post_stream(
        http,
        encode_envelope(b"", EnvelopeFlags.END_STREAM),
    )
    assert stream_end(response)["code"] == "invalid_argument"


async def test_truncated_envelope_is_invalid(http: httpx.AsyncClient) -> None:
    response = await post_stream(http, b"\x00\x00\x00\x00\x10abc")
    end = stream_end(response)
    assert end["code"] == "invalid_argument"
    assert "middle of a message" in str(end["message"])


async def test_envelope_claiming_4_gib_is_refused(http: httpx.AsyncClient) -> None:
    response = await post_stream(http, b"\x00\xff\xff\xff\xff")
    assert stream_end(response)["code"] == "resource_exhausted"


async def test_unknown_envelope_flags_are_invalid(http: httpx.AsyncClient) -> None:
    response = await post_stream(http, encode_envelope(b"", 0x80))
    assert stream_end(response)["code"] == "invalid_argument"


async def test_two_requests_to_a_server_stream_are_a_count_violation(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    one = encode_envelope(EchoRequest(repeat=1).SerializeToString())
    response = await post_stream(http, one, one)
    end = stream_end(response)
    assert end["code"] == "unimplemented"
    assert "multiple messages" in str(end["message"])
    response = await post_stream(http)
    end = stream_end(response)
    assert end["code"] == "unimplemented"
    assert "zero messages" in str(end["message"])
    assert not [r for r in caplog.records if r.exc_info], "a client's mistake logs no traceback"


async def test_get_for_a_side_effect_free_method(http: httpx.AsyncClient) -> None:
    message = quote('{"text": "get"}')
    response = await http.get(f"{ECHO_PATH}?connect=v1&encoding=json&message={message}")
    assert response.status_code == 200
    assert response.json()["text"] == "get"
    binary = base64.urlsafe_b64encode(EchoRequest(text="b64").SerializeToString()).rstrip(b"=")
    response = await http.get(f"{ECHO_PATH}?encoding=proto&base64=1&message={binary.decode()}")
    assert response.status_code == 200
    assert EchoResponse.FromString(response.content).text == "b64"


async def test_get_for_a_method_with_side_effects_is_405(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{PUT_PATH}?encoding=json&message=%7B%7D")
    assert_bare_status(response, 405, "POST")
    assert response.headers["allow"] == "POST"
