"""Call metadata: HTTP-style headers and trailers, case-insensitive and multi-valued."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Final, final

# RFC 9110 token characters; Connect narrows custom names to [0-9a-z_.-] but
# peers send the wider set and we must read it.
_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE_CHARS: Final = re.compile(r"[\r\n\x00]")

BINARY_SUFFIX: Final = "-bin"
"""Metadata keys ending in this suffix carry base64-encoded binary values."""


def encode_binary_value(value: bytes) -> str:
    """Encode a binary metadata value as unpadded standard base64, as Connect emits it."""
    return base64.b64encode(value).decode("ascii").rstrip("=")


def decode_binary_value(value: str) -> bytes:
    """Decode a binary metadata value; padded and unpadded base64 are both accepted.

    Raises:
        ValueError: the value is not base64.
    """
    stripped = value.strip().rstrip("=")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        if "-" in padded or "_" in padded:
            return base64.urlsafe_b64decode(padded.encode("ascii"))
        return base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"binary metadata value is not base64: {value[:40]!r}") from exc


@final
class Metadata(MutableMapping[str, str]):
    """Headers or trailers of a call: a multi-valued mapping with case-insensitive keys.

    Keys are stored lower-cased. ``metadata[key]`` returns every value of the
    key joined by ``", "`` (as HTTP does); :meth:`get_all` returns them one by
    one; ``metadata[key] = value`` replaces them all and :meth:`add` appends.
    Keys ending in ``-bin`` carry binary values: use :meth:`add_binary` and
    :meth:`get_binary`.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        if items is None:
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, value in pairs:
            self.add(key, value)

    @classmethod
    def from_parsed(cls, items: list[tuple[str, str]]) -> Metadata:
        """Wrap pairs an HTTP parser has already checked and lower-cased, as they are.

        The transports' fast path: the pairs are neither copied nor checked
        again, so give it only names that are lower-case HTTP tokens and
        values without CR, LF or NUL (anything else makes headers that
        :meth:`add` would have refused).
        """
        metadata = cls.__new__(cls)
        metadata._items = items
        return metadata

    def add(self, key: str, value: str) -> None:
        """Append a value for ``key``, keeping any values it already has.

        Raises:
            ValueError: the key is not an HTTP token or the value holds CR, LF or NUL.
        """
        if not _TOKEN.match(key):
            raise ValueError(f"metadata key {key!r} is not a valid HTTP header name")
        if _BAD_VALUE_CHARS.search(value):
            raise ValueError(f"metadata value for {key!r} contains CR, LF or NUL")
        self._items.append((key.lower(), value))

    def add_binary(self, key: str, value: bytes) -> None:
        """Append a binary value, base64-encoded; ``key`` must end in ``-bin``."""
        if not key.lower().endswith(BINARY_SUFFIX):
            raise ValueError(f"binary metadata key {key!r} must end in {BINARY_SUFFIX!r}")
        self.add(key, encode_binary_value(value))

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key``, in the order they were added (empty if none)."""
        lowered = key.lower()
        return [value for name, value in self._items if name == lowered]

    def get_binary(self, key: str) -> bytes | None:
        """The first value of a ``-bin`` key, decoded, or None if the key is absent."""
        values = self.get_all(key)
        return decode_binary_value(values[0]) if values else None

    def first(self, key: str) -> str | None:
        """The first value of ``key``, or None: what a single-valued header wants."""
        lowered = key.lower()
        for name, value in self._items:
            if name == lowered:
                return value
        return None

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (key, value) pair, repeated keys included, in order."""
        return list(self._items)

    def extend(self, other: Metadata | Iterable[tuple[str, str]]) -> None:
        """Append every pair of ``other``."""
        pairs = other.multi_items() if isinstance(other, Metadata) else other
        for key, value in pairs:
            self.add(key, value)

    def copy(self) -> Metadata:
        """A copy that can be changed without changing this one."""
        return Metadata.from_parsed(list(self._items))

    def __getitem__(self, key: str) -> str:
        values = self.get_all(key)
        if not values:
            raise KeyError(key)
        return ", ".join(values)

    def __setitem__(self, key: str, value: str) -> None:
        self.pop(key, None)
        self.add(key, value)

    def __delitem__(self, key: str) -> None:
        lowered = key.lower()
        kept = [(name, value) for name, value in self._items if name != lowered]
        if len(kept) == len(self._items):
            raise KeyError(key)
        self._items = kept

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        lowered = key.lower()
        return any(name == lowered for name, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for name, _ in self._items:
            seen.setdefault(name)
        return iter(seen)

    def __len__(self) -> int:
        return len({name for name, _ in self._items})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Metadata):
            return sorted(self._items) == sorted(other._items)
        if isinstance(other, Mapping):
            return dict(self.items()) == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Metadata({self._items!r})"
