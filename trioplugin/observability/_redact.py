"""Which headers never reach a log: credentials, cookies, and those the user names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..protocol import Metadata

SENSITIVE_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"}
)
"""Redacted always: what our auth providers and browsers put credentials in."""

REDACTED: Final = "[redacted]"


def sensitive_names(extra: Iterable[str]) -> frozenset[str]:
    """The header names to redact: ours, and ``extra`` (any case).

    Raises:
        TypeError: ``extra`` is a str, or holds something else than str.
    """
    if isinstance(extra, str):
        raise TypeError(f"redact must be a collection of header names, not the str {extra!r}")
    names = set(SENSITIVE_HEADERS)
    for name in extra:
        if not isinstance(name, str):
            raise TypeError(f"redact must hold header names (str), not {name!r}")
        names.add(name.lower())
    return frozenset(names)


def redacted(headers: Metadata, sensitive: frozenset[str]) -> dict[str, str]:
    """``headers`` as a dict for a log record (repeats joined), sensitive values replaced."""
    return {name: REDACTED if name in sensitive else value for name, value in headers.items()}
