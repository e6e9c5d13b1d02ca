"""The README's taste runs as shown: its plugin program, launched by its host."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import trio

ROOT = Path(__file__).parents[1]


async def test_the_readme_taste_launches_its_plugin_and_calls_it(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    plugin, host = blocks[0], blocks[1]
    assert plugin.startswith("# my_plugin.py\n")
    (tmp_path / "my_plugin.py").write_text(plugin)
    (tmp_path / "host.py").write_text(host)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "host.py"], cwd=tmp_path, env=env, capture_stdout=True, check=False
        )
    output = done.stdout.decode()
    assert done.returncode == 0, output
    assert output.startswith('value: "42"\nfound: true\n'), output
    assert "completed=1" in output
