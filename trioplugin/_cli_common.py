"""What the CLI's commands share: the console, errors, and the connection options.

Every command that calls a server (``call``, ``health``) takes the same
options for the connection — headers, a timeout, a bearer token, TLS, the
HTTP version — from :func:`add_client_command`, and opens its client with
:meth:`Connection.open`.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TextIO, TypeAlias, final
from urllib.parse import urlsplit

import trio
from google.protobuf import any_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor_pool import DescriptorPool

from .auth import TokenAuth
from .protocol import Code, ConnectError, Metadata
from .rpc import Client, ClientOptions, open_client

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns: each command module adds its parser to it."""

TOKEN_VARIABLE = "TRIOPLUGIN_TOKEN"
"""The environment variable a bearer token is read from when ``--token`` is not given."""

USAGE_ERROR = 2
"""The exit status of a command that could not start: bad arguments, input or schemas."""

RPC_ERROR = 1
"""The exit status of a call that failed (a :class:`ConnectError`), or an unhealthy server."""


@final
@dataclass(frozen=True, slots=True)
class Console:
    """The streams a command reads and writes (the process's, or a test's)."""

    stdin: TextIO
    stdout: TextIO
    stderr: TextIO

    @classmethod
    def standard(cls) -> Console:
        """The process's own standard streams."""
        return cls(sys.stdin, sys.stdout, sys.stderr)

    def print(self, text: str) -> None:
        """Write a line to standard output, at once (streaming output is read as it comes)."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def report(self, error: ConnectError, pool: DescriptorPool | None = None) -> int:
        """Print a failed call as ``error: <code> <message>`` and its details; return 1.

        Each detail goes on a line of its own, as JSON when its type is in
        ``pool`` (or the default pool).
        """
        self.stderr.write(f"error: {error.code.value} {error.message}".rstrip() + "\n")
        for detail in error.details:
            self.stderr.write(f"  detail: {_detail_json(detail, pool)}\n")
        return RPC_ERROR


class CommandError(Exception):
    """A command cannot run as asked: printed as ``error: <message>``, with ``status``."""

    def __init__(self, message: str, status: int = USAGE_ERROR) -> None:
        super().__init__(message)
        self.status = status


def add_client_command(
    commands: Subcommands,
    name: str,
    *,
    summary: str,
    description: str,
    epilog: str,
    run: Callable[[argparse.Namespace, Console], Awaitable[int]],
) -> argparse.ArgumentParser:
    """Add the subcommand ``name``, one that calls a server; return its parser.

    It takes the connection's options; ``run(args, console)`` runs it and
    returns the exit status. ``summary`` is its line in ``trioplugin
    --help``; ``epilog`` is shown as written.
    """
    parser = commands.add_parser(
        name,
        parents=[_connection_arguments()],
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def _connection_arguments() -> argparse.ArgumentParser:
    """A parent parser with the options of every command that calls a server."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection")
    group.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        type=_header,
        metavar="'NAME: VALUE'",
        help="send this request header (repeatable)",
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give up after this long; the server is told (Connect-Timeout-Ms)",
    )
    group.add_argument(
        "--token",
        help=f"send 'Authorization: Bearer TOKEN' (default: ${TOKEN_VARIABLE}, if set)",
    )
    group.add_argument("--cacert", metavar="FILE", help="trust the CA certificates in FILE (PEM)")
    group.add_argument("--cert", metavar="FILE", help="present this client certificate (mTLS)")
    group.add_argument("--key", metavar="FILE", help="the private key of --cert (if not in it)")
    # Not an argparse mutually exclusive group: nested in this group, it would
    # list its options apart from it (Connection refuses both).
    group.add_argument("--http1", action="store_true", help="use HTTP/1.1 (no bidi calls)")
    group.add_argument(
        "--http2", action="store_true", help="use HTTP/2 (the default; h2c for http:// URLs)"
    )
    return parser


def base_url(url: str) -> str:
    """``url`` checked to be an ``http://`` or ``https://`` URL without query or fragment.

    Raises:
        CommandError: it is not one.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(f"{url!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise CommandError(f"{url!r} has a query or fragment; give the endpoint's URL alone")
    return url.rstrip("/")


@final
@dataclass(frozen=True, slots=True)
class Connection:
    """How a command reaches its server: the URL, the client's options, the credentials."""

    url: str
    """The server's base URL."""
    options: ClientOptions
    """The HTTP version and the TLS context."""
    token: str | None
    """The bearer token to send, if any."""

    @classmethod
    def from_arguments(cls, args: argparse.Namespace, url: str) -> Connection:
        """The connection the options in ``args`` describe, checked before anything runs.

        Raises:
            CommandError: conflicting options, a TLS file that cannot be
                loaded, or TLS options for an ``http://`` URL.
        """
        if args.http1 and args.http2:
            raise CommandError("give --http1 or --http2, not both")
        options = ClientOptions(
            http_version="1.1" if args.http1 else "2", ssl_context=_ssl_context(args, url)
        )
        token = args.token if args.token is not None else os.environ.get(TOKEN_VARIABLE)
        return cls(url, options, token or None)

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Client]:
        """A client for the server, open for the block.

        Raises:
            CommandError: the token is malformed.
        """
        interceptors = []
        if self.token is not None:
            try:
                interceptors.append(TokenAuth(token=self.token).client_interceptor())
            except ValueError as error:
                raise CommandError(f"--token: {error}") from None
        async with open_client(self.url, self.options, interceptors=interceptors) as client:
            yield client


@contextmanager
def time_limit(timeout: float | None, what: str) -> Iterator[None]:
    """Run the block under ``--timeout`` (if given), as a trio cancel scope.

    The client sends what is left of it to the server in ``Connect-Timeout-Ms``.
    Reaching it ends the block with ``ConnectError(deadline_exceeded)``, as
    the server's own answer past the deadline would.
    """
    with trio.move_on_after(math.inf if timeout is None else timeout) as scope:
        yield
    if scope.cancelled_caught:
        raise ConnectError(
            Code.DEADLINE_EXCEEDED, f"{what} did not finish within --timeout {timeout:g} s"
        )


def _ssl_context(args: argparse.Namespace, url: str) -> ssl.SSLContext | None:
    if args.key is not None and args.cert is None:
        raise CommandError("--key needs --cert")
    if args.cacert is None and args.cert is None:
        return None
    if not url.startswith("https://"):
        raise CommandError(f"--cacert and --cert need an https:// URL, not {url}")
    try:
        context = ssl.create_default_context(cafile=args.cacert)
        if args.cert is not None:
            context.load_cert_chain(args.cert, args.key)
    except (OSError, ssl.SSLError) as error:
        raise CommandError(f"cannot load the TLS files: {error}") from None
    return context


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    header = name.strip().lower(), value.strip()
    try:
        if not colon:
            raise ValueError("no colon")
        Metadata([header])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 'Name: value'") from None
    return header


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return seconds


def _detail_json(detail: any_pb2.Any, pool: DescriptorPool | None) -> str:
    type_name = detail.type_url.rpartition("/")[2]
    for candidate in (pool, descriptor_pool.Default()):
        if candidate is None:
            continue
        try:
            descriptor = candidate.FindMessageTypeByName(type_name)
        except KeyError:
            continue
        message = message_factory.GetMessageClass(descriptor)()
        if detail.Unpack(message):
            value = json_format.MessageToDict(message, descriptor_pool=candidate)
            return json.dumps({"type": type_name, "value": value})
    return json.dumps({"type": type_name, "base64": base64.b64encode(detail.value).decode()})
