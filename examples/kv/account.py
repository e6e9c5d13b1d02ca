"""The example host's account of what happens: lines as they happen, under them a live status."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

CLEAR_LINE = "\r\x1b[K"


class Account:
    """Prints the account; on a terminal, keeps a status line under it, redrawn in place.

    Off a terminal (a pipe, a log, a test) only the account is printed, so
    the output reads the same every run.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = sys.stdout if out is None else out
        self._live = self._out.isatty()
        self._status = ""

    def say(self, text: str) -> None:
        """Add a line to the account."""
        if self._live and self._status:
            self._out.write(CLEAR_LINE)
        self._out.write(text + "\n")
        if self._live and self._status:
            self._out.write(self._status)
        self._out.flush()

    def show(self, status: str) -> None:
        """Replace the live status line (nothing off a terminal)."""
        self._status = status
        if self._live:
            self._out.write(CLEAR_LINE + status)
            self._out.flush()

    def end_status(self) -> None:
        """Remove the status line."""
        if self._live and self._status:
            self._out.write(CLEAR_LINE)
            self._out.flush()
        self._status = ""


class AccountLogHandler(logging.Handler):
    """Puts log records into the account, as ``  plugin log: <level> <message>``."""

    def __init__(self, account: Account) -> None:
        super().__init__()
        self._account = account

    def emit(self, record: logging.LogRecord) -> None:
        """Add the record to the account."""
        self._account.say(f"  plugin log: {record.levelname.lower()} {record.getMessage()}")
