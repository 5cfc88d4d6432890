"""MEMB_COMMIT_TOKEN (type 4), the token that installs a new ring (ref totem-wire.md 4.5, 5.3).

Layout (packed, 41 + 28*n bytes): header(13) · u32 token_seq · ring_id(12) of
the new ring · u32 retrans_flg · i32 memb_index · i32 addr_entries n ·
n x u32 addr (new members, ascending: the ring order) · n x memb_entry
{ring_id(12) old ring, u32 aru, u32 high_delivered, u32 received_flg}.

Acceptance (``check_memb_commit_token_sanity`` with the Debian CVE-2026-35091
patch, which makes a too-short token a rejection): at least 41 bytes and long
enough for n addresses and n entries (n read as unsigned, so a negative count
is "short"). We also reject what would overrun corosync's arrays: more than
``PROCESSOR_COUNT_MAX`` members or ``memb_index`` outside ``0..n``.

Byte order: corosync converts a member entry of a swapped token only when its
ring id ``rep`` is non-zero (an entry not yet filled in keeps its raw bytes);
the decoder reproduces that.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from typing import Any

from totem.ringid import RingId
from totem.wire.constants import (
    COMMIT_MEMB_ENTRY_SIZE,
    COMMIT_TOKEN_SIZE,
    MAGIC,
    PROCESSOR_COUNT_MAX,
    VERSION,
    MessageType,
)
from totem.wire.declare import compiled
from totem.wire.errors import WireError
from totem.wire.header import header_fields, ring_id

__all__ = [
    "FORMAT",
    "CommitToken",
    "MembEntry",
    "build_construct",
    "decode_commit_token",
    "encode_commit_token",
    "parse_construct",
]


@dataclass(frozen=True, slots=True)
class MembEntry:
    """What one member reports about its old ring when the commit token visits it."""

    ring_id: RingId
    """The member's old ring (all zero until the member fills its entry)."""
    aru: int
    high_delivered: int
    received_flg: int


@dataclass(slots=True)
class CommitToken:
    """The commit token; mutable because every member fills its entry and forwards it."""

    nodeid: int
    target_nodeid: int
    token_seq: int
    """Incremented per hop."""
    ring_id: RingId
    """The new ring: rep = creator, seq = highest seen + 4."""
    retrans_flg: int
    memb_index: int
    """Index of the next entry to fill."""
    addr: list[int] = field(default_factory=list)
    """New members in ring order (ascending node ids)."""
    memb_list: list[MembEntry] = field(default_factory=list)
    """One entry per member, in ``addr`` order."""

    def copy(self) -> CommitToken:
        """An independent copy (lists copied, entries are immutable)."""
        return CommitToken(
            self.nodeid,
            self.target_nodeid,
            self.token_seq,
            self.ring_id,
            self.retrans_flg,
            self.memb_index,
            list(self.addr),
            list(self.memb_list),
        )


MEMB_ENTRY_FORMAT: Any

