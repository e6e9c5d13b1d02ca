"""Canary H8 (see trioplugin/transport/_upstream/__init__.py): hpack's header dumps.

hpack logs each header field it decodes at DEBUG, credentials included; our
filter drops those records. The first test calls hpack alone with a handler
of its own below the filter's logger, and fails the day hpack stops logging
headers (then the filter can go); the second checks the filter holds.
"""

from __future__ import annotations

import logging

import hpack
import pytest

from trioplugin.transport._upstream._hpack import HPACK_LOGGERS

SECRET = b"Bearer s3cr3t"


def block() -> bytes:
    return bytes(hpack.Encoder().encode([(b"authorization", SECRET)]))


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_h8_hpack_still_logs_every_decoded_field_at_debug() -> None:
    logger = logging.getLogger(HPACK_LOGGERS[0])
    keep = Keep()
    saved = logger.filters[:]
    logger.filters.clear()  # hpack alone, without our filter
    logger.addHandler(keep)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        hpack.Decoder().decode(block(), raw=True)
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
        logger.filters[:] = saved
    dumped = [r for r in keep.records if SECRET.decode() in r.getMessage()]
    assert dumped, "hpack no longer logs decoded headers: the H8 filter may go"


def test_h8_our_filter_keeps_them_out_of_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hpack.Decoder().decode(block(), raw=True)
    assert not [r for r in caplog.records if SECRET.decode() in r.getMessage()]
