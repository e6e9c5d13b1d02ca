"""The handshake line: go-plugin's format, parsed with errors that quote the line."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioplugin.plugin._handshake_line import (
    MAX_LINE_BYTES,
    HandshakeLine,
    HandshakeLineError,
    LineBuffer,
)


def test_a_plain_line_has_five_fields() -> None:
    line = HandshakeLine(1, 2, "tcp", "127.0.0.1:4000")
    assert line.format() == "1|2|tcp|127.0.0.1:4000|connect"
    assert line.url == "http://127.0.0.1:4000"
    assert HandshakeLine.parse(line.format() + "\n") == line


def test_the_certificate_is_unpadded_base64_of_the_der_as_go_plugin_prints_it() -> None:
    der = b"\x30\x82\x01"  # any bytes whose base64 needs padding
    line = HandshakeLine(1, 1, "tcp", "127.0.0.1:1", der)
    text = line.format()
    assert text.endswith("|" + base64.b64encode(der).decode().rstrip("="))
    assert "=" not in text
    assert HandshakeLine.parse(text).server_certificate == der
    assert HandshakeLine.parse(text).url == "https://127.0.0.1:1"


def test_an_empty_sixth_field_means_no_certificate() -> None:
    assert HandshakeLine.parse("1|1|tcp|127.0.0.1:1|connect|").server_certificate is None


@given(
    core=st.integers(0, 10**6),
    app=st.integers(0, 10**6),
    port=st.integers(1, 65535),
    der=st.none() | st.binary(min_size=1, max_size=300),
)
def test_format_then_parse_is_the_identity(
    core: int, app: int, port: int, der: bytes | None
) -> None:
    line = HandshakeLine(core, app, "tcp", f"127.0.0.1:{port}", der)
    assert HandshakeLine.parse(line.format()) == line


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("hello world", "5 or 6 '|'-separated fields"),
        ("1|2|tcp|127.0.0.1:1", "5 or 6"),
        ("1|2|tcp|127.0.0.1:1|grpc", "speaks 'grpc', not 'connect'"),
        ("1|2|udp|127.0.0.1:1|connect", "unknown network 'udp'"),
        ("1|2|tcp||connect", "no address"),
        ("one|2|tcp|127.0.0.1:1|connect", "core protocol version 'one' is not a number"),
        ("1|-2|tcp|127.0.0.1:1|connect", "app protocol version '-2'"),
        ("1|2|tcp|127.0.0.1:1|connect|***", "not base64"),
    ],
)
def test_a_bad_line_is_refused_with_what_is_wrong_and_the_line_quoted(text: str, says: str) -> None:
    with pytest.raises(HandshakeLineError) as caught:
        HandshakeLine.parse(text)
    assert says in str(caught.value)
    assert repr(text) in str(caught.value)


def test_a_unix_line_names_localhost_and_its_socket() -> None:
    line = HandshakeLine.parse("1|1|unix|/tmp/plugin.sock|connect")
    assert line.address == line.unix_socket == "/tmp/plugin.sock"
    assert line.url == "http://localhost"
    assert line.port is None
    assert HandshakeLine.parse("1|1|tcp|127.0.0.1:4000|connect").unix_socket is None


def test_the_line_buffer_splits_lines_across_reads() -> None:
    buffer = LineBuffer()
    assert buffer.feed(b"1|1|tcp|") == []
    assert buffer.feed(b"127.0.0.1:1|connect\r\nnext") == ["1|1|tcp|127.0.0.1:1|connect"]
    assert buffer.rest() == "next"
    assert buffer.feed(b"\n\n") == ["next", ""]


def test_the_line_buffer_refuses_an_endless_line() -> None:
    buffer = LineBuffer(limit=10)
    buffer.feed(b"0123456789")
    with pytest.raises(HandshakeLineError, match="more than 10 bytes on stdout without a newline"):
        buffer.feed(b"x")
    assert MAX_LINE_BYTES >= 4096  # room for a certificate
