"""A griffe extension: no class's ``__slots__`` in the API reference.

``__slots__`` is how a class stores its fields, not something to use; with
``show_if_no_docstring`` the reference would list it as an attribute of
every class that has it. (Marking it not public is not enough: a class
rendered through an alias, as every name in an ``__all__`` is, shows its
members' own visibility only for inherited ones.)
"""

from __future__ import annotations

from typing import Any

import griffe


class HideSlots(griffe.Extension):
    """Drops ``__slots__`` from the classes of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Drop the ``__slots__`` of every class defined in ``pkg``."""
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.is_class and "__slots__" in obj.members:
                obj.del_member("__slots__")
            stack += [m for m in obj.members.values() if not isinstance(m, griffe.Alias)]
