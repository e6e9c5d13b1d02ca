"""The handshake line a plugin prints on stdout: where it listens, how to talk to it.

go-plugin's format, one line of ``|``-separated fields::

    CORE-VERSION|APP-VERSION|NETWORK|ADDRESS|PROTOCOL|SERVER-CERT

for instance ``1|2|tcp|127.0.0.1:41327|connect|MIIB...`` — the certificate
(the plugin's server certificate for automatic mTLS, DER in unpadded
base64, as go-plugin prints it) is left out when the plugin serves plain
h2c. Sans-IO: formatting, parsing and a line buffer, no I/O.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Final, Literal

PROTOCOL: Final = "connect"
"""The protocol field: the plugin serves Connect (go-plugin's own plugins say ``grpc``)."""

MAX_LINE_BYTES: Final = 64 * 1024
"""The longest line the host reads from a starting plugin's stdout."""

Network = Literal["tcp", "unix"]


class HandshakeLineError(ValueError):
    """A plugin's stdout did not carry a handshake line the host can use."""


@dataclass(frozen=True, slots=True)
class HandshakeLine:
    """What a plugin announces once it listens."""

    core_version: int
    app_version: int
    network: Network
    address: str
    """``host:port`` for tcp, the socket's path for unix."""
    server_certificate: bytes | None = None
    """The plugin's TLS certificate (DER) when it serves with automatic mTLS."""

    def format(self) -> str:
        """The line, without its newline."""
        fields = [
            str(self.core_version),
            str(self.app_version),
            self.network,
            self.address,
            PROTOCOL,
        ]
        if self.server_certificate is not None:
            fields.append(base64.b64encode(self.server_certificate).decode().rstrip("="))
        return "|".join(fields)

    @property
    def port(self) -> int | None:
        """The tcp port, if the address ends in one."""
        _, _, port = self.address.rpartition(":")
        return int(port) if self.network == "tcp" and port.isdigit() else None

    @property
    def unix_socket(self) -> str | None:
        """The socket's path for a unix plugin; None for tcp."""
        return self.address if self.network == "unix" else None

    @property
    def url(self) -> str:
        """The plugin's base URL (``https`` when it serves TLS).

        A unix plugin's names ``localhost``, which its certificate is for:
        connect to :attr:`unix_socket` with it.
        """
        scheme = "https" if self.server_certificate is not None else "http"
        return f"{scheme}://{self.address if self.network == 'tcp' else 'localhost'}"

    @classmethod
    def parse(cls, line: str) -> HandshakeLine:
        """Read a handshake line (its newline, if any, is ignored).

        Raises:
            HandshakeLineError: the line is not one; the message quotes it.
        """
        text = line.rstrip("\r\n")
        fields = text.split("|")
        if len(fields) not in (5, 6):
            raise HandshakeLineError(
                f"expected a handshake line of 5 or 6 '|'-separated fields "
                f"(CORE|APP|NETWORK|ADDRESS|PROTOCOL[|CERT]), got {_quote(text)}"
            )
        core, app, network, address, protocol = fields[:5]
        certificate = _certificate(fields[5], text) if len(fields) == 6 else None
        if protocol != PROTOCOL:
            raise HandshakeLineError(
                f"the plugin speaks {protocol!r}, not {PROTOCOL!r}, in {_quote(text)}"
            )
        if network not in ("tcp", "unix"):
            raise HandshakeLineError(
                f"unknown network {network!r} (expected tcp or unix) in {_quote(text)}"
            )
        if not address:
            raise HandshakeLineError(f"no address in {_quote(text)}")
        return cls(
            core_version=_version(core, "core protocol", text),
            app_version=_version(app, "app protocol", text),
            network=network,  # type: ignore[arg-type]  # checked just above
            address=address,
            server_certificate=certificate,
        )


def _version(field: str, what: str, line: str) -> int:
    if not field.isdigit():
        raise HandshakeLineError(f"the {what} version {field!r} is not a number in {_quote(line)}")
    return int(field)


def _certificate(field: str, line: str) -> bytes | None:
    if not field:
        return None
    try:
        return base64.b64decode(field + "=" * (-len(field) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise HandshakeLineError(
            f"the server certificate is not base64 in {_quote(line)}"
        ) from None


def _quote(line: str, limit: int = 200) -> str:
    shown = line if len(line) <= limit else line[:limit] + "..."
    return repr(shown)


class LineBuffer:
    """Splits bytes read from a pipe into lines, refusing one longer than ``limit``."""

    __slots__ = ("_buffer", "_limit")

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self._buffer = bytearray()
        self._limit = limit

    def feed(self, data: bytes | bytearray) -> list[str]:
        """Add ``data``; return the lines it completed (decoded, newline removed).

        Raises:
            HandshakeLineError: a line ran past the limit without a newline.
        """
        self._buffer += data
        lines = []
        while (end := self._buffer.find(b"\n")) >= 0:  # ends: each pass drops a line
            lines.append(self._buffer[:end].decode(errors="replace").rstrip("\r"))
            del self._buffer[: end + 1]
        if len(self._buffer) > self._limit:
            raise HandshakeLineError(
                f"the plugin wrote more than {self._limit} bytes on stdout without a newline"
            )
        return lines

    def rest(self) -> str:
        """What is buffered after the last newline (an unterminated last line)."""
        return self._buffer.decode(errors="replace")
