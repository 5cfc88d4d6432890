"""The 13-byte Totem message header and the ring id (ref totem-wire.md section 3).

``struct totem_message_header`` (packed): u16 magic, u8 version, u8 type,
u8 encapsulated, u32 nodeid, u32 target_nodeid. The magic doubles as a byte
order detector: a peer of the other byte order is read as ``0x70C0``, and every
multi-byte field of its messages must then be swapped (``*_endian_convert`` in
``exec/totemsrp.c``). ``target_nodeid`` is only meaningful to knet; udp/udpu
leave stack garbage in it, so it is carried verbatim and never interpreted.

This module holds the construct building blocks shared by the message formats
and the header acceptance checks of ``check_message_header_validity`` /
``main_deliver_fn`` (plus the transport's receive limit, ref 2.1).
"""

from __future__ import annotations

import functools
from typing import Any

from totem.ringid import RingId
from totem.wire.constants import (
    HEADER_SIZE,
    MAGIC,
    MAGIC_SWAPPED,
    UDP_RECEIVE_FRAME_SIZE_MAX,
    VERSION,
    MessageType,
)
from totem.wire.errors import WireError

__all__ = [
    "HEADER_FORMAT",
    "RING_ID_FORMAT",
    "check_header",
    "header_fields",
    "ring_id",
]

RING_ID_FORMAT: Any
"""``struct memb_ring_id`` (12 bytes, packed)."""

HEADER_FORMAT: Any
"""The bare header, any type (for inspection tools)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """The construct declarations of this module, built on first use (``totem.wire.declare``)."""
    from construct import Int8ul, Int16ul, Int32ul, Int64ul, Struct

    return {
        "RING_ID_FORMAT": Struct("rep" / Int32ul, "seq" / Int64ul),
        "HEADER_FORMAT": Struct(
            "magic" / Int16ul,
            "version" / Int8ul,
            "type" / Int8ul,
            "encapsulated" / Int8ul,
            "nodeid" / Int32ul,
            "target_nodeid" / Int32ul,
        ),
    }


def __getattr__(name: str) -> Any:
    if name in ("RING_ID_FORMAT", "HEADER_FORMAT"):
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def header_fields(message_type: MessageType) -> list[Any]:
    """The header as construct fields to splice (flat) into a message format.

    For MCAST ``encapsulated`` is a required field. For the other types it
    defaults to 0 on build (what corosync sends) and is accepted with any value
    on parse, as corosync ignores it.
    """
    from construct import Const, Default, Int8ul, Int16ul, Int32ul

    encapsulated = Int8ul if message_type == MessageType.MCAST else Default(Int8ul, 0)
    return [
        "magic" / Const(MAGIC, Int16ul),
        "version" / Const(VERSION, Int8ul),
        "type" / Const(int(message_type), Int8ul),
        "encapsulated" / encapsulated,
        "nodeid" / Int32ul,
        "target_nodeid" / Int32ul,
    ]


_RING_CACHE: dict[tuple[int, int], RingId] = {}
_RING_CACHE_MAX = 256


def ring_id(rep: int, seq: int) -> RingId:
    """A (shared) :class:`RingId`; a ring carries the same id in every message,
    so decoders reuse instances instead of building one per datagram."""
    key = (rep, seq)
    found = _RING_CACHE.get(key)
    if found is None:
        if len(_RING_CACHE) >= _RING_CACHE_MAX:
            _RING_CACHE.clear()
        found = _RING_CACHE[key] = RingId(rep, seq)
    return found


def check_header(data: bytes) -> tuple[int, bool]:
    """Apply the header acceptance rules; return ``(type, byteswapped)``.

    Rules in corosync's order: the transport drops datagrams longer than
    ``UDP_RECEIVE_FRAME_SIZE_MAX``; then a datagram must hold a whole header,
    carry the magic (either byte order), version 3 and a type 0-5.
    """
    size = len(data)
    if size > UDP_RECEIVE_FRAME_SIZE_MAX:
        raise WireError("oversized", f"{size} bytes > {UDP_RECEIVE_FRAME_SIZE_MAX}")
    if size < HEADER_SIZE:
        raise WireError("short", f"{size} bytes < header {HEADER_SIZE}")
    magic = data[0] | (data[1] << 8)
    if magic == MAGIC:
        swapped = False
    elif magic == MAGIC_SWAPPED:
        swapped = True
    else:
        raise WireError("bad_magic", f"{magic:#06x}")
    if data[2] != VERSION:
        raise WireError("bad_version", str(data[2]))
    message_type = data[3]
    if message_type > MessageType.TOKEN_HOLD_CANCEL:
        raise WireError("bad_type", str(message_type))
    return message_type, swapped
