"""What ``import trioplugin`` costs: no HTTP library it does not run on.

Each check runs in a fresh interpreter, since this one has imported
everything already.
"""

from __future__ import annotations

import subprocess
import sys

_OTHER_STACKS = ("httpx", "httpcore", "h11", "h2", "hyperframe")


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_importing_the_library_imports_no_other_http_stack() -> None:
    code = (
        "import sys, trioplugin, trioplugin.transport, trioplugin.rpc, trioplugin.resilience; "
        f"print(sorted(name for name in {_OTHER_STACKS!r} if name in sys.modules))"
    )
    assert _run(code) == "[]"


def test_the_httpx_transport_imports_httpx_when_first_used() -> None:
    code = (
        "import sys; from trioplugin.transport import HttpxTransport, open_httpx_transport; "
        "print('httpx' in sys.modules, HttpxTransport.__name__, open_httpx_transport.__name__)"
    )
    assert _run(code) == "True HttpxTransport open_httpx_transport"


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    code = (
        "import trioplugin.transport as t\n"
        "try:\n    t.NoSuchThing\nexcept AttributeError as e:\n    print(e)"
    )
    assert _run(code) == "module 'trioplugin.transport' has no attribute 'NoSuchThing'"
