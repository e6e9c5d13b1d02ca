"""The ``Connect-Timeout-Ms`` header: parsing and formatting."""

from __future__ import annotations

import math
from typing import Final

from ._code import Code
from ._error import ConnectError

MAX_TIMEOUT_DIGITS: Final = 10
MAX_TIMEOUT_MS: Final = 10**MAX_TIMEOUT_DIGITS - 1


def parse_timeout_ms(value: str) -> float:
    """The timeout in seconds from a ``Connect-Timeout-Ms`` value.

    Raises:
        ConnectError: ``invalid_argument`` unless the value is 1 to 10 ASCII digits.
    """
    if not (0 < len(value) <= MAX_TIMEOUT_DIGITS and value.isascii() and value.isdigit()):
        raise ConnectError(
            Code.INVALID_ARGUMENT,
            f"invalid Connect-Timeout-Ms {value[:20]!r}: "
            f"want a positive integer of at most {MAX_TIMEOUT_DIGITS} digits",
        )
    return int(value) / 1000


def format_timeout_ms(seconds: float) -> str | None:
    """The ``Connect-Timeout-Ms`` value for ``seconds`` left, or None for no limit.

    Rounds up, so the peer never gives up before the caller does, and clamps
    to the ten digits the protocol allows.
    """
    if math.isinf(seconds) or math.isnan(seconds):
        return None
    milliseconds = max(1, math.ceil(seconds * 1000))
    return str(min(milliseconds, MAX_TIMEOUT_MS))
