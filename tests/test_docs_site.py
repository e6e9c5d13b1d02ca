"""The docs site's own code (docs/_ext): Sphinx markup as Markdown, and the reference check.

The build itself runs in CI (``mkdocs build --strict`` in .ci/run); these
tests pin what the rewriting does, on text and on trioplugin's own
docstrings as griffe loads them.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import ModuleType

import pytest

import trioplugin.codegen

pytest.importorskip("griffe", reason="the docs extra is not installed")
import griffe

ROOT = Path(__file__).parents[1]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_ext_{name}", ROOT / "docs/_ext" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


markup = _load("sphinx_markup.py")


def _links(text: str, table: dict[str, str | None]) -> str:
    calls: list[str] = []

    def resolve(target: str) -> str | None:
        calls.append(target)
        return table[target]

    out: str = markup.rewrite(text, resolve)
    assert sorted(calls) == sorted(table)
    return out


def test_a_resolved_role_becomes_a_link_with_sphinx_text() -> None:
    table: dict[str, str | None] = {
        "trioplugin.transport.ClientLimits": "trioplugin.transport.ClientLimits",
        "open_client": "trioplugin.rpc.open_client",
        "PluginHandle.dispense": "trioplugin.actor.PluginHandle.dispense",
    }
    text = (
        "See :class:`~trioplugin.transport.ClientLimits`, :func:`open_client` "
        "and :meth:`PluginHandle.dispense`."
    )
    assert _links(text, table) == (
        "See [`ClientLimits`][trioplugin.transport.ClientLimits], "
        "[`open_client()`][trioplugin.rpc.open_client] "
        "and [`PluginHandle.dispense()`][trioplugin.actor.PluginHandle.dispense]."
    )


def test_an_unresolved_role_is_plain_code() -> None:
    text = ":class:`trio.Nursery` and :py:data:`~typing.Final`"
    assert _links(text, {"trio.Nursery": None, "typing.Final": None}) == (
        "`trio.Nursery` and `Final`"
    )


def test_titles_bangs_parentheses_and_leading_dots() -> None:
    table: dict[str, str | None] = {"a.b.c": "a.b.c", "._mod.f": "pkg._mod.f", "x.y": "x.y"}
    text = ":func:`the c <a.b.c>` :meth:`!never` :func:`._mod.f` :func:`x.y()`"
    assert _links(text, table) == (
        "[`the c`][a.b.c] `never()` [`_mod.f()`][pkg._mod.f] [`x.y()`][x.y]"
    )


def test_a_literal_block_becomes_a_fenced_python_block() -> None:
    text = "Use it::\n\n    async with f() as x:\n        await x\n\nThen more."
    assert markup.rewrite(text, lambda _: None) == (
        "Use it:\n\n```python\nasync with f() as x:\n    await x\n```\n\nThen more."
    )


def test_literal_block_markers_as_reST_reads_them() -> None:
    nothing = markup.rewrite
    # "text ::" reads "text"; a lone "::" paragraph disappears; an indented
    # marker keeps its indentation; a marker at the very end is a block too.
    assert nothing("Look ::\n\n    x = 1", lambda _: None) == "Look\n\n```python\nx = 1\n```"
    assert nothing("::\n\n    x = 1\n", lambda _: None) == "```python\nx = 1\n```\n"
    indented = "  Args:\n\n  ```python\n  y\n  ```\n"
    assert nothing("  Args::\n\n      y\n", lambda _: None) == indented
    # No blank line after it, or nothing indented after it: not a block.
    assert nothing("a::\n    b", lambda _: None) == "a::\n    b"
    assert nothing("a::\n\nb", lambda _: None) == "a::\n\nb"


def _doc(obj: griffe.Object | griffe.Alias) -> str:
    assert obj.docstring is not None
    return obj.docstring.value


@pytest.fixture(scope="module")
def trioplugin_docs() -> griffe.Object | griffe.Alias:
    loader = griffe.GriffeLoader(
        extensions=griffe.load_extensions(markup.SphinxMarkup()),
        search_paths=[str(ROOT)],
        docstring_parser="google",
    )
    return loader.load("trioplugin")


def test_trioplugin_docstrings_link_to_where_the_reference_renders(
    trioplugin_docs: griffe.Object | griffe.Alias,
) -> None:
    docstring = _doc(trioplugin_docs["rpc._open.open_client"])
    # Client is defined in trioplugin.rpc._client and rendered as trioplugin.rpc.Client.
    assert "A [`Client`][trioplugin.rpc.Client] for the Connect endpoint" in docstring
    assert "default [`ClientOptions`][trioplugin.rpc.ClientOptions]" in docstring
    assert "Example:\n\n```python\nasync with open_client(" in docstring
    handle = _doc(trioplugin_docs["actor._handle.PluginHandle"])
    assert "[`dispense()`][trioplugin.actor.PluginHandle.dispense]" in handle


def test_no_sphinx_role_is_left_in_trioplugin(
    trioplugin_docs: griffe.Object | griffe.Alias,
) -> None:
    def walk(obj: griffe.Object | griffe.Alias) -> list[str]:
        found = [obj.path] if obj.docstring and markup.ROLE.search(obj.docstring.value) else []
        for member in obj.members.values():
            if not isinstance(member, griffe.Alias):
                found += walk(member)
        return found

    assert walk(trioplugin_docs) == []


def test_a_reference_to_nothing_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    package = tmp_path / "pkg_with_typo"
    package.mkdir()
    (package / "__init__.py").write_text(
        '"""Doc."""\n\n__all__ = ["f", "g"]\n\n\n'
        "def f() -> None:\n"
        '    """Unlike :func:`g`, not :func:`gg`, nor :class:`trio.Nursery`."""\n\n\n'
        'def g() -> None:\n    """Also :func:`._private` and :func:`__getattr__`."""\n\n\n'
        'def _private() -> None:\n    """Private."""\n\n\n'
        'def __getattr__(name: str) -> object:\n    """Not in __all__."""\n'
    )
    loader = griffe.GriffeLoader(
        extensions=griffe.load_extensions(markup.SphinxMarkup()), search_paths=[str(tmp_path)]
    )
    with caplog.at_level(logging.WARNING):
        module = loader.load("pkg_with_typo")
    assert _doc(module["f"]) == ("Unlike [`g()`][pkg_with_typo.g], not `gg()`, nor `trio.Nursery`.")
    # Private targets, or ones __all__ leaves out, resolve (no warning) but are
    # rendered nowhere: plain code.
    assert _doc(module["g"]) == "Also `_private()` and `__getattr__()`."
    assert [record.getMessage() for record in caplog.records] == [
        f"{package / '__init__.py'}:6: pkg_with_typo.f: cross reference 'gg' resolves nowhere"
    ]
    assert caplog.records[0].name.startswith("mkdocs.")  # so --strict counts it


def test_slots_leave_the_reference() -> None:
    hide = _load("hide_slots.py")
    loader = griffe.GriffeLoader(
        extensions=griffe.load_extensions(hide.HideSlots()), search_paths=[str(ROOT)]
    )
    package = loader.load("trioplugin")
    handle = package["actor._handle.PluginHandle"]
    assert "__slots__" not in handle.members
    assert "dispense" in handle.members


def test_the_reference_check_names_what_a_page_lacks() -> None:
    check = _load("reference_check.py")
    html = '<h2 id="trioplugin.codegen.main"></h2><h2 id="trioplugin.codegen.SUFFIX"></h2>'
    expected = [n for n in trioplugin.codegen.__all__ if n not in ("main", "SUFFIX")]
    assert check.missing("trioplugin.codegen", html) == expected
