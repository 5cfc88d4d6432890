"""MEMB_JOIN (type 3), a membership view; also LEAVE (ref totem-wire.md 4.3, 4.7, 7).

Layout (packed, 33 + 4*(p+f) bytes): header(13) · u32 system_from ·
u32 proc_list_entries p · u32 failed_list_entries f · u64 ring_seq ·
p x u32 proc_list · f x u32 failed_list.

A join whose header ``nodeid`` is 0 (``LEAVE_DUMMY_NODEID``) is a graceful
leave: ``system_from`` is the leaver, which is the last failed entry.

Acceptance (``check_memb_join_sanity`` with the Debian CVE-2026-35092 patch):
at least 33 bytes, neither list longer than ``PROCESSOR_COUNT_MAX`` (384), and
long enough for both lists. Trailing bytes are ignored.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any, Final

from totem.wire.constants import MAGIC, MEMB_JOIN_SIZE, PROCESSOR_COUNT_MAX, VERSION, MessageType
from totem.wire.declare import compiled
from totem.wire.errors import WireError
from totem.wire.header import header_fields

__all__ = [
    "FORMAT",
    "LEAVE_DUMMY_NODEID",
    "MembJoin",
    "build_construct",
    "decode_memb_join",
    "encode_memb_join",
    "parse_construct",
]

LEAVE_DUMMY_NODEID: Final = 0
"""Header ``nodeid`` of a LEAVE message."""


@dataclass(frozen=True, slots=True)
class MembJoin:
    """A join: the sender's proc and failed sets; ``nodeid == 0`` means LEAVE."""

    nodeid: int
    """Header sender, or ``LEAVE_DUMMY_NODEID`` for a leave."""
    target_nodeid: int
    system_from: int
    """The node whose view this is."""
    proc_list: tuple[int, ...]
    """Processors the sender thinks exist (order not significant)."""
    failed_list: tuple[int, ...]
    """Processors the sender considers failed (for a leave, the leaver is last)."""
    ring_seq: int
    """Sender's current ring seq (``my_ring_id.seq``)."""

    @property
    def is_leave(self) -> bool:
        """A graceful-leave message (header nodeid 0)."""
        return self.nodeid == LEAVE_DUMMY_NODEID


FORMAT: Any
"""Normative declaration of MEMB_JOIN (little-endian, as we send it)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import Array, Int32ul, Int64ul, Rebuild, Struct, len_, this

    FORMAT = Struct(
        *header_fields(MessageType.MEMB_JOIN),
        "system_from" / Int32ul,
        "proc_list_entries" / Rebuild(Int32ul, len_(this.proc_list)),
        "failed_list_entries" / Rebuild(Int32ul, len_(this.failed_list)),
        "ring_seq" / Int64ul,
        "proc_list" / Array(this.proc_list_entries, Int32ul),
        "failed_list" / Array(this.failed_list_entries, Int32ul),
    )
    return {"FORMAT": FORMAT}


def __getattr__(name: str) -> Any:
    if name == "FORMAT":
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FIXED = {False: struct.Struct("<HBBBIIIIIQ"), True: struct.Struct(">HBBBIIIIIQ")}
_FIXED_LE = _FIXED[False]
_TYPE = int(MessageType.MEMB_JOIN)

assert _FIXED_LE.size == MEMB_JOIN_SIZE


def decode_memb_join(data: bytes, byteswapped: bool = False) -> MembJoin:
    """Decode a MEMB_JOIN whose header already passed ``check_header``."""
    size = len(data)
    if size < MEMB_JOIN_SIZE:
        raise WireError("short", f"memb_join of {size} bytes < {MEMB_JOIN_SIZE}")
    (
        _magic,
        _version,
        _type,
        _encapsulated,
        nodeid,
        target_nodeid,
        system_from,
        proc_entries,
        failed_entries,
        ring_seq,
    ) = _FIXED[byteswapped].unpack_from(data)
    if proc_entries > PROCESSOR_COUNT_MAX or failed_entries > PROCESSOR_COUNT_MAX:
        raise WireError(
            "too_many_members",
            f"memb_join lists of {proc_entries}/{failed_entries} > {PROCESSOR_COUNT_MAX}",
        )
    total = proc_entries + failed_entries
    if size < MEMB_JOIN_SIZE + 4 * total:
        raise WireError("short", f"memb_join of {size} bytes cannot hold {total} entries")
    order = ">" if byteswapped else "<"
    nodes = struct.unpack_from(f"{order}{total}I", data, MEMB_JOIN_SIZE)
    return MembJoin(
        nodeid,
        target_nodeid,
        system_from,
        nodes[:proc_entries],
        nodes[proc_entries:],
        ring_seq,
    )


def encode_memb_join(join: MembJoin) -> bytes:
    """Encode little-endian; raises ``ValueError`` for over-long lists."""
    proc, failed = join.proc_list, join.failed_list
    if len(proc) > PROCESSOR_COUNT_MAX or len(failed) > PROCESSOR_COUNT_MAX:
        raise ValueError(f"memb_join lists longer than {PROCESSOR_COUNT_MAX}")
    try:
        return _FIXED_LE.pack(
            MAGIC,
            VERSION,
            _TYPE,
            0,
            join.nodeid,
            join.target_nodeid,
            join.system_from,
            len(proc),
            len(failed),
            join.ring_seq,
        ) + struct.pack(f"<{len(proc) + len(failed)}I", *proc, *failed)
    except struct.error as exc:
        raise ValueError(f"memb_join field out of range: {exc}") from exc


def build_construct(join: MembJoin) -> bytes:
    """Reference encoder through ``FORMAT`` (slow; for tests and benchmarks)."""
    built: bytes = compiled(_declare()["FORMAT"]).build(
        {
            "nodeid": join.nodeid,
            "target_nodeid": join.target_nodeid,
            "system_from": join.system_from,
            "ring_seq": join.ring_seq,
            "proc_list": list(join.proc_list),
            "failed_list": list(join.failed_list),
        }
    )
    return built


def parse_construct(data: bytes) -> MembJoin:
    """Reference decoder through ``FORMAT`` (little-endian, no sanity rules)."""
    c = compiled(_declare()["FORMAT"]).parse(data)
    return MembJoin(
        c.nodeid,
        c.target_nodeid,
        c.system_from,
        tuple(c.proc_list),
        tuple(c.failed_list),
        c.ring_seq,
    )
