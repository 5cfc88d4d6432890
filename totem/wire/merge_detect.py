"""MEMB_MERGE_DETECT (type 2), the rep's "my ring exists" beacon (ref totem-wire.md 4.4).

Layout (packed, 29 bytes): header(13) · u32 system_from · ring_id(12).
Acceptance: at least 29 bytes (``check_memb_merge_detect_sanity``); trailing
bytes are ignored. Real merge-detects carry garbage in ``target_nodeid``.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any

from totem.ringid import RingId
from totem.wire.constants import MAGIC, MERGE_DETECT_SIZE, VERSION, MessageType
from totem.wire.declare import compiled
from totem.wire.errors import WireError
from totem.wire.header import header_fields, ring_id

__all__ = [
    "FORMAT",
    "MergeDetect",
    "build_construct",
    "decode_merge_detect",
    "encode_merge_detect",
    "parse_construct",
]


@dataclass(frozen=True, slots=True)
class MergeDetect:
    """Multicast by a ring's representative while its token is idle."""

    nodeid: int
    target_nodeid: int
    system_from: int
    ring_id: RingId


FORMAT: Any
"""Normative declaration of MEMB_MERGE_DETECT (little-endian, as we send it)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import Int32ul, Struct

    from totem.wire.header import RING_ID_FORMAT

    FORMAT = Struct(
        *header_fields(MessageType.MEMB_MERGE_DETECT),
        "system_from" / Int32ul,
        "ring_id" / RING_ID_FORMAT,
    )
    return {"FORMAT": FORMAT}


def __getattr__(name: str) -> Any:
    if name == "FORMAT":
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FIXED = {False: struct.Struct("<HBBBIIIIQ"), True: struct.Struct(">HBBBIIIIQ")}
_FIXED_LE = _FIXED[False]
_TYPE = int(MessageType.MEMB_MERGE_DETECT)

assert _FIXED_LE.size == MERGE_DETECT_SIZE


def decode_merge_detect(data: bytes, byteswapped: bool = False) -> MergeDetect:
    """Decode a MEMB_MERGE_DETECT whose header already passed ``check_header``."""
    if len(data) < MERGE_DETECT_SIZE:
        raise WireError("short", f"merge_detect of {len(data)} bytes < {MERGE_DETECT_SIZE}")
    _m, _v, _t, _e, nodeid, target_nodeid, system_from, rep, seq = _FIXED[byteswapped].unpack_from(
        data
    )
    return MergeDetect(nodeid, target_nodeid, system_from, ring_id(rep, seq))


def encode_merge_detect(message: MergeDetect) -> bytes:
    """Encode little-endian."""
    try:
        return _FIXED_LE.pack(
            MAGIC,
            VERSION,
            _TYPE,
            0,
            message.nodeid,
            message.target_nodeid,
            message.system_from,
            message.ring_id.rep,
            message.ring_id.seq,
        )
    except struct.error as exc:
        raise ValueError(f"merge_detect field out of range: {exc}") from exc


def build_construct(message: MergeDetect) -> bytes:
    """Reference encoder through ``FORMAT`` (slow; for tests and benchmarks)."""
    built: bytes = compiled(_declare()["FORMAT"]).build(
        {
            "nodeid": message.nodeid,
            "target_nodeid": message.target_nodeid,
            "system_from": message.system_from,
            "ring_id": {"rep": message.ring_id.rep, "seq": message.ring_id.seq},
        }
    )
    return built


def parse_construct(data: bytes) -> MergeDetect:
    """Reference decoder through ``FORMAT`` (little-endian, no sanity rules)."""
    c = compiled(_declare()["FORMAT"]).parse(data)
    return MergeDetect(
        c.nodeid, c.target_nodeid, c.system_from, RingId(c.ring_id.rep, c.ring_id.seq)
    )