FORMAT: Any
"""Normative declaration of MEMB_COMMIT_TOKEN (little-endian, as we send it)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import Array, Int32sl, Int32ul, Rebuild, Struct, len_, this

    from totem.wire.header import RING_ID_FORMAT

    MEMB_ENTRY_FORMAT = Struct(
        "ring_id" / RING_ID_FORMAT,
        "aru" / Int32ul,
        "high_delivered" / Int32ul,
        "received_flg" / Int32ul,
    )
    FORMAT = Struct(
        *header_fields(MessageType.MEMB_COMMIT_TOKEN),
        "token_seq" / Int32ul,
        "ring_id" / RING_ID_FORMAT,
        "retrans_flg" / Int32ul,
        "memb_index" / Int32sl,
        "addr_entries" / Rebuild(Int32sl, len_(this.addr)),
        "addr" / Array(this.addr_entries, Int32ul),
        "memb_list" / Array(this.addr_entries, MEMB_ENTRY_FORMAT),
    )
    return {"MEMB_ENTRY_FORMAT": MEMB_ENTRY_FORMAT, "FORMAT": FORMAT}


def __getattr__(name: str) -> Any:
    if name in ("MEMB_ENTRY_FORMAT", "FORMAT"):
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FIXED = {False: struct.Struct("<HBBBIIIIQIii"), True: struct.Struct(">HBBBIIIIQIii")}
_ENTRY = {False: struct.Struct("<IQIII"), True: struct.Struct(">IQIII")}
_FIXED_LE = _FIXED[False]
_ENTRY_LE = _ENTRY[False]
_TYPE = int(MessageType.MEMB_COMMIT_TOKEN)

assert _FIXED_LE.size == COMMIT_TOKEN_SIZE and _ENTRY_LE.size == COMMIT_MEMB_ENTRY_SIZE


def decode_commit_token(data: bytes, byteswapped: bool = False) -> CommitToken:
    """Decode a MEMB_COMMIT_TOKEN whose header already passed ``check_header``."""
    size = len(data)
    if size < COMMIT_TOKEN_SIZE:
        raise WireError("short", f"commit_token of {size} bytes < {COMMIT_TOKEN_SIZE}")
    (
        _magic,
        _version,
        _type,
        _encapsulated,
        nodeid,
        target_nodeid,
        token_seq,
        rep,
        ring_seq,
        retrans_flg,
        memb_index,
        entries,
    ) = _FIXED[byteswapped].unpack_from(data)
    if entries < 0 or size < COMMIT_TOKEN_SIZE + entries * (4 + COMMIT_MEMB_ENTRY_SIZE):
        raise WireError("short", f"commit_token of {size} bytes cannot hold {entries} members")
    if entries > PROCESSOR_COUNT_MAX:
        raise WireError("too_many_members", f"commit_token of {entries} > {PROCESSOR_COUNT_MAX}")
    if not 0 <= memb_index <= entries:
        raise WireError("bad_memb_index", f"memb_index {memb_index} of {entries} members")
    order = ">" if byteswapped else "<"
    addr = list(struct.unpack_from(f"{order}{entries}I", data, COMMIT_TOKEN_SIZE))
    entry_struct = _ENTRY[byteswapped]
    memb_list: list[MembEntry] = []
    offset = COMMIT_TOKEN_SIZE + 4 * entries
    for _ in range(entries):
        entry = entry_struct.unpack_from(data, offset)
        if byteswapped and entry[0] == 0:
            # corosync leaves an unfilled entry (rep 0) unconverted
            entry = _ENTRY_LE.unpack_from(data, offset)
        memb_list.append(MembEntry(ring_id(entry[0], entry[1]), entry[2], entry[3], entry[4]))
        offset += COMMIT_MEMB_ENTRY_SIZE
    return CommitToken(
        nodeid,
        target_nodeid,
        token_seq,
        ring_id(rep, ring_seq),
        retrans_flg,
        memb_index,
        addr,
        memb_list,
    )


def encode_commit_token(token: CommitToken) -> bytes:
    """Encode little-endian; ``addr`` and ``memb_list`` must have the same length."""
    entries = len(token.addr)
    if len(token.memb_list) != entries:
        raise ValueError(f"commit_token has {entries} addr but {len(token.memb_list)} entries")
    if entries > PROCESSOR_COUNT_MAX:
        raise ValueError(f"commit_token of {entries} members > {PROCESSOR_COUNT_MAX}")
    try:
        parts = [
            _FIXED_LE.pack(
                MAGIC,
                VERSION,
                _TYPE,
                0,
                token.nodeid,
                token.target_nodeid,
                token.token_seq,
                token.ring_id.rep,
                token.ring_id.seq,
                token.retrans_flg,
                token.memb_index,
                entries,
            ),
            struct.pack(f"<{entries}I", *token.addr),
        ]
        parts.extend(
            _ENTRY_LE.pack(e.ring_id.rep, e.ring_id.seq, e.aru, e.high_delivered, e.received_flg)
            for e in token.memb_list
        )
    except struct.error as exc:
        raise ValueError(f"commit_token field out of range: {exc}") from exc
    return b"".join(parts)


def build_construct(token: CommitToken) -> bytes:
    """Reference encoder through ``FORMAT`` (slow; for tests and benchmarks)."""
    built: bytes = compiled(_declare()["FORMAT"]).build(
        {
            "nodeid": token.nodeid,
            "target_nodeid": token.target_nodeid,
            "token_seq": token.token_seq,
            "ring_id": {"rep": token.ring_id.rep, "seq": token.ring_id.seq},
            "retrans_flg": token.retrans_flg,
            "memb_index": token.memb_index,
            "addr": list(token.addr),
            "memb_list": [
                {
                    "ring_id": {"rep": e.ring_id.rep, "seq": e.ring_id.seq},
                    "aru": e.aru,
                    "high_delivered": e.high_delivered,
                    "received_flg": e.received_flg,
                }
                for e in token.memb_list
            ],
        }
    )
    return built


def parse_construct(data: bytes) -> CommitToken:
    """Reference decoder through ``FORMAT`` (little-endian, no sanity rules)."""
    c = compiled(_declare()["FORMAT"]).parse(data)
    return CommitToken(
        c.nodeid,
        c.target_nodeid,
        c.token_seq,
        RingId(c.ring_id.rep, c.ring_id.seq),
        c.retrans_flg,
        c.memb_index,
        list(c.addr),
        [
            MembEntry(RingId(e.ring_id.rep, e.ring_id.seq), e.aru, e.high_delivered, e.received_flg)
            for e in c.memb_list
        ],
    )
