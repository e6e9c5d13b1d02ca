"""hpack, under the HPACK of our HTTP/2 (``_http2/_hpack.py``): every use of it is here.

We encode ourselves and decode with hpack's :class:`hpack.Decoder`. What we take
from hpack beyond its documented API (``docs/source/api.rst`` of
python-hyper/hpack: ``Encoder``, ``Decoder.header_table_size`` and
``Decoder.decode``, the tuple types, the exceptions) is marked ``H1`` ... ``H7``
below and listed in ``_upstream/__init__.py``; each has a canary in
``tests/transport/test_upstream_canaries.py``.
"""

from __future__ import annotations

import logging
from typing import Final, cast, final

import hpack
from hpack.table import HeaderTable


class _NoHeaderDumps(logging.Filter):
    """Drops hpack's DEBUG records; they hold whole header blocks and fields (H8).

    hpack logs every block and field it decodes (``Decoded (b'authorization',
    b'Bearer ...')``) and every field it evicts from its table, at DEBUG, on
    the ``hpack.hpack`` and ``hpack.table`` loggers (undocumented names), with
    no switch but the logger's level: a program that logs at DEBUG would
    write its callers' tokens, API keys and cookies to its logs. Records
    above DEBUG (hpack has none today) pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


HPACK_LOGGERS: Final = ("hpack.hpack", "hpack.table")
"""H8: the loggers hpack writes decoded and evicted header fields to, at DEBUG."""

for _name in HPACK_LOGGERS:
    logging.getLogger(_name).addFilter(_NoHeaderDumps())

STATIC_TABLE: Final[tuple[tuple[bytes, bytes], ...]] = tuple(HeaderTable.STATIC_TABLE)
"""RFC 7541 Appendix A, entry ``i`` at ``[i - 1]``: the indexes our encoder sends.

H1: ``HeaderTable.STATIC_TABLE`` is not in hpack's documented API; we read it
rather than copy the 61 entries, and the canary checks it is still the RFC's.
"""


@final
class HpackError(Exception):
    """A header block that cannot be decoded (``oversized``: it is too large)."""

    def __init__(self, message: str, *, oversized: bool = False) -> None:
        super().__init__(message)
        self.oversized = oversized


@final
class TableDecoder:
    """hpack's decoder for one connection, with the two facts about its table we need.

    Create it with the header list size we advertise. H6: we never send
    SETTINGS_HEADER_TABLE_SIZE, so the peer encodes for RFC 9113's default of
    4096 bytes; ``hpack.Decoder`` allows a table of 4096 by default
    (``max_allowed_table_size``) and refuses a size update above it.
    """

    __slots__ = ("_decoder", "_table")

    def __init__(self, max_header_list_size: int) -> None:
        self._decoder = hpack.Decoder(max_header_list_size=max_header_list_size)
        self._table = self._decoder.header_table  # H2: not documented

    def table_empty(self) -> bool:
        """Whether the dynamic table holds no entry.

        H2: ``HeaderTable.dynamic_entries`` is not documented (hpack has no
        public way to ask); no upstream issue asks for one.
        """
        return not self._table.dynamic_entries

    @property
    def table_size(self) -> int:
        """The dynamic table's current maximum size (the peer's last size update)."""
        return self._decoder.header_table_size

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """The fields of one complete header block, as byte pairs.

        Raises :class:`HpackError`. What this counts on:

        - H3: ``max_header_list_size`` is counted as RFC 9113 §6.5.2 does (name,
          value and 32 bytes per field) and checked after each field, so a
          block that expands past it (an "HPACK bomb") is refused while it
          decodes, with ``OversizedHeaderListError`` (hpack 2.3.0, the fix of
          CVE-2016-6581). It is a subclass of ``HPACKDecodingError``: caught first.
        - H4: every other malformed block (a bad Huffman code or padding, an
          index out of the tables, a truncated string or integer, a table size
          over the maximum) raises a subclass of ``HPACKError``; nothing else.
        - H5: a table size update after the block's first field is refused
          (RFC 7541 §4.2; python-hyper/hpack#97, fixed by #100). The blocks
          ``HpackDecoder`` remembers depend on it: a late update could empty
          the table after the block had added to it.
        - H7: ``decode(raw=True)`` returns a ``list`` of 2-tuples of bytes
          (annotated ``Iterable[HeaderTuple]``), which callers keep and share,
          and checks no UTF-8. No upstream issue found for the annotation.
        """
        try:
            decoded = self._decoder.decode(block, raw=True)
        except hpack.OversizedHeaderListError as exc:
            raise HpackError("the header list is larger than we allow", oversized=True) from exc
        except hpack.HPACKError as exc:
            raise HpackError(f"the header block does not decode: {exc}") from exc
        return cast("list[tuple[bytes, bytes]]", decoded)
