"""HPACK for our HTTP/2 connections: a fast, stateless, caching encoder and a bounded decoder.

h2's own encoder searches the dynamic table header by header in Python,
which costs more than everything else a unary call does. This one never
adds entries to the dynamic table: a header whose name and value
are both in the static table is sent as an index, every other header as a
literal "without indexing" (with the static index of its name when there is
one). No state is shared with the server's decoder beyond the static table,
so the encoded form of a header never changes and is cached.

The cost is a few bytes per header on the wire, which matters less than CPU
time on the connections this library is built for (loopback and LAN).

Decoding is the ``hpack`` library's (Huffman, the dynamic table), bounded by
the header list size we advertise, so an HPACK bomb is refused while it
decodes. Only ``.._upstream._hpack`` imports hpack: what we count on it for is
listed there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, final

from .._upstream._hpack import STATIC_TABLE, HpackError, TableDecoder

_FULL_INDEX: Final[dict[tuple[bytes, bytes], int]] = {}
_NAME_INDEX: Final[dict[bytes, int]] = {}
for _index, (_name, _value) in enumerate(STATIC_TABLE, start=1):
    _FULL_INDEX.setdefault((_name, _value), _index)
    _NAME_INDEX.setdefault(_name, _index)

# Sent "never indexed", so that intermediaries do not index them either.
_SENSITIVE: Final = frozenset({b"authorization", b"proxy-authorization", b"cookie"})
_CACHE_LIMIT: Final = 1024
_CACHE_VALUE_LIMIT: Final = 256
_ENCODED: Final[dict[tuple[bytes, bytes], bytes]] = {}
"""Fields already encoded, for every connection of the process (bounded as above)."""
_FRESH_EACH_CALL: Final = frozenset(
    {b"traceparent", b"tracestate", b"baggage", b"connect-timeout-ms", b"grpc-timeout"}
)
"""Headers whose value is new on every call: caching them would only crowd the cache."""


def encode_integer(value: int, prefix_bits: int, flags: int) -> bytes:
    """An HPACK integer with an N-bit prefix, the high bits of its first byte set to ``flags``."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(data: bytes) -> bytes:
    return encode_integer(len(data), 7, 0) + data


def encode_header(name: bytes, value: bytes) -> bytes:
    """One header field as an HPACK representation that leaves the dynamic table alone."""
    if name in _SENSITIVE:
        flags = 0x10  # literal, never indexed
    else:
        index = _FULL_INDEX.get((name, value))
        if index is not None:
            return encode_integer(index, 7, 0x80)
        flags = 0x00  # literal, without indexing
    name_index = _NAME_INDEX.get(name)
    if name_index is not None:
        return encode_integer(name_index, 4, flags) + _string(value)
    return bytes((flags,)) + _string(name) + _string(value)


