from __future__ import annotations

import pytest

from trioplugin.protocol import Code

SPEC_CODE_TO_HTTP = {
    "canceled": 499,
    "unknown": 500,
    "invalid_argument": 400,
    "deadline_exceeded": 504,
    "not_found": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "resource_exhausted": 429,
    "failed_precondition": 400,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "data_loss": 500,
    "unauthenticated": 401,
}


def test_there_are_exactly_the_sixteen_spec_codes() -> None:
    assert {code.value for code in Code} == set(SPEC_CODE_TO_HTTP)


@pytest.mark.parametrize(("name", "status"), sorted(SPEC_CODE_TO_HTTP.items()))
def test_code_to_http_status(name: str, status: int) -> None:
    code = Code.from_wire(name)
    assert code is not None
    assert code.http_status == status
    assert str(code) == name


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "internal"),
        (401, "unauthenticated"),
        (403, "permission_denied"),
        (404, "unimplemented"),
        (429, "unavailable"),
        (502, "unavailable"),
        (503, "unavailable"),
        (504, "unavailable"),
        (500, "unknown"),
        (418, "unknown"),
        (200, "unknown"),
    ],
)
def test_http_status_to_code(status: int, name: str) -> None:
    assert Code.from_http_status(status).value == name


def test_unknown_wire_name() -> None:
    assert Code.from_wire("teapot") is None
    assert Code.from_wire("CANCELED") is None


@pytest.mark.parametrize(
    ("code", "number"),
    [
        (Code.CANCELED, 1),
        (Code.UNKNOWN, 2),
        (Code.INVALID_ARGUMENT, 3),
        (Code.DEADLINE_EXCEEDED, 4),
        (Code.NOT_FOUND, 5),
        (Code.ALREADY_EXISTS, 6),
        (Code.PERMISSION_DENIED, 7),
        (Code.RESOURCE_EXHAUSTED, 8),
        (Code.FAILED_PRECONDITION, 9),
        (Code.ABORTED, 10),
        (Code.OUT_OF_RANGE, 11),
        (Code.UNIMPLEMENTED, 12),
        (Code.INTERNAL, 13),
        (Code.UNAVAILABLE, 14),
        (Code.DATA_LOSS, 15),
        (Code.UNAUTHENTICATED, 16),
    ],
)
def test_codes_carry_their_grpc_numbers_both_ways(code: Code, number: int) -> None:
    assert code.number == number
    assert Code.from_number(number) is code


@pytest.mark.parametrize("number", [0, 17, -1, 99])
def test_numbers_that_are_not_error_codes_have_none(number: int) -> None:
    assert Code.from_number(number) is None
