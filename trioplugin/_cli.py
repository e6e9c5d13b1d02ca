"""``python -m trioplugin`` and the ``trioplugin`` command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._version import __version__

_EPILOG = """\
code generation:
  python -m trioplugin.codegen  typed stubs and _pb2 modules from .proto files
                                (python -m trioplugin.codegen --help)
  protoc-gen-trioplugin         the same generator as a protoc plugin
                                (protoc --trioplugin_out=DIR ...)
"""


def main(argv: Sequence[str] | None = None, *, prog: str = "trioplugin") -> int:
    """Run the command line with ``argv`` (the process's arguments if None).

    ``--version`` prints trioplugin's version; with no arguments, or
    ``--help``, the help says what there is. Returns the exit status (argparse
    exits by itself for ``--help``, ``--version`` and bad arguments).
    """
    parser = _parser(prog)
    parser.parse_args(argv)
    parser.print_help()
    return 0


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
    return parser
