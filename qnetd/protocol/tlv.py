"""TLV options: ``u16 type | u16 length | value`` (ref qnetd-protocol.md section 2).

Encoders produce exactly the bytes of corosync-qdevice's ``tlv_add_*`` (big-endian,
``RING_ID`` = u32 node id + u64 seq, ``TIE_BREAKER`` = u8 mode + u32 node id written as 0
unless mode is NODE_ID, ``NODE_INFO`` = nested NODE_ID / DATA_CENTER_ID / NODE_STATE).

:func:`split_options` walks a message body with the quirks of ``tlv_iter_next``: the first
option header is read unconditionally (so a body without options is an error), iteration stops
when an option ends at or past the end of the body, and trailing bytes shorter than an option
header are an error. Value decoders (``decode_*``) reproduce ``tlv_iter_decode_*``: a fixed-size
option of the wrong length is :attr:`DecodeErrorKind.INVALID_LENGTH`, a value outside its enum
is :attr:`DecodeErrorKind.INVALID_VALUE`.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from qnetd.protocol.constants import (
    Heuristics,
    KeepActivePartitionTieBreaker,
    NodeListType,
    NodeState,
    OptType,
    Quorate,
    TieBreakerMode,
    TlsSupported,
    Vote,
)
from totem.ringid import RingId

__all__ = [
    "TLV_HEADER_LEN",
    "DecodeErrorKind",
    "NodeInfo",
    "RingId",
    "TieBreaker",
    "TlvDecodeError",
    "decode_heuristics",
    "decode_keep_active_partition_tie_breaker",
    "decode_node_info",
    "decode_node_list_type",
    "decode_node_state",
    "decode_quorate",
    "decode_ring_id",
    "decode_tie_breaker",
    "decode_tls_supported",
    "decode_u8",
    "decode_u16",
    "decode_u16_array",
    "decode_u32",
    "decode_u64",
    "decode_vote",
    "opt_bytes",
    "opt_node_info",
    "opt_ring_id",
    "opt_tie_breaker",
    "opt_u8",
    "opt_u16",
    "opt_u16_array",
    "opt_u32",
    "opt_u64",
    "split_options",
]

TLV_HEADER_LEN = 4

_TL = struct.Struct(">HH")
_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_RING = struct.Struct(">IQ")
_TIE = struct.Struct(">BI")


class DecodeErrorKind(IntEnum):
    """The negative results of ``msg_decode`` (``log_common_msg_decode_error`` wording)."""

    INVALID_LENGTH = -1
    """Option with invalid length (a fixed-size option of the wrong size)."""
    INCONSISTENT = -3
    """Inconsistent msg (tlv len > msg size), also a body without any option."""
    INVALID_VALUE = -4
    """Option with invalid value (enum out of range, node id 0 in NODE_INFO)."""

    @property
    def log_text(self) -> str:
        return _ERROR_TEXT[self]


_ERROR_TEXT = {
    DecodeErrorKind.INVALID_LENGTH: "Received message with option with invalid length",
    DecodeErrorKind.INCONSISTENT: "Received inconsistent msg (tlv len > msg size)",
    DecodeErrorKind.INVALID_VALUE: "Received message with option with invalid value",
}


class TlvDecodeError(ValueError):
    """A TLV (or the option sequence) could not be decoded."""

    def __init__(self, kind: DecodeErrorKind, detail: str = "") -> None:
        super().__init__(detail or kind.log_text)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class TieBreaker:
    """``struct tlv_tie_breaker``; ``node_id`` is meaningful (and compared) only in NODE_ID mode."""

    mode: TieBreakerMode
    node_id: int = 0

    def __eq__(self, other: object) -> bool:
        # tlv_tie_breaker_eq: node ids matter only when both are NODE_ID mode.
        if not isinstance(other, TieBreaker):
            return NotImplemented
        if self.mode != other.mode:
            return False
        return self.mode != TieBreakerMode.NODE_ID or self.node_id == other.node_id

    def __hash__(self) -> int:
        return hash((self.mode, self.node_id if self.mode == TieBreakerMode.NODE_ID else 0))


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """``struct tlv_node_info``: one entry of a node list."""

    node_id: int
    data_center_id: int = 0
    """0 = not set (then not encoded)."""
    node_state: NodeState = NodeState.NOT_SET
    """NOT_SET = not encoded."""


# ---------------------------------------------------------------------------- encoders


def opt_bytes(opt: int, value: bytes) -> bytes:
    """``tlv_add``: one option with a raw value (at most 65535 bytes)."""
    if len(value) > 0xFFFF:
        raise ValueError(f"TLV option {opt} value too long ({len(value)} bytes)")
    return _TL.pack(opt, len(value)) + value


def opt_u8(opt: int, value: int) -> bytes:
    return _TL.pack(opt, 1) + _U8.pack(value)


def opt_u16(opt: int, value: int) -> bytes:
    return _TL.pack(opt, 2) + _U16.pack(value)


def opt_u32(opt: int, value: int) -> bytes:
    return _TL.pack(opt, 4) + _U32.pack(value)


def opt_u64(opt: int, value: int) -> bytes:
    return _TL.pack(opt, 8) + _U64.pack(value)


def opt_u16_array(opt: int, values: tuple[int, ...] | list[int]) -> bytes:
    if values.__class__ is tuple:
        return _opt_u16_tuple(opt, tuple(values))
    return opt_bytes(opt, struct.pack(f">{len(values)}H", *values))


@functools.lru_cache(maxsize=64)
def _opt_u16_tuple(opt: int, values: tuple[int, ...]) -> bytes:
    """The same few arrays (supported messages, options, algorithms) go in every INIT_REPLY."""
    return opt_bytes(opt, struct.pack(f">{len(values)}H", *values))


def opt_ring_id(ring_id: RingId) -> bytes:
    return _TL.pack(OptType.RING_ID, 12) + _RING.pack(ring_id.rep, ring_id.seq)


def opt_tie_breaker(tie_breaker: TieBreaker) -> bytes:
    node_id = tie_breaker.node_id if tie_breaker.mode == TieBreakerMode.NODE_ID else 0
    return _TL.pack(OptType.TIE_BREAKER, 5) + _TIE.pack(tie_breaker.mode, node_id)


def opt_node_info(info: NodeInfo) -> bytes:
    inner = opt_u32(OptType.NODE_ID, info.node_id)
    if info.data_center_id != 0:
        inner += opt_u32(OptType.DATA_CENTER_ID, info.data_center_id)
    if info.node_state != NodeState.NOT_SET:
        inner += opt_u8(OptType.NODE_STATE, info.node_state)
    return _TL.pack(OptType.NODE_INFO, len(inner)) + inner


# ---------------------------------------------------------------------------- iteration


def split_options(buf: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """Return ``(type, value_offset, value_length)`` for every option in ``buf[start:end]``.

    Raises :class:`TlvDecodeError` (INCONSISTENT) exactly where ``tlv_iter_next`` fails.
    """
    out: list[tuple[int, int, int]] = []
    pos = start
    unpack = _TL.unpack_from
    while True:
        if pos + TLV_HEADER_LEN > end:
            raise TlvDecodeError(DecodeErrorKind.INCONSISTENT)
        opt, length = unpack(buf, pos)
        nxt = pos + TLV_HEADER_LEN + length
        if nxt > end:
            raise TlvDecodeError(DecodeErrorKind.INCONSISTENT)
        out.append((opt, pos + TLV_HEADER_LEN, length))
        if nxt >= end:
            return out
        pos = nxt


# ---------------------------------------------------------------------------- value decoders


def _fixed(length: int, expected: int) -> None:
    if length != expected:
        raise TlvDecodeError(DecodeErrorKind.INVALID_LENGTH)


def decode_u8(buf: bytes, off: int, length: int) -> int:
    if length != 1:
        raise TlvDecodeError(DecodeErrorKind.INVALID_LENGTH)
    return buf[off]


def decode_u16(buf: bytes, off: int, length: int) -> int:
    if length != 2:
        raise TlvDecodeError(DecodeErrorKind.INVALID_LENGTH)
    return int(_U16.unpack_from(buf, off)[0])


def decode_u32(buf: bytes, off: int, length: int) -> int:
    if length != 4:
        raise TlvDecodeError(DecodeErrorKind.INVALID_LENGTH)
    return int(_U32.unpack_from(buf, off)[0])


def decode_u64(buf: bytes, off: int, length: int) -> int:
    if length != 8:
        raise TlvDecodeError(DecodeErrorKind.INVALID_LENGTH)
    return int(_U64.unpack_from(buf, off)[0])


def decode_u16_array(buf: bytes, off: int, length: int) -> tuple[int, ...]:
    if length % 2:
        raise TlvDecodeError(DecodeErrorKind.INVALID_LENGTH)
    return struct.unpack_from(f">{length // 2}H", buf, off)


_CACHE_LIMIT = 4096
_RING_IDS: dict[tuple[int, int], RingId] = {}
_NODE_INFOS: dict[bytes, NodeInfo] = {}
"""Decoded values are immutable, so equal ones are shared: a server decodes the same few ring
ids and node entries over and over (and equal ring ids then compare by identity first). Node
entries are keyed by their encoded bytes, which decide the result (failures are not kept)."""


def decode_ring_id(buf: bytes, off: int, length: int) -> RingId:
    if length != 12:
        raise TlvDecodeError(DecodeErrorKind.INVALID_LENGTH)
    key: tuple[int, int] = _RING.unpack_from(buf, off)
    ring_id = _RING_IDS.get(key)
    if ring_id is None:
        if len(_RING_IDS) >= _CACHE_LIMIT:
            _RING_IDS.clear()
        ring_id = _RING_IDS[key] = RingId(*key)
    return ring_id


_E = TypeVar("_E", bound=IntEnum)


def _enum_u8(buf: bytes, off: int, length: int, members: Mapping[int, _E]) -> _E:
    """A one-byte enumerated option: its member, or INVALID_VALUE for a value not allowed."""
    if length != 1:
        raise TlvDecodeError(DecodeErrorKind.INVALID_LENGTH)
    member = members.get(buf[off])
    if member is None:
        raise TlvDecodeError(DecodeErrorKind.INVALID_VALUE)
    return member


def _members(enum: type[_E], allowed: Iterable[int] | None = None) -> dict[int, _E]:
    """Allowed wire values -> members (a lookup: calling an enum class costs far more)."""
    return {int(v): enum(v) for v in (enum if allowed is None else allowed)}


_TLS_MEMBERS = _members(TlsSupported)
_NODE_STATE_MEMBERS = _members(NodeState, (1, 2, 3))
_NODE_LIST_TYPE_MEMBERS = _members(NodeListType)
_VOTE_MEMBERS = _members(Vote, (1, 2, 3, 4, 5))
_QUORATE_MEMBERS = _members(Quorate)
_HEURISTICS_MEMBERS = _members(Heuristics, (1, 2))
_KAP_MEMBERS = _members(KeepActivePartitionTieBreaker)
_TIE_BREAKER_MEMBERS = _members(TieBreakerMode)


def decode_tls_supported(buf: bytes, off: int, length: int) -> TlsSupported:
    return _enum_u8(buf, off, length, _TLS_MEMBERS)


def decode_node_state(buf: bytes, off: int, length: int) -> NodeState:
    return _enum_u8(buf, off, length, _NODE_STATE_MEMBERS)


def decode_node_list_type(buf: bytes, off: int, length: int) -> NodeListType:
    return _enum_u8(buf, off, length, _NODE_LIST_TYPE_MEMBERS)


def decode_vote(buf: bytes, off: int, length: int) -> Vote:
    return _enum_u8(buf, off, length, _VOTE_MEMBERS)


def decode_quorate(buf: bytes, off: int, length: int) -> Quorate:
    return _enum_u8(buf, off, length, _QUORATE_MEMBERS)


def decode_heuristics(buf: bytes, off: int, length: int) -> Heuristics:
    return _enum_u8(buf, off, length, _HEURISTICS_MEMBERS)


def decode_keep_active_partition_tie_breaker(
    buf: bytes, off: int, length: int
) -> KeepActivePartitionTieBreaker:
    return _enum_u8(buf, off, length, _KAP_MEMBERS)


def decode_tie_breaker(buf: bytes, off: int, length: int) -> TieBreaker:
    _fixed(length, 5)
    value, node_id = _TIE.unpack_from(buf, off)
    mode = _TIE_BREAKER_MEMBERS.get(value)
    if mode is None:
        raise TlvDecodeError(DecodeErrorKind.INVALID_VALUE)
    if mode != TieBreakerMode.NODE_ID:
        node_id = 0
    return TieBreaker(mode, node_id)


def decode_node_info(buf: bytes, off: int, length: int) -> NodeInfo:
    """``tlv_iter_decode_node_info``: nested options, unknown ones ignored, node id must be != 0."""
    value = bytes(buf[off : off + length])
    info = _NODE_INFOS.get(value)
    if info is None:
        info = _decode_node_info(buf, off, length)
        if len(_NODE_INFOS) >= _CACHE_LIMIT:
            _NODE_INFOS.clear()
        _NODE_INFOS[value] = info
    return info


def _decode_node_info(buf: bytes, off: int, length: int) -> NodeInfo:
    node_id = 0
    dc_id = 0
    state = NodeState.NOT_SET
    pos = off
    end = off + length
    while True:
        if pos + TLV_HEADER_LEN > end:
            raise TlvDecodeError(DecodeErrorKind.INCONSISTENT)
        opt, vlen = _TL.unpack_from(buf, pos)
        voff = pos + TLV_HEADER_LEN
        nxt = voff + vlen
        if nxt > end:
            raise TlvDecodeError(DecodeErrorKind.INCONSISTENT)
        if opt == OptType.NODE_ID:
            node_id = decode_u32(buf, voff, vlen)
        elif opt == OptType.DATA_CENTER_ID:
            dc_id = decode_u32(buf, voff, vlen)
        elif opt == OptType.NODE_STATE:
            state = decode_node_state(buf, voff, vlen)
        if nxt >= end:
            break
        pos = nxt
    if node_id == 0:
        raise TlvDecodeError(DecodeErrorKind.INVALID_VALUE, "node info without node id")
    return NodeInfo(node_id, dc_id, state)
