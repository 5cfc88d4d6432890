"""ORF_TOKEN (type 0), the ordering token (ref totem-wire.md sections 4.1, 4.7).

Layout (packed, 57 + 16*n bytes): header(13) · u32 seq · u32 token_seq ·
u32 aru · u32 aru_addr · ring_id(12) · u32 backlog · u32 fcc · i32 retrans_flg ·
i32 rtr_list_entries · n x rtr_item{ring_id(12), u32 seq}.

Acceptance (``check_orf_token_sanity`` with the Debian CVE-2025-30472 patch), in
this order: at most 1500 bytes (corosync's token buffer), at least 57 bytes, at
most 30 rtr entries, and long enough for the entries it declares. Trailing bytes
are accepted and ignored, as corosync does (it forwards only the declared part).

The token is the one message the SRP core updates and forwards on every visit,
so :class:`OrfToken` is mutable and the codec is a precompiled ``struct`` fast
path; ``FORMAT`` is the normative construct declaration, proven byte-identical
by the tests.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from typing import Any

from totem.ringid import RingId
from totem.wire.constants import (
    MAGIC,
    ORF_TOKEN_SIZE,
    ORF_TOKEN_SIZE_MAX,
    RTR_ENTRIES_MAX,
    RTR_ITEM_SIZE,
    VERSION,
    MessageType,
)
from totem.wire.declare import compiled
from totem.wire.errors import WireError
from totem.wire.header import header_fields, ring_id

__all__ = [
    "FORMAT",
    "OrfToken",
    "RtrItem",
    "build_construct",
    "decode_orf_token",
    "encode_orf_token",
    "parse_construct",
]


@dataclass(frozen=True, slots=True)
class RtrItem:
    """One retransmit request: a message ``seq`` missing on ring ``ring_id``."""

    ring_id: RingId
    seq: int


@dataclass(slots=True)
class OrfToken:
    """The ordering token; mutable because the SRP core updates and forwards it."""

    nodeid: int
    """Sender (the last forwarder)."""
    target_nodeid: int
    """Unused by udp/udpu; real tokens carry stack garbage here."""
    seq: int
    """Highest message seq assigned on this ring."""
    token_seq: int
    """Incremented by every forwarder; discards duplicates."""
    aru: int
    """All-received-up-to, the ring-wide minimum."""
    aru_addr: int
    """Node that lowered ``aru``; 0 when everyone has everything up to ``seq``."""
    ring_id: RingId
    backlog: int
    """Flow control: sum of queued messages."""
    fcc: int
    """Flow control: messages sent in the last rotation."""
    retrans_flg: int
    """Non-zero while somebody still re-sends old-ring messages (RECOVERY)."""
    rtr: list[RtrItem] = field(default_factory=list)
    """Retransmit requests (at most ``RTR_ENTRIES_MAX``)."""

    def copy(self) -> OrfToken:
        """An independent copy (the rtr list is copied, its items are immutable)."""
        return OrfToken(
            self.nodeid,
            self.target_nodeid,
            self.seq,
            self.token_seq,
            self.aru,
            self.aru_addr,
            self.ring_id,
            self.backlog,
            self.fcc,
            self.retrans_flg,
            list(self.rtr),
        )


RTR_ITEM_FORMAT: Any

FORMAT: Any
"""Normative declaration of the ORF token (little-endian, as we send it)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import Array, Int32sl, Int32ul, Rebuild, Struct, len_, this

    from totem.wire.header import RING_ID_FORMAT

    RTR_ITEM_FORMAT = Struct("ring_id" / RING_ID_FORMAT, "seq" / Int32ul)
    FORMAT = Struct(
        *header_fields(MessageType.ORF_TOKEN),
        "seq" / Int32ul,
        "token_seq" / Int32ul,
        "aru" / Int32ul,
        "aru_addr" / Int32ul,
        "ring_id" / RING_ID_FORMAT,
        "backlog" / Int32ul,
        "fcc" / Int32ul,
        "retrans_flg" / Int32sl,
        "rtr_list_entries" / Rebuild(Int32sl, len_(this.rtr)),
        "rtr" / Array(this.rtr_list_entries, RTR_ITEM_FORMAT),
    )
    return {"RTR_ITEM_FORMAT": RTR_ITEM_FORMAT, "FORMAT": FORMAT}


def __getattr__(name: str) -> Any:
    if name in ("RTR_ITEM_FORMAT", "FORMAT"):
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FIXED = {False: struct.Struct("<HBBBIIIIIIIQIIii"), True: struct.Struct(">HBBBIIIIIIIQIIii")}
_RTR = {
    swapped: [struct.Struct(("<" if not swapped else ">") + "IQI" * n) for n in range(31)]
    for swapped in (False, True)
}
_FIXED_LE = _FIXED[False]
_RTR_LE = _RTR[False]
_TYPE = int(MessageType.ORF_TOKEN)

