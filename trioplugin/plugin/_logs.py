"""Plugin logs: JSON lines on the plugin's stderr, back into ``logging`` on the host.

The format is hclog's, which go-plugin and connect-plugin-go plugins
write: one JSON object per line with ``@level``, ``@message``, ``@module``
and ``@timestamp``. So levels survive the pipe both ways, and a host reads
a Go plugin's logs as it reads ours. A line that is not such an object
(a plugin printing plain text, a crash's traceback) is logged as it is,
at INFO: a plain line says nothing about its level.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Final, TextIO

LOGGER_PREFIX: Final = "trioplugin.plugin"
"""A plugin's logs go to the logger ``trioplugin.plugin.<name>``."""

_TO_LEVEL: Final = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
_FROM_LEVEL: Final = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}


class JSONLinesHandler(logging.Handler):
    """Writes each record as one hclog-style JSON line (the plugin side)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` as a line and flush, so the host sees it at once."""
        try:
            self._stream.write(format_record(record) + "\n")
            self._stream.flush()
        except Exception:
            self.handleError(record)


def format_record(record: logging.LogRecord) -> str:
    """A record as an hclog JSON line (no newline)."""
    message = record.getMessage()
    if record.exc_info:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    level = _FROM_LEVEL.get(record.levelno) or _nearest_level(record.levelno)
    stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
    return json.dumps(
        {
            "@level": level,
            "@message": message,
            "@module": record.name,
            "@timestamp": stamp.isoformat(timespec="microseconds"),
        },
        ensure_ascii=False,
    )


def _nearest_level(levelno: int) -> str:
    below = [level for level in _FROM_LEVEL if level <= levelno]
    return _FROM_LEVEL[max(below)] if below else "trace"


class LogForwarder:
    """Turns the lines a plugin writes into records of its host's ``logging``."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger = logging.getLogger(f"{LOGGER_PREFIX}.{name}")

    @property
    def logger(self) -> logging.Logger:
        """The logger the plugin's lines go to."""
        return self._logger

    def forward(self, line: str, *, stream: str = "stderr") -> None:
        """Log one line the plugin wrote on ``stream``, at its level if it carries one."""
        if not line.strip():
            return
        fields = _hclog_fields(line)
        if fields is None:
            self._log(logging.INFO, line, stream, module=None, extra={})
            return
        level = _TO_LEVEL.get(str(fields.pop("@level", "info")).lower(), logging.INFO)
        message = str(fields.pop("@message", ""))
        module = fields.pop("@module", None)
        fields.pop("@timestamp", None)
        self._log(level, message, stream, module=module, extra=fields)

    def _log(
        self,
        level: int,
        message: str,
        stream: str,
        *,
        module: object,
        extra: dict[str, object],
    ) -> None:
        if not self._logger.isEnabledFor(level):
            return
        suffix = "".join(f" {key}={value!r}" for key, value in extra.items())
        self._logger.log(
            level,
            "%s%s",
            message,
            suffix,
            extra={
                "plugin": self._name,
                "plugin_stream": stream,
                "plugin_module": module,
                "plugin_fields": extra,
            },
        )


def _hclog_fields(line: str) -> dict[str, object] | None:
    if not line.startswith("{"):
        return None
    try:
        fields = json.loads(line)
    except ValueError:
        return None
    if not isinstance(fields, dict) or "@message" not in fields:
        return None
    return fields
