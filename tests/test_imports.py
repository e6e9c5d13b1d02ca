"""What ``import trioplugin`` costs: no HTTP library it does not run on, none undeclared.

Each import check runs in a fresh interpreter, since this one has imported
everything already.
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_ROOT = Path(__file__).parents[1]
_TEST_ONLY_VIA = {"pyqwest": "connectrpc", "protobuf": "connectrpc"}
"""Modules the interop tests import that come with the connectrpc package (its
HTTP client and its protobuf runtime), which the ``test`` extra declares."""

_OPTIONAL = {
    "observability/otel": ("otel", "opentelemetry"),
    "observability/prometheus": ("prometheus", "prometheus_client"),
    "discovery/dns": ("dns", "dns"),
}
"""The packages that need an extra (``trioplugin/<package>``: the observability adapters,
DNS discovery), the extra that brings what each imports, and the module it brings:
nothing else in trioplugin imports it."""

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


def _declared(*extras: str) -> set[str]:
    """The dependencies, with those of ``extras`` and of the ``trioplugin[...]`` they name."""
    project = tomllib.loads((_ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(spec) for spec in project["dependencies"]]
    pending, seen = list(extras), set()
    while pending:  # ends: each extra is expanded once
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for spec in project["optional-dependencies"][extra]:
            requirement = Requirement(spec)
            requirements.append(requirement)
            if canonicalize_name(requirement.name) == "trioplugin":
                pending += requirement.extras
    return {canonicalize_name(requirement.name) for requirement in requirements}


def _imported(package: str) -> set[str]:
    """The top-level modules ``package`` imports that are neither stdlib nor ours.

    Not those a test asks for with ``pytest.importorskip`` (it skips without them).
    """
    found: set[str] = set()
    optional: set[str] = set()
    for path in (_ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.partition(".")[0])
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "importorskip"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                optional.add(node.args[0].value.partition(".")[0])
    ours = {"trioplugin", "tests", "examples", "benchmarks", "__future__"}
    return {
        name
        for name in found - optional
        if name not in sys.stdlib_module_names and name not in ours
    }


def _undeclared(package: str, declared: set[str]) -> dict[str, list[str]]:
    distributions = importlib.metadata.packages_distributions()
    missing: dict[str, list[str]] = {}
    for module in sorted(_imported(package)):
        names = {canonicalize_name(name) for name in distributions.get(module, [module])}
        if not names & declared:
            missing[module] = sorted(names)
    return missing


def test_every_run_time_import_is_declared() -> None:
    imported = _imported("trioplugin")
    assert {"hpack", "httptools", "httpx", "trio"} <= imported  # the scan sees them
    assert not imported & {"h2", "h11", "hyperframe", "httpcore"}  # used by tests only
    extras = [extra for extra, _ in _OPTIONAL.values()]
    assert _undeclared("trioplugin", _declared(*extras)) == {}
    for package, (extra, module) in _OPTIONAL.items():
        assert _undeclared(f"trioplugin/{package}", _declared(extra)) == {}
        assert module not in _imported_outside(package), f"{module} imported outside {package}"


def _imported_outside(package: str) -> set[str]:
    """What trioplugin imports in files outside ``trioplugin/<package>``."""
    found: set[str] = set()
    for path in (_ROOT / "trioplugin").rglob("*.py"):
        if path.is_relative_to(_ROOT / "trioplugin" / package):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.partition(".")[0])
    return found


def test_the_optional_packages_import_their_extra_only_when_imported() -> None:
    code = (
        "import sys, trioplugin, trioplugin.observability, trioplugin.discovery; "
        "print(sorted(m for m in ('opentelemetry', 'prometheus_client', 'dns') "
        "if m in sys.modules))"
    )
    assert _run(code) == "[]"


def test_every_test_import_is_declared() -> None:
    missing = _undeclared("tests", _declared("test"))
    assert {module: _TEST_ONLY_VIA.get(module) for module in missing} == {
        module: "connectrpc" for module in missing
    }
