"""A griffe extension: the docstrings' Sphinx markup, as mkdocstrings renders Markdown.

trioplugin's docstrings are Google style with the reST markup Sphinx reads:
cross-reference roles (``:class:`~trioplugin.transport.ClientLimits```,
``:func:`open_client```, ``:meth:`PluginHandle.dispense```) and literal
blocks (``Example::`` and an indented block). mkdocstrings renders docstrings
as Markdown, where both would come out as literal text, so when a package has
been loaded, before any docstring is parsed, this extension rewrites every
docstring defined in it:

- a role whose target is rendered in the API reference becomes an autorefs
  link to the path it is rendered under,
  ``[`ClientLimits`][trioplugin.transport.ClientLimits]``;
- a role whose target is private to the package (rendered nowhere), or lives
  outside it (trio, the standard library, builtins; the build reads no other
  project's inventory), becomes plain code;
- a role whose target resolves nowhere becomes plain code and a warning,
  which ``mkdocs build --strict`` turns into a failure;
- ``text::`` and the indented block after it become ``text:`` and a fenced
  Python code block.

Targets resolve as Sphinx resolves them: a dotted path from the top, else a
name in the docstring's scope (its object, then the enclosing class and
module, with their imports); one that starts with ``.`` is found as a suffix
of a path in the package, the nearest first. The text follows Sphinx too:
``~`` keeps the last component, functions and methods get ``()``, ``title
<target>`` shows the title, and ``!target`` is never linked.
"""

from __future__ import annotations

import builtins
import functools
import importlib.util
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import griffe

# A warning on a logger under "mkdocs" counts for mkdocs build --strict.
_log = logging.getLogger("mkdocs.plugins.trioplugin.sphinx_markup")

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|attr|data|const|exc|obj|mod|type):`(?P<content>[^`]+)`"
)
"""A Sphinx cross-reference role of the Python domain."""

_EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")
_CALLABLE_ROLES = frozenset({"func", "meth"})

Resolver = Callable[[str], "str | None"]
"""Gives the autorefs identifier for a role's target, or ``None`` for plain code."""


def rewrite(text: str, resolve: Resolver) -> str:
    """``text`` (a docstring) with its roles and literal blocks in Markdown.

    ``resolve`` maps each role's target (without ``~``, ``!`` or a title) to
    the identifier to link it to, or to ``None`` for plain code.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        end = _literal_block_end(lines, i)
        if end is None:
            out.append(ROLE.sub(lambda match: _role(match, resolve), line))
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        lead = line.rstrip().removesuffix("::")
        if lead.strip():  # reST: "text::" reads "text:", and "text ::" reads "text"
            lead = lead.rstrip() if lead.endswith(" ") else f"{lead}:"
            out += [ROLE.sub(lambda match: _role(match, resolve), lead), ""]
        block = lines[i + 1 : end]
        while not block[0].strip():
            block.pop(0)
        cut = min(_indent(b) for b in block if b.strip())
        out.append(f"{indent}```python")
        out += [f"{indent}{b[cut:]}" if b.strip() else "" for b in block]
        out.append(f"{indent}```")
        i = end
    return "\n".join(out)


def _literal_block_end(lines: list[str], i: int) -> int | None:
    """The end of the literal block that ``lines[i]`` opens, if it opens one.

    The block is ``lines[i + 1 : end]``: a blank line, then lines indented
    deeper than ``lines[i]`` (and blank lines among them, not after them).
    """
    line = lines[i]
    if not line.rstrip().endswith("::") or i + 1 >= len(lines) or lines[i + 1].strip():
        return None
    indent = _indent(line)
    end = i + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    while end > i + 1 and not lines[end - 1].strip():
        end -= 1
    return end if end > i + 1 else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _role(match: re.Match[str], resolve: Resolver) -> str:
    role, content = match["role"], match["content"].strip()
    title: str | None = None
    if explicit := _EXPLICIT_TITLE.match(content):
        title, content = explicit["title"], explicit["target"].strip()
    no_link, short = content.startswith("!"), content.startswith("~")
    target = content.lstrip("!~").removesuffix("()")
    if title is None:
        title = target.lstrip(".")
        if short:
            title = title.rsplit(".", 1)[-1]
        if role in _CALLABLE_ROLES:
            title += "()"
    code = f"`{title}`"
    identifier = None if no_link else resolve(target)
    return code if identifier is None else f"[{code}][{identifier}]"


