"""``trioplugin launch -- PROGRAM ...``: start a plugin as a host would, and say what it said."""

from __future__ import annotations

import argparse
import logging

import trio

from ._cli_common import RPC_ERROR, CommandError, Console, Subcommands
from .plugin import HandshakeConfig, LaunchOptions, PluginStartError, open_plugin_nursery
from .plugin.protos.grpc.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from .plugin.protos.grpc.health.v1.health_trioplugin import HEALTH, HealthClient
from .protocol import Code, ConnectError

_EPILOG = """\
Starts PROGRAM with the handshake's environment, reads its handshake line,
makes the Handshake call, prints where it serves and its health, and stops
it by the shutdown ladder (or, with --stay, keeps it running until Ctrl-C
or until it exits). The plugin's logs go to stderr. Exit status: 0 when the
plugin started and reported SERVING, 1 when it did not start (the error
says why), 2 for bad arguments.

  trioplugin launch -- python -m kv_plugin
  trioplugin launch --cookie-key KV_PLUGIN --cookie-value 9f1c0a63 -- ./kv-plugin
"""


def add_launch_command(commands: Subcommands) -> None:
    """Add ``launch`` to the CLI's subcommands (``commands``, from ``add_subparsers``)."""
    defaults = HandshakeConfig()
    parser = commands.add_parser(
        "launch",
        help="start a plugin as a host would; print its handshake and health",
        description="Start a plugin program as a trioplugin host would.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cookie-key", default=defaults.magic_cookie_key, help="the magic cookie's variable"
    )
    parser.add_argument(
        "--cookie-value", default=defaults.magic_cookie_value, help="the magic cookie's value"
    )
    parser.add_argument(
        "--app-version",
        type=int,
        action="append",
        metavar="N",
        help="an app protocol version the host speaks (repeat for several; default 1)",
    )
    parser.add_argument(
        "--no-mtls", action="store_true", help="accept a plugin that serves plain h2c"
    )
    parser.add_argument(
        "--connect-plugin-go",
        action="store_true",
        help="start it as connect-plugin-go does: PORT in its environment, no handshake line",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=10.0, metavar="SECONDS", help="default 10"
    )
    parser.add_argument(
        "--name", default="plugin", help="the plugin's name, for its logs (default: plugin)"
    )
    parser.add_argument(
        "--stay", action="store_true", help="keep the plugin running until Ctrl-C or its exit"
    )
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- PROGRAM ...")
    parser.set_defaults(run=run_launch)


async def run_launch(args: argparse.Namespace, console: Console) -> int:
    """Launch the plugin ``args`` name; print its handshake and health; return the exit status.

    Raises:
        CommandError: no program, or options that do not make a launch.
    """
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise CommandError("no plugin program: write it after --, as: launch -- python -m kv")
    try:
        options = LaunchOptions(
            config=HandshakeConfig(
                magic_cookie_key=args.cookie_key,
                magic_cookie_value=args.cookie_value,
                app_protocol_versions=tuple(args.app_version or (1,)),
            ),
            start_timeout=args.start_timeout,
            auto_mtls=not args.no_mtls,
            handshake="connect-plugin-go" if args.connect_plugin_go else "trioplugin",
        )
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    logger = logging.getLogger("trioplugin.plugin")
    handler = logging.StreamHandler(console.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        return await _launch(args, argv, options, console)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def _launch(
    args: argparse.Namespace, argv: list[str], options: LaunchOptions, console: Console
) -> int:
    async with open_plugin_nursery([HEALTH]) as host:
        try:
            handle = await host.launch(args.name, argv, launch=options)
        except PluginStartError as exc:
            console.stderr.write(f"error: {exc}\n")
            return RPC_ERROR
        console.print(f"serving at {handle.url}" + ("" if options.cleartext else " (mTLS, pinned)"))
        try:
            reply = await handle.dispense("Health", HealthClient).Check(HealthCheckRequest())
        except ConnectError as exc:
            if exc.code not in (Code.UNIMPLEMENTED, Code.NOT_FOUND):
                raise
            console.print("health: not served (it answers no grpc.health.v1.Health)")
            serving = True  # it answered the handshake: up, as far as anyone can tell
        else:
            console.print(f"health: {HealthCheckResponse.ServingStatus.Name(reply.status)}")
            serving = reply.status == HealthCheckResponse.SERVING
        if args.stay:
            console.print("running; Ctrl-C stops it")
            await trio.sleep_forever()
    return 0 if serving else RPC_ERROR
