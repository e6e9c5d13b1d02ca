"""Small helpers shared across layers."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import trio

T = TypeVar("T")


class NoPublicConstructor(type):
    """A metaclass for public classes that only the library creates (handles, servers).

    ``Cls(...)`` raises TypeError; the library calls ``Cls._create(...)``.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__} has no public constructor; "
            "the library creates it for you"
        )

    def _create(cls: type[T], *args: Any, **kwargs: Any) -> T:
        return super().__call__(*args, **kwargs)  # type: ignore[misc, no-any-return]


@asynccontextmanager
async def open_transparent_nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery that lets an exception from its own block out as it was raised.

    trio wraps everything that leaves a nursery in an ExceptionGroup; for the
    context managers we hand users (servers, plugin nurseries, streams), an
    exception the user's own block raised should come back unchanged, so
    ``except ConnectError`` works around them. Failures of child tasks still
    come out grouped, as from any nursery.
    """
    body_error: BaseException | None = None
    unwrapped: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                yield nursery
            except BaseException as exc:
                body_error = exc
                raise
    except BaseExceptionGroup as group:
        if body_error is None or list(group.exceptions) != [body_error]:
            raise
        unwrapped = body_error
    if unwrapped is not None:
        # Raised outside the except block, so it does not gain the group as context.
        raise unwrapped


def publish_module_names(package: str, namespace: dict[str, Any]) -> None:
    """Make the names a package exports say that package, not their private module.

    ``trioplugin.protocol._error.ConnectError`` becomes
    ``trioplugin.protocol.ConnectError`` in reprs and tracebacks, so they
    show where to import a name from (trio does the same). Only the
    package's own names change; re-exports of another layer's keep theirs.
    """
    private_prefix = package + "._"
    for name in namespace.get("__all__", ()):
        value = namespace.get(name)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if value.__module__.startswith(private_prefix):
            _rename_module(value, package)


def _rename_module(value: Any, package: str) -> None:
    old = value.__module__
    value.__module__ = package
    if inspect.isclass(value):
        for member in vars(value).values():
            function = getattr(member, "__func__", member)  # staticmethod, classmethod
            if inspect.isfunction(function) and function.__module__ == old:
                function.__module__ = package
