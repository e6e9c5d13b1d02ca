"""``trioplugin health URL``: ask a server's ``grpc.health.v1.Health`` how it is."""

from __future__ import annotations

import argparse

from ._cli_common import (
    RPC_ERROR,
    Connection,
    Console,
    Subcommands,
    add_client_command,
    base_url,
    time_limit,
)
from .plugin.protos.grpc.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from .plugin.protos.grpc.health.v1.health_trioplugin import HealthClient
from .protocol import Code, ConnectError

_EPILOG = """\
Prints the status (SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN). Exit
status: 0 when it is SERVING, 1 otherwise or when the check fails
(error: CODE MESSAGE), 2 for bad arguments. With --watch, prints the status
and then each change, until the server ends the stream or --timeout passes
(the status is then the last one printed).
"""


def add_health_command(commands: Subcommands) -> None:
    """Add ``health`` to the CLI's subcommands (``commands``, from ``add_subparsers``)."""
    parser = add_client_command(
        commands,
        "health",
        summary="check a server's health (grpc.health.v1)",
        description="Ask a server's grpc.health.v1.Health service for its status.",
        epilog=_EPILOG,
        run=run_health,
    )
    parser.add_argument("url", metavar="URL", help="the server's URL, as http://127.0.0.1:8080")
    parser.add_argument(
        "--service",
        default="",
        metavar="NAME",
        help="the service to check, as demo.kv.v1.KVService (default: the whole server)",
    )
    parser.add_argument(
        "--watch", action="store_true", help="stream the status as it changes (Watch)"
    )


async def run_health(args: argparse.Namespace, console: Console) -> int:
    """Check (or watch) the health ``args`` ask for; print it; return the exit status.

    Raises:
        CommandError: the URL or the connection options are wrong.
    """
    connection = Connection.from_arguments(args, base_url(args.url))
    request = HealthCheckRequest(service=args.service)
    what = f"the health {'watch' if args.watch else 'check'} of {args.service or 'the server'}"
    status = HealthCheckResponse.UNKNOWN
    try:
        async with connection.open() as client:
            health = HealthClient(client)
            with time_limit(args.timeout, what):
                if args.watch:
                    async with health.Watch(request, headers=args.headers) as replies:
                        async for reply in replies:
                            status = reply.status
                            console.print(HealthCheckResponse.ServingStatus.Name(status))
                else:
                    status = (await health.Check(request, headers=args.headers)).status
                    console.print(HealthCheckResponse.ServingStatus.Name(status))
    except ConnectError as error:
        if not (args.watch and args.timeout is not None and error.code is Code.DEADLINE_EXCEEDED):
            return console.report(error)
        # A watch for --timeout seconds ends that way: the last status printed stands.
    return 0 if status == HealthCheckResponse.SERVING else RPC_ERROR
