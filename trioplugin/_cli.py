"""``python -m trioplugin`` and the ``trioplugin`` command.

Each subcommand lives in a module of its own that adds its parser to
:data:`COMMANDS`' subparsers and sets ``run`` (an async function of the
parsed arguments and a :class:`~trioplugin._cli_common.Console` that returns
the exit status). :func:`main` runs it in a new trio loop; :func:`run` is
the same in the caller's loop (the tests drive it so).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Final

import trio

from ._cli_call import add_call_command
from ._cli_common import CommandError, Console, Subcommands
from ._cli_health import add_health_command
from ._cli_launch import add_launch_command
from ._version import __version__
from .protocol import ConnectError

COMMANDS: Final[tuple[Callable[[Subcommands], None], ...]] = (
    add_call_command,
    add_health_command,
    add_launch_command,
)
"""What adds each subcommand to the subparsers."""

_EPILOG = """\
code generation:
  python -m trioplugin.codegen  typed stubs and _pb2 modules from .proto files
                                (python -m trioplugin.codegen --help)
  protoc-gen-trioplugin         the same generator as a protoc plugin
                                (protoc --trioplugin_out=DIR ...)
"""

_INTERRUPTED: Final = 130
"""The exit status after Ctrl-C, as shells give it (128 + SIGINT)."""


def main(argv: Sequence[str] | None = None, *, prog: str = "trioplugin") -> int:
    """Run the command line with ``argv`` (the process's arguments if None).

    ``--version`` prints trioplugin's version; with no arguments, or
    ``--help``, the help says what there is; a subcommand runs in a new trio
    loop. Returns the exit status (argparse exits by itself for ``--help``,
    ``--version`` and bad arguments).
    """
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if args.run is None:
        parser.print_help()
        return 0
    try:
        return trio.run(_run_command, args, Console.standard())
    except KeyboardInterrupt:
        return _INTERRUPTED


async def run(
    argv: Sequence[str], console: Console | None = None, *, prog: str = "trioplugin"
) -> int:
    """:func:`main` in the caller's trio loop, with ``console``'s streams (default: the process's).

    Returns the exit status; argparse still exits (``SystemExit``) for
    ``--help``, ``--version`` and bad arguments.
    """
    console = Console.standard() if console is None else console
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if args.run is None:
        parser.print_help(console.stdout)
        return 0
    return await _run_command(args, console)


async def _run_command(args: argparse.Namespace, console: Console) -> int:
    try:
        status: int = await args.run(args, console)
    except CommandError as error:
        console.stderr.write(f"error: {error}\n")
        return error.status
    except ConnectError as error:
        return console.report(error)
    return status


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "trioplugin: an actor-based resilience runtime on trio for plugin hosts,\n"
            "over the Connect RPC protocol."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"trioplugin {__version__}",
        help="print trioplugin's version and exit",
    )
    parser.set_defaults(run=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(commands)
    return parser
