"""``python -m trioplugin``: see :func:`trioplugin._cli.main`."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m trioplugin"))
