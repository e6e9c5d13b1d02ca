"""``trioplugin call``: every call kind against a real server, and each way a call goes wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import CLI, ECHO_PATH, PB2
from tests.echo_service import EchoImpl
from trioplugin.transport import Server


def echo_url(server: Server, method: str = "Echo") -> str:
    return f"{server.url}{ECHO_PATH}/{method}"


async def test_a_unary_call_prints_the_response_as_indented_json(cli: CLI, server: Server) -> None:
    done = await cli("call", echo_url(server), *PB2, "--data", '{"text": "hi", "payload": "AQI="}')
    assert (done.status, done.err) == (0, "")
    assert done.out.startswith('{\n  "text": "hi",\n')
    reply = json.loads(done.out)
    assert (reply["text"], reply["payload"]) == ("hi", "AQI=")
    assert reply["seen"]["http-version"] == "2"


async def test_without_data_the_request_is_the_empty_message(cli: CLI, server: Server) -> None:
    done = await cli("call", echo_url(server), *PB2)
    assert done.status == 0
    assert "text" not in json.loads(done.out)


async def test_data_comes_from_a_file_or_standard_input(
    cli: CLI, server: Server, tmp_path: Path
) -> None:
    (tmp_path / "request.json").write_text('{"text": "from a file"}\n')
    done = await cli("call", echo_url(server), *PB2, "--data", f"@{tmp_path / 'request.json'}")
    assert json.loads(done.out)["text"] == "from a file"
    done = await cli("call", echo_url(server), *PB2, "--data", "-", stdin='{"text": "piped"}')
    assert json.loads(done.out)["text"] == "piped"
    done = await cli("call", echo_url(server), *PB2, "--data", f"@{tmp_path / 'missing.json'}")
    assert done.status == 2
    assert done.err == (
        f"error: --data @{tmp_path / 'missing.json'}: "
        f"cannot read {tmp_path / 'missing.json'}: No such file or directory\n"
    )


async def test_a_server_stream_prints_one_json_object_per_line(cli: CLI, server: Server) -> None:
    done = await cli(
        "call", echo_url(server, "ServerStream"), *PB2, "-d", '{"text": "s", "repeat": 3}'
    )
    assert (done.status, done.err) == (0, "")
    lines = done.out.splitlines()
    assert [json.loads(line).get("index", 0) for line in lines] == [0, 1, 2]
    assert all(json.loads(line)["text"] == "s" for line in lines)


async def test_client_streaming_sends_each_json_value_of_the_data(cli: CLI, server: Server) -> None:
    data = '{"text": "a"}\n{"text": "b"}\n  {"text":\n "c"}'
    done = await cli("call", echo_url(server, "ClientStream"), *PB2, "--data", data)
    assert (done.status, done.err) == (0, "")
    reply = json.loads(done.out)
    assert (reply["text"], reply["index"]) == ("a,b,c", 3)
    done = await cli("call", echo_url(server, "ClientStream"), *PB2)
    assert json.loads(done.out) == {"seen": {"http-version": "2"}}  # no requests at all


async def test_bidi_prints_a_line_per_response(cli: CLI, server: Server) -> None:
    done = await cli(
        "call", echo_url(server, "Bidi"), *PB2, "--data", "-", stdin='{"text":"a"}\n{"text":"b"}\n'
    )
    assert (done.status, done.err) == (0, "")
    assert [json.loads(line)["text"] for line in done.out.splitlines()] == ["a", "b"]
    # HTTP/1.1 is not full duplex: the client says so, as an RPC error.
    done = await cli("call", echo_url(server, "Bidi"), *PB2, "--http1", "-d", '{"text":"a"}')
    assert done.status == 1
    assert done.err.startswith("error: unimplemented ")
    assert "full-duplex" in done.err


async def test_headers_reach_the_handler(cli: CLI, server: Server) -> None:
    done = await cli(
        "call", echo_url(server), *PB2, "-H", "X-Trace: abc 123", "--header", "x-two:2", "--http1"
    )
    seen = json.loads(done.out)["seen"]
    assert (seen["x-trace"], seen["x-two"], seen["http-version"]) == ("abc 123", "2", "1.1")


async def test_the_timeout_goes_on_the_wire(cli: CLI, server: Server) -> None:
    done = await cli("call", echo_url(server), *PB2, "--timeout", "30")
    seen = json.loads(done.out)["seen"]
    assert 29_000 < int(seen["connect-timeout-ms"]) <= 30_000
    done = await cli("call", echo_url(server), *PB2)
    assert "connect-timeout-ms" not in json.loads(done.out)["seen"]


async def test_a_call_past_its_timeout_is_deadline_exceeded(
    cli: CLI, server: Server, echo: EchoImpl
) -> None:
    # The handler would sleep ten seconds; the call has a tenth of one.
    slow = '{"delay_ms": 10000}'
    done = await cli("call", echo_url(server), *PB2, "--timeout", "0.1", "--data", slow)
    assert (done.status, done.out) == (1, "")
    assert done.err.startswith("error: deadline_exceeded ")
    assert echo.started.is_set()


async def test_an_rpc_error_prints_its_code_message_and_details(cli: CLI, server: Server) -> None:
    data = '{"text": "no", "fail_code": "permission_denied"}'
    done = await cli("call", echo_url(server), *PB2, "--data", data)
    assert (done.status, done.out) == (1, "")
    assert done.err == (
        "error: permission_denied asked to fail: no\n"
        '  detail: {"type": "trioplugin.test.v1.FailureInfo", "value": {"reason": "no"}}\n'
    )
    # A stream's error comes after the messages before it.
    data = '{"text": "x", "repeat": 2, "fail_code": "unavailable"}'
    done = await cli("call", echo_url(server, "ServerStream"), *PB2, "--data", data)
    assert (done.status, len(done.out.splitlines())) == (1, 2)
    assert done.err.startswith("error: unavailable asked to fail: x\n")


async def test_an_unreachable_server_is_unavailable(cli: CLI, refused_url: str) -> None:
    done = await cli("call", f"{refused_url}{ECHO_PATH}/Echo", *PB2)
    assert done.status == 1
    assert done.err.startswith("error: unavailable ")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ('{"text": ', "error: --data is not JSON: Expecting value at line 1 column 10\n"),
        ('{"text": "a"} oops', "error: --data is not JSON: Expecting value at line 1 column 15\n"),
        ('{"nope": 1}', 'error: --data is not a trioplugin.test.v1.EchoRequest: Message type "'),
        ('{"repeat": "many"}', "error: --data is not a trioplugin.test.v1.EchoRequest: "),
        ("[1, 2]", "error: --data is not a trioplugin.test.v1.EchoRequest: "),
        ('{"text": "a"}{"text": "b"}', "error: /trioplugin.test.v1.EchoService/Echo is unary: "),
    ],
)
async def test_bad_data_is_a_usage_error_that_says_what_is_wrong(
    cli: CLI, server: Server, echo: EchoImpl, data: str, error: str
) -> None:
    done = await cli("call", echo_url(server), *PB2, "--data", data)
    assert (done.status, done.out) == (2, "")
    assert done.err.startswith(error)
    assert echo.calls == 0


async def test_a_field_error_names_the_fields_there_are(cli: CLI, server: Server) -> None:
    done = await cli("call", echo_url(server, "ClientStream"), *PB2, "-d", '{}\n{"nope": 1}')
    assert done.err.startswith("error: message 2 of --data is not a trioplugin.test.v1.EchoRequest")
    assert 'no field named "nope"' in done.err
    assert "'failCode'" in done.err  # the JSON names (the proto names are taken too)


async def test_an_unknown_method_lists_the_services_methods(cli: CLI, server: Server) -> None:
    done = await cli("call", echo_url(server, "Nope"), *PB2)
    assert (done.status, done.out) == (2, "")
    assert done.err == (
        "error: unknown method: service trioplugin.test.v1.EchoService has no method 'Nope'; "
        "its methods are: Echo, Put, ServerStream, ClientStream, Bidi\n"
    )


async def test_an_unknown_service_lists_the_services_there_are(cli: CLI, server: Server) -> None:
    done = await cli("call", f"{server.url}/nope.v1.Nope/Get", *PB2)
    assert (done.status, done.out) == (2, "")
    assert done.err == (
        "error: unknown service 'nope.v1.Nope': "
        "the services of the --pb2 modules are: trioplugin.test.v1.EchoService\n"
    )
    done = await cli("call", f"{server.url}/nope.v1.Nope/Get")
    assert done.err.startswith(
        "error: unknown service 'nope.v1.Nope': the services of trioplugin without --proto "
        "or --pb2 are: connectplugin."
    )
    assert "grpc.health.v1.Health" in done.err
    assert done.err.endswith("; give the service's --proto FILE or --pb2 MODULE\n")


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (("http://127.0.0.1:1/Echo",), "error: 'http://127.0.0.1:1/Echo' does not end in "),
        (("ftp://h/a.B/C",), "error: 'ftp://h/a.B/C' is not an http:// or https:// URL\n"),
        (("http://h/a.B/C?x=1",), "error: 'http://h/a.B/C?x=1' has a query or fragment"),
        (("http://h/a.B/C", "--pb2", "no.such_pb2"), "error: --pb2: cannot import no.such_pb2: "),
        (("http://h/a.B/C", "--pb2", "json"), "error: --pb2: json is not a generated _pb2 module"),
        (("http://h/a.B/C", "--pb2", "x", "--proto", "x.proto"), "error: give --proto or --pb2"),
        (("http://h/a.B/C", "-I", "protos"), "error: -I/--proto-path goes with --proto\n"),
        (("http://h/a.B/C", "--http1", "--http2"), "error: give --http1 or --http2, not both\n"),
    ],
)
async def test_bad_arguments_are_usage_errors(
    cli: CLI, arguments: tuple[str, ...], error: str
) -> None:
    done = await cli("call", *arguments)
    assert (done.status, done.out) == (2, "")
    assert done.err.startswith(error)


@pytest.mark.parametrize(
    "arguments",
    [("-H", "no colon"), ("-H", "bad name: x"), ("--timeout", "0"), ("--timeout", "soon")],
)
async def test_malformed_options_are_refused_by_the_parser(
    cli: CLI, capsys: pytest.CaptureFixture[str], arguments: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        await cli("call", "http://h/a.B/C", *arguments)
    assert exit_.value.code == 2
    assert f"argument {arguments[0]}" in capsys.readouterr().err


async def test_a_proto_file_gives_the_types_in_a_pool_of_their_own(
    cli: CLI, server: Server
) -> None:
    pytest.importorskip("grpc_tools")
    proto = ("--proto", "tests/protos/echo.proto", "-I", "tests/protos")
    data = '{"text": "no", "fail_code": "not_found"}'
    done = await cli("call", echo_url(server), *proto, "--data", data)
    # Details decode with the schema's types (the --proto pool first, then the default one).
    assert done.err == (
        "error: not_found asked to fail: no\n"
        '  detail: {"type": "trioplugin.test.v1.FailureInfo", "value": {"reason": "no"}}\n'
    )
    done = await cli("call", echo_url(server, "Bidi"), *proto, "--data", '{"text": "p"}')
    assert json.loads(done.out)["text"] == "p"
