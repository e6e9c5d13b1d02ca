"""Flow control and SETTINGS: windows overrun or overflowed, bad setting values.

Checked as in test_connection_rules.py: the exact code, and whether the
stream or the whole connection ends.
"""

from __future__ import annotations

import pytest

from trioplugin.transport._http2 import (
    DataReceived,
    ErrorCode,
    SettingsAcknowledged,
    SettingsReceived,
    WindowUpdated,
)
from trioplugin.transport._http2 import _frames as f

from ._helpers import (
    REQUEST,
    client,
    data_frame,
    events_of,
    frame,
    headers_frame,
    of_kind,
    parse_frames,
    server,
    settings,
    window_update,
)
from ._rules import connection_error, opened, stream_error

_E = ErrorCode


# Flow control.


def test_connection_window_overrun() -> None:
    connection = opened(stream_window=1 << 20)
    chunk = data_frame(1, b"x" * 16384)
    connection.receive(chunk * 3 + data_frame(1, b"x" * 16383))  # exactly the window
    connection_error(connection, data_frame(1, b"x"), _E.FLOW_CONTROL_ERROR)


def test_stream_window_overrun() -> None:
    connection = opened(connection_window=1 << 20)
    chunk = data_frame(1, b"x" * 16384)
    events = connection.receive(chunk * 3 + data_frame(1, b"x" * 16383))
    assert sum(e.flow_length for e in events_of(events, DataReceived)) == f.DEFAULT_WINDOW
    stream_error(connection, data_frame(1, b"x" * 100), 1, _E.FLOW_CONTROL_ERROR)


def test_stream_window_overrun_with_a_small_window() -> None:
    connection = server(stream_window=1000, connection_window=1 << 20)
    connection.receive(headers_frame(1, REQUEST) + data_frame(1, b"x" * 1000))
    stream_error(connection, data_frame(1, b"x"), 1, _E.FLOW_CONTROL_ERROR)


def test_window_update_of_zero_on_a_stream() -> None:
    stream_error(opened(), window_update(1, 0), 1, _E.PROTOCOL_ERROR)


def test_window_update_of_zero_on_the_connection() -> None:
    connection_error(opened(), window_update(0, 0), _E.PROTOCOL_ERROR)


def test_window_update_up_to_the_largest_window_is_fine() -> None:
    connection = opened()
    events = connection.receive(
        window_update(0, f.MAX_WINDOW - f.DEFAULT_WINDOW)
        + window_update(1, f.MAX_WINDOW - f.DEFAULT_WINDOW)
    )
    assert [e.stream_id for e in events_of(events, WindowUpdated)] == [0, 1]
    assert connection.send_window(1) == f.MAX_WINDOW


def test_window_update_overflow_on_the_connection() -> None:
    connection = opened()
    connection_error(
        connection, window_update(0, f.MAX_WINDOW - f.DEFAULT_WINDOW + 1), _E.FLOW_CONTROL_ERROR
    )


def test_window_update_overflow_on_a_stream() -> None:
    connection = opened()
    increment = f.MAX_WINDOW - f.DEFAULT_WINDOW
    connection.receive(window_update(1, increment))
    stream_error(connection, window_update(1, 1), 1, _E.FLOW_CONTROL_ERROR)


def test_window_update_on_a_closed_stream_is_ignored() -> None:
    connection = opened()
    connection.reset_stream(1)
    connection.data_to_send()
    assert connection.receive(window_update(1, 100)) == []
    assert connection.data_to_send() == b""


def test_initial_window_size_pushing_a_stream_past_the_largest_window() -> None:
    connection = opened()
    connection.receive(window_update(1, f.MAX_WINDOW - f.DEFAULT_WINDOW))
    connection_error(
        connection,
        settings({f.Setting.INITIAL_WINDOW_SIZE: f.DEFAULT_WINDOW + 1}),
        _E.FLOW_CONTROL_ERROR,
    )


def test_data_after_we_reset_is_ignored_and_its_window_credited() -> None:
    connection = opened()
    assert connection.reset_stream(1, _E.CANCEL)
    assert parse_frames(connection.data_to_send())[0].code == _E.CANCEL
    chunk = data_frame(1, b"y" * 16000)
    assert connection.receive(chunk) == []
    assert connection.data_to_send() == b""  # not yet half a window
    assert connection.receive(chunk + data_frame(1, b"", end_stream=True)) == []
    assert connection.data_to_send() == b""  # 32000: still not half of 65535
    assert connection.receive(chunk) == []
    (update,) = of_kind(parse_frames(connection.data_to_send()), f.WINDOW_UPDATE)
    assert (update.stream_id, update.increment) == (0, 48000)
    # The peer can use the whole window again.
    events = connection.receive(headers_frame(3, REQUEST) + data_frame(3, b"z" * 16384) * 3)
    assert sum(len(e.data) for e in events_of(events, DataReceived)) == 3 * 16384


# SETTINGS values.


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        (f.Setting.ENABLE_PUSH, 2, _E.PROTOCOL_ERROR),
        (f.Setting.INITIAL_WINDOW_SIZE, 2**31, _E.FLOW_CONTROL_ERROR),
        (f.Setting.INITIAL_WINDOW_SIZE, 2**32 - 1, _E.FLOW_CONTROL_ERROR),
        (f.Setting.MAX_FRAME_SIZE, 16383, _E.PROTOCOL_ERROR),
        (f.Setting.MAX_FRAME_SIZE, 2**24, _E.PROTOCOL_ERROR),
        (f.Setting.MAX_FRAME_SIZE, 0, _E.PROTOCOL_ERROR),
    ],
)
def test_bad_setting_values(key: int, value: int, code: ErrorCode) -> None:
    connection_error(server(), settings({key: value}), code)


def test_good_setting_values_are_applied_and_acknowledged() -> None:
    connection = server()
    values = {
        f.Setting.ENABLE_PUSH: 1,
        f.Setting.INITIAL_WINDOW_SIZE: f.MAX_WINDOW,
        f.Setting.MAX_FRAME_SIZE: 2**24 - 1,
        f.Setting.MAX_CONCURRENT_STREAMS: 7,
        f.Setting.MAX_HEADER_LIST_SIZE: 1234,
        0x99: 5,  # unknown: ignored
    }
    (event,) = connection.receive(settings(values))
    assert isinstance(event, SettingsReceived) and event.changed == values
    assert parse_frames(connection.data_to_send()) == parse_frames(f.SETTINGS_ACK)
    assert connection.max_outbound_frame_size == 2**24 - 1
    assert connection.remote_max_concurrent_streams == 7
    assert connection.remote_max_header_list_size == 1234
    (ack,) = connection.receive(frame(f.SETTINGS, f.FLAG_ACK, 0))
    assert isinstance(ack, SettingsAcknowledged)


def test_enable_push_from_a_server() -> None:
    connection_error(client(), settings({f.Setting.ENABLE_PUSH: 1}), _E.PROTOCOL_ERROR)
