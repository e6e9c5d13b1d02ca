"""Messages as JSON for the CLI: ``--data`` in (a literal, ``@file`` or ``-``), responses out.

Protobuf's JSON mapping (``google.protobuf.json_format``), with the schema's
descriptor pool so that ``Any`` fields resolve to the types the schema knows.
"""

from __future__ import annotations

import json
from typing import TextIO, TypeVar

import trio
from google.protobuf import descriptor_pool, json_format
from google.protobuf.message import Message

from ._cli_common import CommandError

_M = TypeVar("_M", bound=Message)


async def read_data(data: str | None, stdin: TextIO) -> str | None:
    """The text ``--data`` gives: itself, the file after ``@``, or standard input for ``-``.

    Raises:
        CommandError: the file cannot be read.
    """
    if data == "-":
        text: str = await trio.to_thread.run_sync(stdin.read)
        return text
    if data is not None and data.startswith("@"):
        try:
            return await trio.Path(data[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            raise CommandError(f"--data {data}: cannot read {data[1:]}: {reason}") from None
    return data


def parse_messages(
    text: str, message_type: type[_M], pool: descriptor_pool.DescriptorPool
) -> list[_M]:
    """Every JSON value in ``text`` (one per line, or just one after another), as a message.

    Raises:
        CommandError: the text is not JSON, or a value does not fit the
            message type (the message says which field, and which exist).
    """
    decoder = json.JSONDecoder()
    values = []
    index = _skip_whitespace(text, 0)
    while index < len(text):
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"--data is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from None
        values.append(value)
        index = _skip_whitespace(text, index)
    messages = []
    name = message_type.DESCRIPTOR.full_name
    for number, value in enumerate(values, 1):
        message = message_type()
        try:
            json_format.ParseDict(value, message, descriptor_pool=pool)
        except (json_format.ParseError, TypeError, ValueError, AttributeError) as error:
            which = f"message {number} of --data" if len(values) > 1 else "--data"
            raise CommandError(f"{which} is not a {name}: {error}") from None
        messages.append(message)
    return messages


def message_json(
    message: Message, pool: descriptor_pool.DescriptorPool, *, indent: int | None
) -> str:
    """``message`` in protobuf's JSON mapping: indented, or on one line for ``indent=None``."""
    return json_format.MessageToJson(message, indent=indent, descriptor_pool=pool)


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\n\r":  # JSON's whitespace
        index += 1
    return index
