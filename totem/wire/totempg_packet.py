"""The totempg packet carried by every non-encapsulated MCAST (ref totem-wire.md section 8).

Layout (``struct totempg_mcast`` + lengths + data): i16 version (0) · i16 type
(0) · u8 fragmented · u8 continuation · u16 msg_count · msg_count x u16 length
· the messages (or message pieces) concatenated.

* ``fragmented`` 0: the last piece is a complete message; otherwise it is the
  fragment id (1..255) of a message that continues in the sender's next packet.
* ``continuation`` 0: the first piece starts a message; otherwise it equals the
  ``fragmented`` id of the sender's previous packet and the first piece ends
  (or continues) that message.

Acceptance (``totempg_deliver_fn``): the header and the length array must be
present and the total length must be exactly 8 + 2*count + sum(lengths);
version and type are not checked. The u16 fields are swapped for a peer of the
other byte order.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any, Final

from totem.wire.errors import WireError

__all__ = ["FORMAT", "TOTEMPG_HEADER_SIZE", "TotempgPacket", "decode_fields"]

TOTEMPG_HEADER_SIZE: Final = 8
"""``sizeof(struct totempg_mcast)``."""

FORMAT: Any
"""Normative declaration (little-endian); ``data`` is the concatenated messages."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import (
        Array,
        Default,
        GreedyBytes,
        Int8ul,
        Int16sl,
        Int16ul,
        Rebuild,
        Struct,
        len_,
        this,
    )

    FORMAT = Struct(
        "version" / Default(Int16sl, 0),
        "type" / Default(Int16sl, 0),
        "fragmented" / Int8ul,
        "continuation" / Int8ul,
        "msg_count" / Rebuild(Int16ul, len_(this.lengths)),
        "lengths" / Array(this.msg_count, Int16ul),
        "data" / GreedyBytes,
    )
    return {"FORMAT": FORMAT}


def __getattr__(name: str) -> Any:
    if name == "FORMAT":
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_HEADER = {False: struct.Struct("<hhBBH"), True: struct.Struct(">hhBBH")}
_HEADER_LE = _HEADER[False]


@dataclass(frozen=True, slots=True)
class TotempgPacket:
    """One totempg packet: pieces of messages plus the fragmentation flags."""

    fragmented: int
    """0, or the fragment id of the unfinished last piece."""
    continuation: int
    """0, or the fragment id the first piece continues."""
    messages: tuple[bytes, ...]
    """The packed messages (the first/last may be pieces, see the flags)."""

    def encode(self) -> bytes:
        """Encode little-endian (version and type 0)."""
        count = len(self.messages)
        try:
            return (
                _HEADER_LE.pack(0, 0, self.fragmented, self.continuation, count)
                + struct.pack(f"<{count}H", *map(len, self.messages))
                + b"".join(self.messages)
            )
        except struct.error as exc:
            raise ValueError(f"totempg packet field out of range: {exc}") from exc

    @classmethod
    def decode(cls, data: bytes, byteswapped: bool = False) -> TotempgPacket:
        """Decode a packet; raise :class:`WireError` if corosync would ignore it."""
        fragmented, continuation, messages = decode_fields(data, byteswapped)
        return cls(fragmented, continuation, tuple(messages))


def decode_fields(data: bytes, byteswapped: bool = False) -> tuple[int, int, list[bytes]]:
    """``(fragmented, continuation, messages)`` of a packet, without a ``TotempgPacket``:
    the receive path of every packet (``totem.totempg.Reassembler``). Same rules as
    ``TotempgPacket.decode``."""
    size = len(data)
    if size < TOTEMPG_HEADER_SIZE:
        raise WireError("short", f"totempg packet of {size} bytes")
    _version, _type, fragmented, continuation, count = _HEADER[byteswapped].unpack_from(data)
    offset = TOTEMPG_HEADER_SIZE + 2 * count
    if size < offset:
        raise WireError("short", f"totempg packet of {size} bytes cannot hold {count} lengths")
    lengths = _lengths(count, byteswapped).unpack_from(data, 8)
    total = offset + sum(lengths)
    if size != total:
        raise WireError("bad_length", f"totempg packet of {size} bytes declares {total}")
    if type(data) is not bytes:
        data = bytes(data)
    messages: list[bytes] = []
    append = messages.append
    for length in lengths:
        end = offset + length
        append(data[offset:end])
        offset = end
    return fragmented, continuation, messages


_LENGTHS: tuple[dict[int, struct.Struct], dict[int, struct.Struct]] = ({}, {})
"""The length array's layout by message count, each byte order, for the counts a packet of
the largest MTU can carry (larger counts are built each time: a peer cannot grow these)."""
_LENGTHS_CACHED = 256


def _lengths(count: int, byteswapped: bool) -> struct.Struct:
    layout = _LENGTHS[byteswapped].get(count)
    if layout is None:
        layout = struct.Struct(f"{'>' if byteswapped else '<'}{count}H")
        if count < _LENGTHS_CACHED:
            _LENGTHS[byteswapped][count] = layout
    return layout
