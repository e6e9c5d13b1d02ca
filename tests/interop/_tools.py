"""Running the command-line HTTP tools the interop tests point at our server (curl, nghttp2's)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pytest
import trio

TOOL_TIMEOUT: Final = 30.0
"""Each tool run takes well under two seconds here; a loaded CI box is slower."""
JSON: Final = ("-H", "content-type: application/json")


def tool(name: str, package: str) -> str:
    """The path of ``name``; the test skips, saying which package has it, if it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


def curl_features(path: str) -> list[str]:
    """The features curl says it was built with (``HTTP2``, ``SSL``, ...)."""
    version = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    line = next((line for line in version.splitlines() if line.startswith("Features:")), "")
    return line.split()[1:]


async def run_tool(*command: str, check: bool = True) -> str:
    """Run ``command`` to its end (at most TOOL_TIMEOUT); its stdout.

    With ``check``, the command must exit 0 (else the test fails with its stderr).
    """
    with trio.fail_after(TOOL_TIMEOUT):
        result = await trio.run_process(
            list(command), capture_stdout=True, capture_stderr=True, check=False
        )
    stderr = result.stderr.decode(errors="replace")
    if check:
        assert result.returncode == 0, f"{command[0]} exited with {result.returncode}:\n{stderr}"
    return result.stdout.decode(errors="replace")


def json_file(tmp_path: Path, message: Mapping[str, Any]) -> str:
    """A file holding ``message`` as JSON (for ``--data-binary @file`` and ``-d``)."""
    path = tmp_path / "request.json"
    path.write_text(json.dumps(message))
    return str(path)


_REQUESTS: Final = re.compile(
    r"^requests: (?P<total>\d+) total, (?P<started>\d+) started, (?P<done>\d+) done, "
    r"(?P<succeeded>\d+) succeeded, (?P<failed>\d+) failed, (?P<errored>\d+) errored, "
    r"(?P<timeout>\d+) timeout$",
    re.MULTILINE,
)
_STATUS: Final = re.compile(
    r"^status codes: (?P<status_2xx>\d+) 2xx, (?P<status_3xx>\d+) 3xx, "
    r"(?P<status_4xx>\d+) 4xx, (?P<status_5xx>\d+) 5xx$",
    re.MULTILINE,
)


async def h2load_counts(h2load: str, url: str, body: str, *args: str) -> dict[str, int]:
    """Run h2load; the counts of its summary (``succeeded``, ``status_2xx``, ...)."""
    out = await run_tool(h2load, "-d", body, *JSON, *args, url)
    requests, status = _REQUESTS.search(out), _STATUS.search(out)
    assert requests is not None and status is not None, f"no summary from h2load:\n{out}"
    return {
        key: int(value) for key, value in {**requests.groupdict(), **status.groupdict()}.items()
    }
