"""Pieces both ends of the RPC layer share: size defaults and the message type check."""

from __future__ import annotations

from typing import Final

from google.protobuf.message import Message

DEFAULT_MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024
"""The largest message (after decompression) either end accepts unless told otherwise."""

DEFAULT_COMPRESS_MIN_BYTES: Final = 0
"""A client compresses every request when asked to compress (connect-go's default)."""

DEFAULT_SERVER_COMPRESS_MIN_BYTES: Final = 1024
"""A server sends responses smaller than this uncompressed, even to clients that accept gzip."""


def check_message_type(message: object, expected: type[Message], what: str) -> None:
    """Refuse a message of the wrong class with a TypeError that names both."""
    if type(message) is expected:
        return
    if not isinstance(message, Message) or (
        message.DESCRIPTOR.full_name != expected.DESCRIPTOR.full_name
    ):
        raise TypeError(
            f"{what} must be a {expected.DESCRIPTOR.full_name}, not {type(message).__qualname__}"
        )
