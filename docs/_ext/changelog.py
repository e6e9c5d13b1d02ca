"""A mkdocs hook: the history page shows the news fragments not yet released.

``towncrier build`` writes released notes into ``docs/history.md``; until a
release, the changes are fragments in ``newsfragments/``. On the history page
this hook puts ``towncrier build --draft``'s rendering of them under an
"Unreleased" heading, after towncrier's marker, so the site says what is
coming. It also makes the docs build a check of the fragments: a towncrier
that fails fails the build.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

HISTORY = "history.md"
"""The page (under ``docs/``) that towncrier writes into."""

MARKER = "<!-- towncrier release notes start -->"
"""towncrier's default start string for a Markdown news file."""


def draft(root: Path) -> str:
    """The notes ``towncrier build --draft`` renders for the fragments under ``root``.

    Raises:
        PluginError: towncrier failed (it is missing, or a fragment or its
            configuration is wrong).
    """
    try:
        done = subprocess.run(
            [sys.executable, "-m", "towncrier", "build", "--draft", "--dir", str(root)],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        raise PluginError(f"towncrier build --draft failed:\n{error.stderr}") from error
    return done.stdout


def unreleased(notes: str) -> str:
    """``notes`` (one release's, from towncrier) under an "Unreleased" heading.

    towncrier gives no heading when there are no fragments, only its "No
    significant changes."
    """
    lines = notes.strip().splitlines()
    if lines and lines[0].startswith("## "):
        lines = lines[1:]  # the version and date a release would get
    body = "\n".join(lines).strip() or "No significant changes."
    return f"## Unreleased\n\n{body}\n"


def on_page_markdown(
    markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files, **kwargs: Any
) -> str:
    """Put the unreleased notes into the history page, after towncrier's marker."""
    if page.file.src_uri != HISTORY:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{HISTORY} has lost towncrier's marker {MARKER!r}")
    root = Path(config.config_file_path).parent
    head, _, released = markdown.partition(MARKER)
    return f"{head}{MARKER}\n\n{unreleased(draft(root))}\n{released}"
