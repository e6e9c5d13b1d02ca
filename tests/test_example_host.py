"""The README's first command: the example plugin host runs, and shows retry and the breaker."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

ROOT = Path(__file__).parents[1]


async def test_the_example_host_rides_out_a_blip_and_an_outage() -> None:
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, "-m", "examples.kv"], cwd=ROOT, capture_stdout=True, check=False
        )
    output = done.stdout.decode()
    assert done.returncode == 0, output
    lines = output.splitlines()
    assert "get user/ada -> 'Lovelace', after two retries" in lines
    assert lines.count("get -> unavailable after 3 attempts") == 3
    assert "  circuit: closed -> open" in lines
    assert any(line.startswith("get -> circuit open for 'kv'") for line in lines)
    assert any(line.endswith("(plugin untouched: True)") for line in lines)
    assert lines.index("  circuit: open -> half_open") < lines.index(
        "  circuit: half_open -> closed"
    )
    assert lines[-1].endswith("circuit closed")