class SphinxMarkup(griffe.Extension):
    """Rewrites the docstrings of each loaded package before they are rendered."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Rewrite the docstrings of ``pkg`` and of everything defined in it."""
        index = _Index(pkg, loader.modules_collection)
        for obj in _defined_in(pkg):
            docstring = obj.docstring
            if docstring is not None and ("`" in docstring.value or "::" in docstring.value):
                docstring.value = rewrite(docstring.value, functools.partial(index.resolve, obj))


def _defined_in(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and the objects defined in it (not the names it imports)."""
    yield obj
    for member in obj.members.values():
        if not isinstance(member, griffe.Alias):
            yield from _defined_in(member)


class _Index:
    """What a package defines, and where the API reference renders it."""

    def __init__(self, pkg: griffe.Module, collection: griffe.ModulesCollection) -> None:
        self._collection = collection
        self._defined = [obj.path for obj in _defined_in(pkg)]
        # Rendered: the public modules that have an __all__, and what it names,
        # under the module closest to where the name is defined.
        self._homes: dict[str, str] = {}
        self._modules: set[str] = set()
        for module in _defined_in(pkg):
            if not module.is_module or not module.exports or not _public_path(module.path):
                continue
            self._homes[module.path] = module.path
            self._modules.add(module.path)
            for name in map(str, module.exports):
                member = module.members.get(name)
                if member is None:
                    continue
                try:
                    canonical = member.canonical_path
                except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                    continue
                home = f"{module.path}.{name}"
                known = self._homes.get(canonical)
                if known is None or _shared(home, canonical) > _shared(known, canonical):
                    self._homes[canonical] = home

    def resolve(self, obj: griffe.Object, target: str) -> str | None:
        """The identifier to link ``target`` to, from the docstring of ``obj``."""
        if target.startswith("."):
            canonical = self._by_suffix(obj, target)
        else:
            canonical = self._canonical(target)
            roots = {target.partition(".")[0]}
            if canonical is None:
                first, _, rest = target.partition(".")
                try:
                    path = obj.resolve(first)
                except griffe.NameResolutionError:
                    pass
                else:
                    canonical = self._canonical(f"{path}.{rest}" if rest else path)
                    roots.add(path.partition(".")[0])
            if canonical is None and any(self._is_external(root) for root in roots):
                return None
        if canonical is None:
            _log.warning(
                "%s:%s: %s: cross reference %r resolves nowhere",
                obj.filepath,
                obj.lineno,
                obj.path,
                target,
            )
            return None
        return self._rendered(canonical)

    def _canonical(self, path: str) -> str | None:
        """The canonical path of the object at ``path``, if the loaded packages have it."""
        try:
            found: griffe.Object | griffe.Alias = self._collection.get_member(path)
            return found.canonical_path
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None

    def _is_external(self, name: str) -> bool:
        """Whether ``name`` is a builtin, or an importable module not loaded here."""
        if name in self._collection.members:
            return False
        if hasattr(builtins, name):
            return True
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            return False

    def _by_suffix(self, obj: griffe.Object, suffix: str) -> str | None:
        """The defined path ending in ``suffix`` that is nearest to ``obj``."""
        found = [path for path in self._defined if path.endswith(suffix)]
        return max(found, key=lambda path: _shared(path, obj.path), default=None)

    def _rendered(self, canonical: str) -> str | None:
        """The path the object at ``canonical`` is rendered under; None if nowhere.

        That is the home of the nearest enclosing object that has one, and the
        rest of the path, when all of it is public: a class's public members
        are rendered with the class, but a module's only if its ``__all__``
        names them (and then they have a home of their own).
        """
        parts = canonical.split(".")
        for k in range(len(parts), 0, -1):
            enclosing = ".".join(parts[:k])
            home = self._homes.get(enclosing)
            if home is None:
                continue
            rest = parts[k:]
            if not rest:
                return home
            if enclosing in self._modules or not _public_path(".".join(rest)):
                return None
            return ".".join([home, *rest])
        return None


def _public_path(path: str) -> bool:
    """Whether no part of ``path`` is private (``__special__`` names are public)."""
    return not any(
        part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
        for part in path.split(".")
    )


def _shared(a: str, b: str) -> int:
    """How many leading dotted parts ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a.split("."), b.split("."), strict=False):
        if x != y:
            break
        n += 1
    return n