@final
class StatelessHpackEncoder:
    """Encodes header blocks.

    The encoded fields are shared by every connection (they never depend on
    one): the cache is warm for a new connection and costs it nothing.
    """

    __slots__ = ("_size_update_due",)

    def __init__(self) -> None:
        self._size_update_due = False

    def table_size_changed(self) -> None:
        """The peer's SETTINGS_HEADER_TABLE_SIZE changed.

        We keep the table empty, so we may always declare its size as 0; a
        change must be acknowledged at the start of the next header block.
        """
        self._size_update_due = True

    def encode(self, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
        """Encode a header block (strings go out as they are, without Huffman coding)."""
        cache = _ENCODED
        parts: list[bytes] = []
        if self._size_update_due:
            self._size_update_due = False
            parts.append(encode_integer(0, 5, 0x20))
        for header in headers:
            key = (header[0], header[1])
            block = cache.get(key)
            if block is None:
                block = encode_header(key[0], key[1])
                if (
                    len(cache) < _CACHE_LIMIT
                    and len(key[1]) <= _CACHE_VALUE_LIMIT
                    and key[0] not in _FRESH_EACH_CALL
                ):
                    cache[key] = block
            parts.append(block)
        return b"".join(parts)


_DECODED_BLOCK_LIMIT: Final = 1024
_DECODED_BYTES_LIMIT: Final = 16 * 1024
"""The blocks one connection remembers, in bytes: a peer sending new blocks all the time
cannot make a connection hold more (the decoded fields cost a few times that)."""


@final
class HpackDecoder:
    """Decodes header blocks into (name, value) byte pairs (raises ``HpackError``).

    A block that leaves the dynamic table alone (as ours, and most Connect
    peers' steady-state blocks, do) decodes the same whatever the table holds,
    so its fields are remembered by its bytes: the next identical block costs
    a dict lookup. A block is taken for one only if the table was empty before
    and after it and large enough that any entry the block might have added
    would still be there; and not if it starts with a table size update (hpack
    refuses one anywhere later: H5 in ``.._upstream._hpack``).
    """

    __slots__ = ("_decoded", "_decoded_bytes", "_decoder", "_max_list_size")

    def __init__(self, max_header_list_size: int) -> None:
        self._decoder = TableDecoder(max_header_list_size)
        self._max_list_size = max_header_list_size
        self._decoded: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self._decoded_bytes = 0

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """The header fields of one complete block (HEADERS plus CONTINUATIONs).

        The list may be shared with earlier calls: do not change it.
        """
        decoded = self._decoded.get(block)
        if decoded is not None:
            return decoded
        plain = decode_plain(block, self._max_list_size)
        if plain is not None:
            if (
                len(block) <= _DECODED_BLOCK_LIMIT
                and self._decoded_bytes + len(block) <= _DECODED_BYTES_LIMIT
                and not any(name in _FRESH_EACH_CALL for name, _ in plain)
            ):  # a block that may come again (no traceparent, no timeout): remember it
                self._decoded[block] = plain
                self._decoded_bytes += len(block)
            return plain
        decoder = self._decoder
        stateless = (
            decoder.table_empty()
            and len(block) <= _DECODED_BLOCK_LIMIT
            and decoder.table_size >= 2 * len(block) + 32  # Huffman expands at most 8/5
            and not b"\x20" <= block[:1] < b"\x40"  # a table size update
        )
        decoded = decoder.decode(block)
        if (
            stateless
            and decoder.table_empty()
            and self._decoded_bytes + len(block) <= _DECODED_BYTES_LIMIT
        ):
            self._decoded[block] = decoded
            self._decoded_bytes += len(block)
        return decoded

    def remembers(self, block: bytes) -> bool:
        """Whether ``block`` is one whose fields are remembered (it decodes the same always)."""
        return block in self._decoded


def decode_plain(block: bytes, max_list_size: int) -> list[tuple[bytes, bytes]] | None:
    """The fields of a block of static-table indexes and plain literals that index nothing.

    Those representations (what our encoder sends, and what a peer's block
    whose every field is new to it looks like, a ``traceparent`` for one)
    decode the same whatever the dynamic table holds, and change nothing in
    it. None for a block with anything else (a dynamic-table index, a literal
    that adds to the table, a size update, a Huffman-coded string, a
    truncated field): the full decoder takes it.

    Raises:
        HpackError: the fields add up to more than ``max_list_size`` (RFC 9113 §6.5.2).
    """
    fields: list[tuple[bytes, bytes]] = []
    size = 0
    position = 0
    end = len(block)
    table = STATIC_TABLE
    while position < end:
        first = block[position]
        if first & 0x80:  # indexed
            index, position = _integer(block, position, 0x7F)
            if not 0 < index <= len(table):
                return None
            name, value = table[index - 1]
        elif first & 0xE0 == 0:  # literal without indexing (0000) or never indexed (0001)
            index, position = _integer(block, position, 0x0F)
            if index > len(table) or position < 0:
                return None
            if index:
                name = table[index - 1][0]
            else:
                name, position = _plain_string(block, position)
            value, position = _plain_string(block, position)
            if position < 0:
                return None
        else:
            return None
        size += len(name) + len(value) + 32
        if size > max_list_size:
            raise HpackError("the header list is larger than we allow", oversized=True)
        fields.append((name, value))
    return fields


_TOO_FAR: Final = -(1 << 62)
"""A position that says "not a plain field": below 0 whatever is added to it."""


def _integer(block: bytes, position: int, mask: int) -> tuple[int, int]:
    """An integer with a prefix of ``mask``'s bits at ``position``, and where it ends.

    Bounded to four continuation bytes (up to 2**28: more than any index or
    length a block may hold); a longer or truncated one ends at ``_TOO_FAR``.
    """
    if position < 0 or position >= len(block):
        return 0, _TOO_FAR
    value = block[position] & mask
    position += 1
    if value < mask:
        return value, position
    for shift in (0, 7, 14, 21):
        if position >= len(block):
            break
        byte = block[position]
        position += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    return 0, _TOO_FAR


def _plain_string(block: bytes, position: int) -> tuple[bytes, int]:
    """A string that is not Huffman-coded, and where it ends (``_TOO_FAR``: none here)."""
    if position < 0 or position >= len(block) or block[position] & 0x80:
        return b"", _TOO_FAR
    length, start = _integer(block, position, 0x7F)
    stop = start + length
    if start < 0 or stop > len(block):
        return b"", _TOO_FAR
    return block[start:stop], stop
