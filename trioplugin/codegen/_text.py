"""Proto comments from SourceCodeInfo, docstrings, and line layout the formatters keep."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from google.protobuf.descriptor_pb2 import FileDescriptorProto

# Field numbers in descriptor.proto, for SourceCodeInfo paths.
_FILE_SERVICE = 6
_SERVICE_METHOD = 2

WIDTH = 88
"""Lines are joined when they fit in this many columns, else split with a trailing comma.

88 is ruff's and black's default: what fits in it fits in any wider
setting too, and a split with a magic trailing comma stays split, so the
output is stable under the formatters' defaults and any longer line length.
"""


def comments(file: FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """The comment text attached to each element of ``file``, by SourceCodeInfo path.

    Leading comments come first, then trailing ones; detached comments
    (separated by a blank line) belong to nothing and are left out.
    """
    found: dict[tuple[int, ...], str] = {}
    for location in file.source_code_info.location:
        parts = [
            _clean(text)
            for text in (location.leading_comments, location.trailing_comments)
            if text.strip()
        ]
        if parts:
            found[tuple(location.path)] = "\n\n".join(parts)
    return found


def service_path(service_index: int) -> tuple[int, ...]:
    """The SourceCodeInfo path of a service."""
    return (_FILE_SERVICE, service_index)


def method_path(service_index: int, method_index: int) -> tuple[int, ...]:
    """The SourceCodeInfo path of a method."""
    return (_FILE_SERVICE, service_index, _SERVICE_METHOD, method_index)


def _clean(text: str) -> str:
    lines = [line.expandtabs(4).rstrip() for line in text.splitlines()]
    return textwrap.dedent("\n".join(lines)).strip("\n")


def docstring(summary: str, paragraphs: Sequence[str], indent: str) -> list[str]:
    """A docstring: ``summary`` on the first line, then the paragraphs, as source lines.

    Any comment makes a valid literal: one with backslashes becomes a raw
    string (which cannot escape triple double quotes, so they turn into
    triple single quotes); otherwise triple double quotes are escaped.
    """
    body = [paragraph for paragraph in paragraphs if paragraph]
    text = "\n\n".join([summary, *body])
    prefix = ""
    if "\\" in text:
        prefix = "r"
        text = text.replace('"""', "'''")
    else:
        text = text.replace('"""', '\\"\\"\\"')
    if not body:
        return [f'{indent}{prefix}"""{text}"""']
    lines = text.split("\n")
    out = [f'{indent}{prefix}"""{lines[0]}']
    out.extend(f"{indent}{line}" if line else "" for line in lines[1:])
    out.append(f'{indent}"""')
    return out


def bracketed(
    head: str, items: Sequence[str], tail: str, indent: str, *, one_tuple: bool = False
) -> list[str]:
    """``head`` + the items joined by commas + ``tail``, on one line if it fits.

    Otherwise one item a line with a trailing comma, which formatters keep.
    ``one_tuple`` writes the comma of a one-element tuple on the one line too.
    """
    one_line = f"{indent}{head}{', '.join(items)}{',' if one_tuple else ''}{tail}"
    if len(one_line) <= WIDTH:
        return [one_line]
    inner = indent + "    "
    return [f"{indent}{head}", *(f"{inner}{item}," for item in items), f"{indent}{tail}"]
