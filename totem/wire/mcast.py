"""MCAST (type 1), an ordered data message (ref totem-wire.md sections 4.2, 4.7).

Layout (packed): header(13; ``encapsulated`` 1 or 2) · u32 system_from ·
u32 seq · i32 this_seqno · ring_id(12) · u32 node_id · i32 guarantee, then
the body: a totempg packet (NOT_ENCAPSULATED) or, for a message re-originated
in RECOVERY (ENCAPSULATED), the complete original MCAST datagram stamped with
its old ring id.

Acceptance: at least 45 bytes (``check_mcast_sanity``) and at most
``FRAME_SIZE_MAX`` bytes, where corosync would assert (and abort).

The body is kept as opaque bytes. When the sender has the other byte order the
body is in that order too (the totempg lengths, the group lengths, service
payloads), so :class:`Mcast` records ``byteswapped`` for the layers above; an
encapsulated body carries its own magic and is decoded on its own by
:meth:`Mcast.inner`.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any

from totem.ringid import RingId
from totem.wire.constants import (
    ENCAPSULATED,
    FRAME_SIZE_MAX,
    MAGIC,
    MCAST_SIZE,
    NOT_ENCAPSULATED,
    VERSION,
    MessageType,
)
from totem.wire.declare import compiled
from totem.wire.errors import WireError
from totem.wire.header import check_header, header_fields, ring_id

__all__ = [
    "FORMAT",
    "Mcast",
    "build_construct",
    "decode_mcast",
    "encode_mcast",
    "mcast_position",
    "new_mcast",
    "parse_construct",
    "safe_position",
]


@dataclass(frozen=True, slots=True)
class Mcast:
    """An MCAST datagram."""

    nodeid: int
    """Sender; the application sees this as the message's source."""
    target_nodeid: int
    """Unused by udp/udpu (zero in real MCASTs)."""
    encapsulated: int
    """``ENCAPSULATED`` (1) or ``NOT_ENCAPSULATED`` (2)."""
    system_from: int
    """Originator (the re-sender for an encapsulated message)."""
    seq: int
    """Ring sequence number, assigned when sent on the token."""
    this_seqno: int
    """Sender's private running counter; never read by receivers."""
    ring_id: RingId
    """Ring the message was ordered on."""
    node_id: int
    """Always 0 in corosync 3.1.7 (never set)."""
    guarantee: int
    """0 AGREED, 1 SAFE; never read by receivers."""
    payload: bytes
    """A totempg packet, or a complete MCAST datagram when encapsulated."""
    byteswapped: bool = False
    """Decoded from a peer of the other byte order (the payload is in its order)."""

    def inner(self) -> Mcast:
        """Decode the original MCAST carried by an ENCAPSULATED one.

        Raises :class:`WireError` (``not_mcast`` if the body is another type).
        """
        message_type, swapped = check_header(self.payload)
        if message_type != MessageType.MCAST:
            raise WireError("not_mcast", f"encapsulated body has type {message_type}")
        return decode_mcast(self.payload, swapped)


