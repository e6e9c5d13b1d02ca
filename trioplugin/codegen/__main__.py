"""``python -m trioplugin.codegen``: see :func:`trioplugin.codegen.main`."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