assert _FIXED_LE.size == ORF_TOKEN_SIZE and _RTR_LE[1].size == RTR_ITEM_SIZE


def decode_orf_token(data: bytes, byteswapped: bool = False) -> OrfToken:
    """Decode an ORF token whose header already passed ``check_header``."""
    size = len(data)
    if size > ORF_TOKEN_SIZE_MAX:
        raise WireError("oversized", f"orf_token of {size} bytes > {ORF_TOKEN_SIZE_MAX}")
    if size < ORF_TOKEN_SIZE:
        raise WireError("short", f"orf_token of {size} bytes < {ORF_TOKEN_SIZE}")
    (
        _magic,
        _version,
        _type,
        _encapsulated,
        nodeid,
        target_nodeid,
        seq,
        token_seq,
        aru,
        aru_addr,
        rep,
        ring_seq,
        backlog,
        fcc,
        retrans_flg,
        entries,
    ) = _FIXED[byteswapped].unpack_from(data)
    if entries > RTR_ENTRIES_MAX:
        raise WireError("too_many_rtr", f"{entries} > {RTR_ENTRIES_MAX}")
    if entries < 0 or size < ORF_TOKEN_SIZE + entries * RTR_ITEM_SIZE:
        raise WireError("short", f"orf_token of {size} bytes cannot hold {entries} rtr entries")
    rtr: list[RtrItem] = []
    if entries:
        flat = _RTR[byteswapped][entries].unpack_from(data, ORF_TOKEN_SIZE)
        rtr = [RtrItem(ring_id(flat[i], flat[i + 1]), flat[i + 2]) for i in range(0, len(flat), 3)]
    return OrfToken(
        nodeid,
        target_nodeid,
        seq,
        token_seq,
        aru,
        aru_addr,
        ring_id(rep, ring_seq),
        backlog,
        fcc,
        retrans_flg,
        rtr,
    )


def encode_orf_token(token: OrfToken) -> bytes:
    """Encode (little-endian); raises ``ValueError`` for more than 30 rtr entries
    or a field out of range."""
    entries = len(token.rtr)
    if entries > RTR_ENTRIES_MAX:
        raise ValueError(f"{entries} rtr entries > {RTR_ENTRIES_MAX}")
    try:
        fixed = _FIXED_LE.pack(
            MAGIC,
            VERSION,
            _TYPE,
            0,
            token.nodeid,
            token.target_nodeid,
            token.seq,
            token.token_seq,
            token.aru,
            token.aru_addr,
            token.ring_id.rep,
            token.ring_id.seq,
            token.backlog,
            token.fcc,
            token.retrans_flg,
            entries,
        )
        if not entries:
            return fixed
        flat: list[int] = []
        for item in token.rtr:
            flat += (item.ring_id.rep, item.ring_id.seq, item.seq)
        return fixed + _RTR_LE[entries].pack(*flat)
    except struct.error as exc:
        raise ValueError(f"orf_token field out of range: {exc}") from exc


def build_construct(token: OrfToken) -> bytes:
    """Reference encoder through ``FORMAT`` (slow; for tests and benchmarks)."""
    built: bytes = compiled(_declare()["FORMAT"]).build(
        {
            "nodeid": token.nodeid,
            "target_nodeid": token.target_nodeid,
            "seq": token.seq,
            "token_seq": token.token_seq,
            "aru": token.aru,
            "aru_addr": token.aru_addr,
            "ring_id": {"rep": token.ring_id.rep, "seq": token.ring_id.seq},
            "backlog": token.backlog,
            "fcc": token.fcc,
            "retrans_flg": token.retrans_flg,
            "rtr": [
                {"ring_id": {"rep": r.ring_id.rep, "seq": r.ring_id.seq}, "seq": r.seq}
                for r in token.rtr
            ],
        }
    )
    return built


def parse_construct(data: bytes) -> OrfToken:
    """Reference decoder through ``FORMAT`` (little-endian, no sanity rules)."""
    c = compiled(_declare()["FORMAT"]).parse(data)
    return OrfToken(
        c.nodeid,
        c.target_nodeid,
        c.seq,
        c.token_seq,
        c.aru,
        c.aru_addr,
        RingId(c.ring_id.rep, c.ring_id.seq),
        c.backlog,
        c.fcc,
        c.retrans_flg,
        [RtrItem(RingId(r.ring_id.rep, r.ring_id.seq), r.seq) for r in c.rtr],
    )
