"""Checks of options fields: a wrong value fails where it is given, naming the field."""

from __future__ import annotations

import math


def check_seconds(options: object, name: str, *, zero: bool = False, none: str = "") -> None:
    """Refuse a field that is not a number of seconds, positive (or zero if ``zero``)."""
    value = getattr(options, name)
    where = f"{type(options).__name__}.{name}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        kind = "a number of seconds" + (f" or None ({none})" if none else "")
        raise TypeError(f"{where} must be {kind}, not {type(value).__name__}")
    if math.isnan(value) or value < 0 or (value == 0 and not zero):
        bound = "zero or more" if zero else "positive"
        raise ValueError(f"{where} must be {bound}, not {value}")


def check_int(
    options: object, name: str, low: int, high: int | None = None, *, none: str = ""
) -> None:
    """Refuse a field that is not an int in ``[low, high]``."""
    value = getattr(options, name)
    where = f"{type(options).__name__}.{name}"
    if not isinstance(value, int) or isinstance(value, bool):
        kind = "an int" + (f" or None ({none})" if none else "")
        raise TypeError(f"{where} must be {kind}, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        span = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{where} must be {span}, not {value}")


def check_type(options: object, name: str, kinds: type | tuple[type, ...], what: str) -> None:
    """Refuse a field that is not of ``kinds`` (``what`` says what it should be)."""
    value = getattr(options, name)
    if not isinstance(value, kinds):
        where = f"{type(options).__name__}.{name}"
        raise TypeError(f"{where} must be {what}, not {type(value).__name__}")
