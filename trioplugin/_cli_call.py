"""``trioplugin call URL/package.Service/Method --data JSON``: one RPC, JSON in and out."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.message import Message

from ._cli_common import (
    CommandError,
    Connection,
    Console,
    Subcommands,
    add_client_command,
    base_url,
    time_limit,
)
from ._cli_descriptors import Schema, load_schema
from ._cli_json import message_json, parse_messages, read_data
from ._util import open_transparent_nursery
from .protocol import ConnectError
from .rpc import BidiStream, Client, MethodInfo, StreamType

_EPILOG = """\
examples:
  trioplugin call http://127.0.0.1:8080/demo.kv.v1.KVService/Get \\
      --proto examples/kv/kv.proto -I examples/kv --data '{"key": "a"}'
  trioplugin call https://kv.example/demo.kv.v1.KVService/Watch --pb2 examples.kv.kv_pb2 \\
      --cacert ca.pem --token "$TOKEN" --data @watch.json
  producer | trioplugin call http://127.0.0.1:8080/demo.logs.v1.LogService/Append \\
      --proto logs.proto --data -

Unary and client-streaming calls print the response as indented JSON;
server-streaming and bidi calls print one JSON object per line, as they come.
Streaming requests are the JSON values of --data, one after another (JSON lines).
Exit status: 0 on success, 1 when the call fails (error: CODE MESSAGE),
2 when it cannot be made (bad arguments, JSON, schema or names).
"""


def add_call_command(commands: Subcommands) -> None:
    """Add ``call`` to the CLI's subcommands (``commands``, from ``add_subparsers``)."""
    parser = add_client_command(
        commands,
        "call",
        summary="call one RPC method, with JSON in and out",
        description="Call one method of a Connect server, with the messages as JSON.",
        epilog=_EPILOG,
        run=run_call,
    )
    parser.add_argument(
        "target",
        metavar="URL/package.Service/Method",
        help="the server's URL followed by the method's path",
    )
    parser.add_argument(
        "-d",
        "--data",
        metavar="JSON|@FILE|-",
        help="the request: JSON, @FILE to read it from FILE, - for standard input "
        "(default: the empty message; for streaming requests, none)",
    )
    schema = parser.add_argument_group("message types (one of)")
    schema.add_argument(
        "--proto",
        action="append",
        default=[],
        metavar="FILE",
        help="a .proto file that defines the service (repeatable; needs grpcio-tools)",
    )
    schema.add_argument(
        "-I",
        "--proto-path",
        action="append",
        default=[],
        metavar="DIR",
        help="where --proto files and their imports are found (repeatable; default .)",
    )
    schema.add_argument(
        "--pb2",
        action="append",
        default=[],
        metavar="MODULE",
        help="a generated module that defines the service, as examples.kv.kv_pb2 (repeatable)",
    )


async def run_call(args: argparse.Namespace, console: Console) -> int:
    """Make the call ``args`` describe; print the responses; return the exit status.

    Raises:
        CommandError: the call cannot be made as asked.
    """
    if args.proto and args.pb2:
        raise CommandError("give --proto or --pb2, not both")
    if args.proto_path and not args.proto:
        raise CommandError("-I/--proto-path goes with --proto")
    url, service_name, method_name = split_target(args.target)
    connection = Connection.from_arguments(args, url)
    schema = load_schema(args.proto, args.proto_path, args.pb2)
    try:
        method = schema.service(service_name).method(method_name)
    except AttributeError as error:
        raise CommandError(f"unknown method: {error}") from None
    text = await read_data(args.data, console.stdin)
    requests = parse_messages("{}" if text is None else text, method.input_type, schema.pool)
    streaming_requests = method.stream_type in (StreamType.CLIENT_STREAM, StreamType.BIDI_STREAM)
    if text is None and streaming_requests:
        requests = []
    if len(requests) != 1 and not streaming_requests:
        raise CommandError(
            f"{method.procedure} is {method.stream_type.value}: it takes one request, "
            f"and --data holds {len(requests)}"
        )
    try:
        async with connection.open() as client:
            with time_limit(args.timeout, method.procedure):
                await _call(client, method, requests, args.headers, schema, console)
    except ConnectError as error:
        return console.report(error, schema.pool)
    return 0


def split_target(target: str) -> tuple[str, str, str]:
    """``http://host:port/prefix/pkg.Service/Method`` → (base URL, service, method).

    Raises:
        CommandError: the target does not end in ``/package.Service/Method``.
    """
    base_url(target)  # an http(s) URL with no query: what remains is checked here
    parts = urlsplit(target)
    segments = parts.path.split("/")
    if len(segments) < 3 or not segments[-2] or not segments[-1]:
        raise CommandError(
            f"{target!r} does not end in /package.Service/Method, as in "
            "http://127.0.0.1:8080/demo.kv.v1.KVService/Get"
        )
    prefix = "/".join(segments[:-2])
    url = base_url(parts._replace(path=prefix).geturl())
    return url, segments[-2], segments[-1]


async def _call(
    client: Client,
    method: MethodInfo[Any, Any],
    requests: Sequence[Message],
    headers: Sequence[tuple[str, str]],
    schema: Schema,
    console: Console,
) -> None:
    kind = method.stream_type
    if kind is StreamType.UNARY:
        response = await client.unary(method, requests[0], headers=headers)
        console.print(message_json(response.message, schema.pool, indent=2))
    elif kind is StreamType.CLIENT_STREAM:
        response = await client.client_stream(method, requests, headers=headers)
        console.print(message_json(response.message, schema.pool, indent=2))
    elif kind is StreamType.SERVER_STREAM:
        async with client.server_stream(method, requests[0], headers=headers) as responses:
            async for message in responses:
                console.print(message_json(message, schema.pool, indent=None))
    else:
        async with (
            client.bidi_stream(method, headers=headers) as stream,
            open_transparent_nursery() as nursery,
        ):
            nursery.start_soon(_send_all, stream, requests)
            async for message in stream:
                console.print(message_json(message, schema.pool, indent=None))


async def _send_all(stream: BidiStream[Any, Any], requests: Sequence[Message]) -> None:
    try:
        for request in requests:
            await stream.send(request)
        await stream.close_send()
    except ConnectError:
        pass  # the call failed: receiving the responses raises its error, reported once