FORMAT: Any
"""Normative declaration of MCAST (little-endian, as we send it)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import GreedyBytes, Int32sl, Int32ul, Struct

    from totem.wire.header import RING_ID_FORMAT

    FORMAT = Struct(
        *header_fields(MessageType.MCAST),
        "system_from" / Int32ul,
        "seq" / Int32ul,
        "this_seqno" / Int32sl,
        "ring_id" / RING_ID_FORMAT,
        "node_id" / Int32ul,
        "guarantee" / Int32sl,
        "payload" / GreedyBytes,
    )
    return {"FORMAT": FORMAT}


def __getattr__(name: str) -> Any:
    if name == "FORMAT":
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FIXED = {False: struct.Struct("<HBBBIIIIiIQIi"), True: struct.Struct(">HBBBIIIIiIQIi")}

# A frozen dataclass's generated __init__ assigns every field through
# object.__setattr__; MCAST decoding is the hot path, so the decoder fills the
# slots directly through their descriptors (same object, about half the cost).
_new = object.__new__
(
    _set_nodeid,
    _set_target_nodeid,
    _set_encapsulated,
    _set_system_from,
    _set_seq,
    _set_this_seqno,
    _set_ring_id,
    _set_node_id,
    _set_guarantee,
    _set_payload,
    _set_byteswapped,
) = (getattr(Mcast, name).__set__ for name in Mcast.__slots__)
_FIXED_LE = _FIXED[False]
_TYPE = int(MessageType.MCAST)

assert _FIXED_LE.size == MCAST_SIZE


def mcast_position(data: bytes, offset: int = 0) -> tuple[RingId, int]:
    """(ring id, seq) of the little-endian MCAST at ``offset``, the rest left undecoded.

    For observers that follow ordering only (the simulator's network); the same fixed
    layout as :func:`decode_mcast`, so the offsets are written once.
    """
    fields = _FIXED[False].unpack_from(data, offset)
    return ring_id(fields[9], fields[10]), fields[7]


def safe_position(data: bytes) -> tuple[RingId, int] | None:
    """(ring id, seq) of a little-endian SAFE MCAST, None for anything else.

    An ENCAPSULATED message (re-sent in RECOVERY) is looked through to its original, whose
    ring id and seq are the ones that count. The simulator's checker follows SAFE delivery
    with this without decoding every datagram.
    """
    if len(data) < MCAST_SIZE:
        return None
    fields = _FIXED[False].unpack_from(data)
    if fields[3] == NOT_ENCAPSULATED:
        return (ring_id(fields[9], fields[10]), fields[7]) if fields[12] == 1 else None
    if fields[3] != ENCAPSULATED or len(data) < 2 * MCAST_SIZE:
        return None
    inner = _FIXED[False].unpack_from(data, MCAST_SIZE)
    if inner[2] != MessageType.MCAST or inner[12] != 1:
        return None
    return ring_id(inner[9], inner[10]), inner[7]


def decode_mcast(data: bytes, byteswapped: bool = False) -> Mcast:
    """Decode an MCAST whose header already passed ``check_header``."""
    size = len(data)
    if size < MCAST_SIZE:
        raise WireError("short", f"mcast of {size} bytes < {MCAST_SIZE}")
    if size > FRAME_SIZE_MAX:
        raise WireError("oversized", f"mcast of {size} bytes > {FRAME_SIZE_MAX}")
    (
        _magic,
        _version,
        _type,
        encapsulated,
        nodeid,
        target_nodeid,
        system_from,
        seq,
        this_seqno,
        rep,
        ring_seq,
        node_id,
        guarantee,
    ) = _FIXED[byteswapped].unpack_from(data)
    message: Mcast = _new(Mcast)
    _set_nodeid(message, nodeid)
    _set_target_nodeid(message, target_nodeid)
    _set_encapsulated(message, encapsulated)
    _set_system_from(message, system_from)
    _set_seq(message, seq)
    _set_this_seqno(message, this_seqno)
    _set_ring_id(message, ring_id(rep, ring_seq))
    _set_node_id(message, node_id)
    _set_guarantee(message, guarantee)
    _set_payload(message, bytes(data[MCAST_SIZE:]))
    _set_byteswapped(message, byteswapped)
    return message


def new_mcast(
    nodeid: int,
    encapsulated: int,
    seq: int,
    this_seqno: int,
    ring_id: RingId,
    guarantee: int,
    payload: bytes,
) -> tuple[Mcast, bytes]:
    """A new MCAST from ``nodeid`` (also ``system_from``; ``target_nodeid`` and ``node_id``
    0, as corosync sends them) and its encoding: the send path of every packet
    (``orf_token_mcast``), without the frozen dataclass __init__ or a second pass over
    the fields. Equal to ``Mcast(...)`` and ``encode_mcast`` of it."""
    message: Mcast = _new(Mcast)
    _set_nodeid(message, nodeid)
    _set_target_nodeid(message, 0)
    _set_encapsulated(message, encapsulated)
    _set_system_from(message, nodeid)
    _set_seq(message, seq)
    _set_this_seqno(message, this_seqno)
    _set_ring_id(message, ring_id)
    _set_node_id(message, 0)
    _set_guarantee(message, guarantee)
    _set_payload(message, payload)
    _set_byteswapped(message, False)
    try:
        header = _FIXED_LE.pack(
            MAGIC,
            VERSION,
            _TYPE,
            encapsulated,
            nodeid,
            0,
            nodeid,
            seq,
            this_seqno,
            ring_id.rep,
            ring_id.seq,
            0,
            guarantee,
        )
    except struct.error as exc:
        raise ValueError(f"mcast field out of range: {exc}") from exc
    return message, header + payload


def encode_mcast(message: Mcast) -> bytes:
    """Encode the header little-endian followed by the payload bytes as they are."""
    try:
        return (
            _FIXED_LE.pack(
                MAGIC,
                VERSION,
                _TYPE,
                message.encapsulated,
                message.nodeid,
                message.target_nodeid,
                message.system_from,
                message.seq,
                message.this_seqno,
                message.ring_id.rep,
                message.ring_id.seq,
                message.node_id,
                message.guarantee,
            )
            + message.payload
        )
    except struct.error as exc:
        raise ValueError(f"mcast field out of range: {exc}") from exc


def build_construct(message: Mcast) -> bytes:
    """Reference encoder through ``FORMAT`` (slow; for tests and benchmarks)."""
    built: bytes = compiled(_declare()["FORMAT"]).build(
        {
            "encapsulated": message.encapsulated,
            "nodeid": message.nodeid,
            "target_nodeid": message.target_nodeid,
            "system_from": message.system_from,
            "seq": message.seq,
            "this_seqno": message.this_seqno,
            "ring_id": {"rep": message.ring_id.rep, "seq": message.ring_id.seq},
            "node_id": message.node_id,
            "guarantee": message.guarantee,
            "payload": message.payload,
        }
    )
    return built


def parse_construct(data: bytes) -> Mcast:
    """Reference decoder through ``FORMAT`` (little-endian, no sanity rules)."""
    c = compiled(_declare()["FORMAT"]).parse(data)
    return Mcast(
        c.nodeid,
        c.target_nodeid,
        c.encapsulated,
        c.system_from,
        c.seq,
        c.this_seqno,
        RingId(c.ring_id.rep, c.ring_id.seq),
        c.node_id,
        c.guarantee,
        c.payload,
    )
