"""A mkdocs hook: each API reference page renders every name in its package's ``__all__``.

A reference page is one line, ``::: trioplugin.rpc``, and mkdocstrings
renders what the package's ``__all__`` names (``filters: public``), so a name
added there appears without editing a page. A name griffe cannot follow from
the source (a dynamic ``__all__``, an export it cannot resolve) would instead
vanish from the page without a word; this hook compares each page with the
package's ``__all__`` at run time, and warns (which fails ``mkdocs build
--strict``) for every name the page has no heading for.
"""

from __future__ import annotations

import importlib
import logging
import re
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

# A warning on a logger under "mkdocs" counts for mkdocs build --strict.
_log = logging.getLogger("mkdocs.hooks.trioplugin.reference_check")

_DIRECTIVE = re.compile(r"^::: *(?P<module>[\w.]+) *$", re.MULTILINE)


def missing(module_name: str, html: str) -> list[str]:
    """The names in ``module_name``'s ``__all__`` that ``html`` has no heading for."""
    module = importlib.import_module(module_name)
    names: list[str] = list(getattr(module, "__all__", ()))
    return [name for name in names if f'id="{module_name}.{name}"' not in html]


def on_page_content(
    html: str, /, *, page: Page, config: MkDocsConfig, files: Files, **kwargs: Any
) -> str:
    """Warn for each name of a page's package that the page does not render."""
    for directive in _DIRECTIVE.finditer(page.markdown or ""):
        module_name = directive["module"]
        absent = missing(module_name, html)
        if absent:
            _log.warning(
                "%s: %s renders no %s, though its __all__ has them",
                page.file.src_uri,
                module_name,
                ", ".join(absent),
            )
    return html
