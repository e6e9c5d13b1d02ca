"""The layers use each other's public names only, and arrows go down (ARCHITECTURE.md §2).

Read from the source with ``ast``: an import of another layer's private
module, an import of a layer above, or a use of a private attribute that
only another layer defines (``metadata._trusted`` from the transport) fails
here, naming the file and line. What a layer above needs is made public in
the layer below.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "trioplugin"

# Lower first: a layer may import the ones before it (codegen stands alone).
ORDER = ["protocol", "transport", "rpc", "resilience", "actor"]
MAY_IMPORT: dict[str, set[str]] = {
    layer: set(ORDER[:index]) for index, layer in enumerate(ORDER)
} | {
    "codegen": set(),
    "auth": {"protocol", "transport", "rpc"},
    "observability": {"protocol", "transport", "rpc", "resilience", "actor"},
    "discovery": {"protocol", "transport", "rpc", "resilience", "actor"},
    "plugin": {"protocol", "transport", "rpc", "resilience", "auth", "actor", "discovery"},
}
SHARED = "(shared)"  # trioplugin/_util.py and the like: any layer may use them


@dataclass(frozen=True)
class Module:
    path: Path
    name: str  # dotted, e.g. trioplugin.rpc._client
    layer: str
    tree: ast.Module


def layer_of(dotted: str) -> str:
    parts = dotted.split(".")
    if len(parts) < 2 or parts[1].startswith("_"):
        return SHARED
    return parts[1]


def modules() -> list[Module]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        found.append(Module(path, name, layer_of(name), ast.parse(path.read_text())))
    return found


MODULES = modules()


def resolve(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.name.split(".")
    if module.path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(module: Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every trioplugin module or name the module imports."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            target = resolve(module, node)
            if target.startswith("trioplugin"):
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("trioplugin"):
                    yield node.lineno, alias.name


def where(module: Module, line: int) -> str:
    return f"{module.path.relative_to(ROOT.parent)}:{line}"


def test_no_layer_imports_another_layers_private_modules_or_names() -> None:
    wrong = []
    for module in MODULES:
        for line, target in imports(module):
            layer = layer_of(target)
            if layer in (module.layer, SHARED):
                continue
            private = [part for part in target.split(".")[2:] if part.startswith("_")]
            if private:
                wrong.append(f"{where(module, line)} imports {target}")
    assert not wrong, "cross-layer private imports:\n" + "\n".join(wrong)


def test_arrows_go_down_the_layers() -> None:
    wrong = []
    for module in MODULES:
        if module.layer == SHARED:
            continue
        for line, target in imports(module):
            layer = layer_of(target)
            if layer in (module.layer, SHARED) or layer in MAY_IMPORT[module.layer]:
                continue
            wrong.append(f"{where(module, line)} ({module.layer}) imports {target} ({layer})")
    assert not wrong, "imports of a layer above (or aside):\n" + "\n".join(wrong)


def private_attributes_by_layer() -> dict[str, set[str]]:
    """Every ``_name`` a layer defines: methods, class attributes, ``self._name = ...``."""
    defined: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        for node in ast.walk(module.tree):
            names: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names = [node.attr]
            elif isinstance(node, (ast.AnnAssign, ast.Assign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [target.id for target in targets if isinstance(target, ast.Name)]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value]  # __slots__ entries
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    defined[name].add(module.layer)
    return defined


def test_no_layer_touches_a_private_attribute_only_another_layer_defines() -> None:
    defined = private_attributes_by_layer()
    wrong = []
    for module in MODULES:
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
                continue
            if node.attr.startswith("__") or node.attr not in defined:
                continue  # dunders, and other libraries' private names (not ours to judge)
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            layers = defined[node.attr]
            if module.layer in layers or SHARED in layers:
                continue
            wrong.append(f"{where(module, node.lineno)} uses .{node.attr} ({sorted(layers)})")
    assert not wrong, "private attributes of another layer:\n" + "\n".join(wrong)


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_every_layer_has_modules(layer: str) -> None:
    # A renamed layer would make the checks above pass vacuously.
    assert any(module.layer == layer for module in MODULES)
