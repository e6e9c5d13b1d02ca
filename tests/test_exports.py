"""The public surface: what each package exports, and how those names behave (trio's model).

Every public package lists its names in ``__all__``; each is documented,
says ``trioplugin.<package>`` in its ``__module__`` (so reprs and tracebacks
show where to import it from, not a private module), is ``@final`` where it
is a concrete class, and cannot be constructed where the library builds it.
A new public name must pass these checks or be listed below with a reason.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil
from typing import Any

import pytest

import trioplugin

PACKAGES = [
    "trioplugin",
    "trioplugin.protocol",
    "trioplugin.transport",
    "trioplugin.rpc",
    "trioplugin.resilience",
    "trioplugin.actor",
    "trioplugin.discovery",
    "trioplugin.discovery.etcd",
    "trioplugin.discovery.dns",
    "trioplugin.auth",
    "trioplugin.observability",
    "trioplugin.observability.otel",
    "trioplugin.observability.prometheus",
    "trioplugin.codegen",
    "trioplugin.plugin",
]

# Made by the library only (a handle, a server, a stream, an exchange): ``Cls()`` raises.
LIBRARY_BUILT = {
    "AttemptLogger",
    "AttemptTracer",
    "BidiStream",
    "EndpointNursery",
    "HTTP1ClientExchange",
    "HTTP1Transport",
    "HTTP2ClientExchange",
    "HTTP2Transport",
    "HandlerContext",
    "HttpxClientExchange",
    "HttpxTransport",
    "Permit",
    "PluginHandle",
    "PluginNursery",
    "ResponseStream",
    "Server",
}

# What a typical host or plugin annotates: importable from the root package.
ROOT_NAMES = {
    "ActorOptions",
    "ActorState",
    "ActorStatistics",
    "BidiStream",
    "Call",
    "CallNext",
    "CircuitBreakerInterceptor",
    "ClientLimits",
    "ClientOptions",
    "Code",
    "ConnectError",
    "HandlerContext",
    "Interceptor",
    "MessageReceiver",
    "Metadata",
    "PluginHandle",
    "PluginNursery",
    "ResponseStream",
    "RetryInterceptor",
    "RetryPolicy",
    "Server",
    "ServerLimits",
    "ServerOptions",
    "ServerStatistics",
    "Service",
    "StateChanged",
    "UnaryResponse",
    "open_client",
    "open_connect_server",
    "open_plugin_nursery",
    "serve_connect",
}


def public_names() -> list[tuple[str, str, Any]]:
    found = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            found.append((package, name, getattr(module, name)))
    return found


NAMES = public_names()
CLASSES: list[tuple[str, str, Any]] = [
    (package, name, value) for package, name, value in NAMES if inspect.isclass(value)
]
FUNCTIONS: list[tuple[str, str, Any]] = [
    (package, name, value) for package, name, value in NAMES if inspect.isfunction(value)
]


def ids(names: list[tuple[str, str, Any]]) -> list[str]:
    return [f"{package}.{name}" for package, name, _ in names]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_lists_names_that_exist_and_is_sorted(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.__all__ names {name}, which it lacks"
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_looking_attribute_is_in_all(package: str) -> None:
    # Names without an underscore that a package has but does not export are
    # either submodules or leftovers; leftovers would look public to users.
    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    stray = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name not in module.__all__
        and name not in submodules
        and not inspect.ismodule(value)
        and name not in {"annotations", "TYPE_CHECKING"}
    }
    assert not stray, f"{package} has public-looking names not in __all__: {sorted(stray)}"


@pytest.mark.parametrize(
    ("package", "name", "value"), CLASSES + FUNCTIONS, ids=ids(CLASSES + FUNCTIONS)
)
def test_every_public_class_and_function_is_documented(package: str, name: str, value: Any) -> None:
    assert inspect.getdoc(value), f"{package}.{name} has no docstring"


@pytest.mark.parametrize(
    ("package", "name", "value"), CLASSES + FUNCTIONS, ids=ids(CLASSES + FUNCTIONS)
)
def test_every_public_class_and_function_says_a_public_module(
    package: str, name: str, value: Any
) -> None:
    module = value.__module__
    assert module.startswith("trioplugin"), f"{package}.{name} comes from {module}"
    assert not any(part.startswith("_") for part in module.split(".")), (
        f"{package}.{name}.__module__ is {module}, a private module"
    )
    assert getattr(importlib.import_module(module), value.__name__) is value


def exempt_from_final(value: type) -> bool:
    return (
        issubclass(value, BaseException)
        or issubclass(value, enum.Enum)
        or getattr(value, "_is_protocol", False)
        or value.__name__.endswith("Statistics")
        or any(other is not value and issubclass(other, value) for _, _, other in CLASSES)
    )


CONCRETE = [
    (package, name, value) for package, name, value in CLASSES if not exempt_from_final(value)
]


@pytest.mark.parametrize(("package", "name", "value"), CONCRETE, ids=ids(CONCRETE))
def test_concrete_public_classes_are_final(package: str, name: str, value: type) -> None:
    # Exceptions, enums, Protocols, statistics and bases of other public classes are exempt.
    assert getattr(value, "__final__", False), f"{package}.{name} is not @final"


@pytest.mark.parametrize("name", sorted(LIBRARY_BUILT))
def test_classes_the_library_builds_have_no_public_constructor(name: str) -> None:
    value = next(value for _, n, value in CLASSES if n == name)
    with pytest.raises(TypeError, match="no public constructor"):
        value()


def test_the_library_built_list_names_public_classes() -> None:
    assert {name for _, name, _ in CLASSES} >= LIBRARY_BUILT


def test_the_root_exports_what_a_host_or_a_plugin_annotates() -> None:
    missing = ROOT_NAMES - set(trioplugin.__all__)
    assert not missing, f"add to trioplugin/__init__.py: {sorted(missing)}"


def test_a_root_name_is_the_layers_object() -> None:
    layers = {name: value for package, name, value in NAMES if package != "trioplugin"}
    for name in trioplugin.__all__:
        if name in layers:
            assert getattr(trioplugin, name) is layers[name], name


def test_reprs_show_the_public_path() -> None:
    assert repr(trioplugin.ConnectError).startswith("<class 'trioplugin.protocol.ConnectError'")
    assert repr(trioplugin.Code.UNAVAILABLE) == "<Code.UNAVAILABLE: 'unavailable'>"
