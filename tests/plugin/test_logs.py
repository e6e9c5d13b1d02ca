"""Plugin logs cross the pipe as hclog JSON lines, their levels kept both ways."""

from __future__ import annotations

import io
import json
import logging

import pytest

from trioplugin.plugin._logs import JSONLinesHandler, LogForwarder, format_record


def record(level: int, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("kv.store", level, __file__, 1, message, args, None)


def test_a_record_becomes_one_hclog_line() -> None:
    line = format_record(record(logging.WARNING, "disk %d%% full", 93))
    fields = json.loads(line)
    assert fields["@level"] == "warn"
    assert fields["@message"] == "disk 93% full"
    assert fields["@module"] == "kv.store"
    assert fields["@timestamp"].endswith("+00:00")
    assert "\n" not in line


def test_an_exception_travels_inside_the_message() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        import sys

        entry = record(logging.ERROR, "lookup failed")
        entry.exc_info = sys.exc_info()
    fields = json.loads(format_record(entry))
    assert fields["@message"].startswith("lookup failed\nTraceback")
    assert "KeyError: 'k'" in fields["@message"]


def test_levels_between_the_named_ones_round_down() -> None:
    assert json.loads(format_record(record(logging.INFO + 5, "x")))["@level"] == "info"
    assert json.loads(format_record(record(5, "x")))["@level"] == "trace"


def test_the_handler_writes_and_flushes_each_record() -> None:
    stream = io.StringIO()
    handler = JSONLinesHandler(stream)
    handler.emit(record(logging.INFO, "one"))
    handler.emit(record(logging.DEBUG, "two"))
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["@message"] for line in lines] == ["one", "two"]


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("trace", logging.DEBUG),
        ("debug", logging.DEBUG),
        ("info", logging.INFO),
        ("warn", logging.WARNING),
        ("WARNING", logging.WARNING),
        ("error", logging.ERROR),
        ("nonsense", logging.INFO),
    ],
)
def test_the_host_logs_each_line_at_its_level(
    caplog: pytest.LogCaptureFixture, level: str, expected: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="trioplugin.plugin.kv")
    line = json.dumps({"@level": level, "@message": "hello", "@module": "kv", "key": "a"})
    LogForwarder("kv").forward(line)
    [entry] = caplog.records
    assert entry.name == "trioplugin.plugin.kv"
    assert entry.levelno == expected
    assert entry.getMessage() == "hello key='a'"
    assert entry.plugin == "kv"  # type: ignore[attr-defined]
    assert entry.plugin_fields == {"key": "a"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "line", ["plain text", '{"not": "hclog"}', "{broken json", "[1, 2]", "Traceback (most recent"]
)
def test_a_line_that_is_not_hclog_is_logged_as_it_is_at_info(
    caplog: pytest.LogCaptureFixture, line: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="trioplugin.plugin.kv")
    LogForwarder("kv").forward(line, stream="stdout")
    [entry] = caplog.records
    assert (entry.levelno, entry.getMessage()) == (logging.INFO, line)
    assert entry.plugin_stream == "stdout"  # type: ignore[attr-defined]


def test_blank_lines_and_disabled_levels_cost_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="trioplugin.plugin.kv")
    forwarder = LogForwarder("kv")
    forwarder.forward("   ")
    forwarder.forward(json.dumps({"@level": "debug", "@message": "chatty"}))
    assert caplog.records == []
    assert forwarder.logger.name == "trioplugin.plugin.kv"
