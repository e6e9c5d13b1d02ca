"""The sixteen Connect error codes and their mapping to and from HTTP statuses."""

from __future__ import annotations

import enum
from typing import Final


class Code(enum.Enum):
    """A Connect error code.

    The value of each member is its wire name, as it appears in the error JSON
    (``{"code": "unavailable"}``).
    """

    CANCELED = "canceled"
    UNKNOWN = "unknown"
    INVALID_ARGUMENT = "invalid_argument"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    FAILED_PRECONDITION = "failed_precondition"
    ABORTED = "aborted"
    OUT_OF_RANGE = "out_of_range"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    DATA_LOSS = "data_loss"
    UNAUTHENTICATED = "unauthenticated"

    @property
    def http_status(self) -> int:
        """The HTTP status a unary error response with this code carries."""
        return _CODE_TO_HTTP[self]

    @property
    def number(self) -> int:
        """The code's number, as gRPC numbers it (``canceled`` is 1, ``unauthenticated`` 16)."""
        return _NUMBERS[self]

    @classmethod
    def from_number(cls, number: int) -> Code | None:
        """The code with this gRPC number, or None (0 is gRPC's OK, not an error code)."""
        return _BY_NUMBER.get(number)

    @classmethod
    def from_wire(cls, name: str) -> Code | None:
        """The code with this wire name, or None if the name is not a Connect code."""
        return _BY_WIRE_NAME.get(name)

    @classmethod
    def from_http_status(cls, status: int) -> Code:
        """The code a client infers from an HTTP status when the body names none."""
        return _HTTP_TO_CODE.get(status, Code.UNKNOWN)

    def __str__(self) -> str:
        return self.value


_CODE_TO_HTTP: Final[dict[Code, int]] = {
    Code.CANCELED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}

# The spec's "HTTP to Error Code" table, used only when a response has no
# Connect error body (a proxy answered, or the body was unreadable).
_HTTP_TO_CODE: Final[dict[int, Code]] = {
    400: Code.INTERNAL,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.UNIMPLEMENTED,
    429: Code.UNAVAILABLE,
    502: Code.UNAVAILABLE,
    503: Code.UNAVAILABLE,
    504: Code.UNAVAILABLE,
}

_BY_WIRE_NAME: Final[dict[str, Code]] = {code.value: code for code in Code}

# The members are declared in gRPC's order, from CANCELED = 1.
_NUMBERS: Final[dict[Code, int]] = {code: number for number, code in enumerate(Code, start=1)}
_BY_NUMBER: Final[dict[int, Code]] = {number: code for code, number in _NUMBERS.items()}
