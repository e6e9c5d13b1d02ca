"""Shared test set-up: pytest-trio in trio mode, and readable failures from exception groups."""

from __future__ import annotations

from collections.abc import Generator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Re-raise the single leaf of a one-leaf exception group.

    trio wraps every error that leaves a nursery in an ExceptionGroup, so a
    failing assertion inside one would otherwise show as a bare group
    traceback instead of pytest's assertion report.
    """
    try:
        return (yield)
    except BaseExceptionGroup as group:
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        if leaf is group:
            raise
        raise leaf from group
