"""CPG exec messages: byte-exact codecs (ref totem-wire.md 9, 10.3; corosync 3.1.7 ``exec/cpg.c``).

The CPG service (service id 2) has seven exec functions. Every message starts
with the 16-byte ``qb_ipc_request_header`` (``id = 2 << 16 | fn``, ``size`` =
total length) which the node adds and strips; the codecs here work on the
*body* that follows it. All members are ``aligned(8)``, native little-endian.
Offsets below are relative to the body (add 16 for the whole message):

``mar_cpg_name_t`` (136 bytes)
    ``u32 length``@0, ``value[128]``@8; only ``length`` bytes are meaningful.

fn 0 PROCJOIN / fn 1 PROCLEAVE (``req_exec_cpg_procjoin``, message 168 bytes)
    group@0, ``u32 pid``@136, ``u32 reason``@144.
fn 2 JOINLIST (message 24 + 144·n bytes)
    Built on a ``qb_ipc_response_header`` (24 bytes: id@0, size@8, error@16),
    so the body starts with ``i32 error``@0 (always 0) and its pad, then n
    ``join_list_entry`` of 144 bytes: ``u32 pid``@0, group@8.
fn 3 MCAST (``req_exec_cpg_mcast``, message 184 + msglen bytes)
    group@0, ``u32 msglen``@136, ``u32 pid``@144, ``mar_message_source_t``
    (``u32 nodeid``@152, ``u64 conn``@160), payload@168.
fn 4 DOWNLIST_OLD (message 1560 bytes)
    ``u32 left_nodes``@0, ``u32 nodeids[384]``@8.
fn 5 DOWNLIST (message 1568 bytes, seen on the wire)
    ``u32 old_members``@0, ``u32 left_nodes``@8, ``u32 nodeids[384]``@16.
fn 6 PARTIAL_MCAST (``req_exec_cpg_partial_mcast``, message 200 + fraglen bytes)
    group@0, ``u32 msglen``@136, ``u32 fraglen``@144, ``u32 pid``@152,
    ``u32 type``@160 (1 first, 2 continued, 3 last), source (nodeid@168,
    conn@176), fragment@184.

Pad bytes are zero when we send and ignored when we receive (real nodes send
stack garbage in some of them, and stale node ids after ``left_nodes`` in a
DOWNLIST). A body that does not fit its layout raises ``MalformedCpgMessage``;
the service drops and counts it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CPG_MAX_NAME_LENGTH",
    "CPG_SERVICE",
    "DOWNLIST_OLD_SIZE",
    "DOWNLIST_SIZE",
    "IPC_REQUEST_HEADER_SIZE",
    "JOINLIST_ENTRY_SIZE",
    "JOINLIST_HEADER_SIZE",
    "MCAST_BODY",
    "MCAST_HEADER_SIZE",
    "PARTIAL_MCAST_HEADER_SIZE",
    "PROCESSOR_COUNT_MAX",
    "PROCJOIN_SIZE",
    "CpgExecMessage",
    "CpgFn",
    "Downlist",
    "DownlistOld",
    "JoinList",
    "JoinListEntry",
    "MalformedCpgMessage",
    "Mcast",
    "PartialMcast",
    "PartialType",
    "ProcJoin",
    "decode",
    "encode",
    "exec_header",
    "exec_message",
    "mcast_body",
    "mcast_fields",
]

CPG_SERVICE = 2
"""``CPG_SERVICE`` in ``include/corosync/corodefs.h``."""

CPG_MAX_NAME_LENGTH = 128
PROCESSOR_COUNT_MAX = 384
"""Size of the DOWNLIST node id array (``PROCESSOR_COUNT_MAX`` of a non-small build)."""

IPC_REQUEST_HEADER_SIZE = 16
"""``struct qb_ipc_request_header``: ``i32 id``@0, ``i32 size``@8 (ref 9)."""


class CpgFn(enum.IntEnum):
    """``enum cpg_message_req_types``: the exec function ids."""

    PROCJOIN = 0
    PROCLEAVE = 1
    JOINLIST = 2
    MCAST = 3
    DOWNLIST_OLD = 4
    DOWNLIST = 5
    PARTIAL_MCAST = 6


class PartialType(enum.IntEnum):
    """``enum lib_cpg_partial_types``: where a PARTIAL_MCAST fragment sits."""

    FIRST = 1
    CONTINUED = 2
    LAST = 3


class MalformedCpgMessage(ValueError):
    """A CPG exec body that does not match its layout."""


# --- layouts (body offsets; "x" = pad, never validated) ------------------------------------
_NAME = "I4x128s"  # mar_cpg_name_t: length, pad, value[128]
_PROCJOIN = struct.Struct("<" + _NAME + "I4xI4x")
_JOINLIST_HEADER = struct.Struct("<i4x")
_JOINLIST_ENTRY = struct.Struct("<I4x" + _NAME)
_MCAST = struct.Struct("<" + _NAME + "I4xI4xI4xQ")
_PARTIAL_MCAST = struct.Struct("<" + _NAME + "I4xI4xI4xI4xI4xQ")
_DOWNLIST_OLD = struct.Struct(f"<I4x{PROCESSOR_COUNT_MAX}I")
_DOWNLIST = struct.Struct(f"<I4xI4x{PROCESSOR_COUNT_MAX}I")
_HEADER = struct.Struct("<i4xi4x")
MCAST_BODY: Final = _MCAST
"""The fixed part of an MCAST body: name length, name, msglen, pid, source nodeid and conn
(for receive paths that inline ``mcast_fields``)."""

PROCJOIN_SIZE = IPC_REQUEST_HEADER_SIZE + _PROCJOIN.size  # 168
JOINLIST_HEADER_SIZE = IPC_REQUEST_HEADER_SIZE + _JOINLIST_HEADER.size  # 24
JOINLIST_ENTRY_SIZE = _JOINLIST_ENTRY.size  # 144
MCAST_HEADER_SIZE = IPC_REQUEST_HEADER_SIZE + _MCAST.size  # 184
PARTIAL_MCAST_HEADER_SIZE = IPC_REQUEST_HEADER_SIZE + _PARTIAL_MCAST.size  # 200
DOWNLIST_OLD_SIZE = IPC_REQUEST_HEADER_SIZE + _DOWNLIST_OLD.size  # 1560
DOWNLIST_SIZE = IPC_REQUEST_HEADER_SIZE + _DOWNLIST.size  # 1568

_U32_MAX = 0xFFFFFFFF
_U64_MAX = 0xFFFFFFFFFFFFFFFF


def _check_name(group: bytes) -> None:
    if len(group) > CPG_MAX_NAME_LENGTH:
        raise ValueError(f"group name of {len(group)} bytes exceeds {CPG_MAX_NAME_LENGTH}")


def _check_u32(name: str, value: int) -> None:
    if not 0 <= value <= _U32_MAX:
        raise ValueError(f"{name}={value} does not fit in u32")


def _name_from_wire(length: int, value: bytes) -> bytes:
    if length > CPG_MAX_NAME_LENGTH:
        raise MalformedCpgMessage(f"group name length {length} > {CPG_MAX_NAME_LENGTH}")
    return value[:length]


# --- messages ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProcJoin:
    """PROCJOIN (fn 0) or PROCLEAVE (fn 1): process ``pid`` of the sender joins/leaves ``group``."""

    group: bytes
    pid: int
    reason: int
    """``CONFCHG_CPG_REASON_*``: JOIN for a join; LEAVE or PROCDOWN for a leave."""

    def encode(self) -> bytes:
        _check_name(self.group)
        _check_u32("pid", self.pid)
        _check_u32("reason", self.reason)
        return _PROCJOIN.pack(len(self.group), self.group, self.pid, self.reason)

    @classmethod
    def decode(cls, body: bytes) -> ProcJoin:
        if len(body) != _PROCJOIN.size:
            raise MalformedCpgMessage(f"procjoin body of {len(body)} bytes, want {_PROCJOIN.size}")
        length, value, pid, reason = _PROCJOIN.unpack(body)
        return cls(_name_from_wire(length, value), pid, reason)


@dataclass(frozen=True, slots=True)
class JoinListEntry:
    """One ``join_list_entry``: a local process of the sender and its group."""

    pid: int
    group: bytes


@dataclass(frozen=True, slots=True)
class JoinList:
    """JOINLIST (fn 2): every local (pid, group) of the sender, sent during sync."""

    entries: tuple[JoinListEntry, ...]
    error: int = 0
    """The ``qb_ipc_response_header.error`` the message is built on; 0 when sent."""

    def encode(self) -> bytes:
        parts = [_JOINLIST_HEADER.pack(self.error)]
        for entry in self.entries:
            _check_name(entry.group)
            _check_u32("pid", entry.pid)
            parts.append(_JOINLIST_ENTRY.pack(entry.pid, len(entry.group), entry.group))
        return b"".join(parts)

    @classmethod
    def decode(cls, body: bytes) -> JoinList:
        rest = len(body) - _JOINLIST_HEADER.size
        if rest < 0 or rest % _JOINLIST_ENTRY.size:
            raise MalformedCpgMessage(f"joinlist body of {len(body)} bytes is not 8 + 144·n")
        (error,) = _JOINLIST_HEADER.unpack_from(body)
        entries = []
        for offset in range(_JOINLIST_HEADER.size, len(body), _JOINLIST_ENTRY.size):
            pid, length, value = _JOINLIST_ENTRY.unpack_from(body, offset)
            entries.append(JoinListEntry(pid, _name_from_wire(length, value)))
        return cls(tuple(entries), error)


@dataclass(frozen=True, slots=True)
class Mcast:
    """MCAST (fn 3): ``payload`` from process ``pid`` of the sender to ``group``."""

    group: bytes
    pid: int
    payload: bytes
    source_nodeid: int = 0
    """``mar_message_source_t.nodeid``: the sending node (set by ``ipc_source_set``)."""
    source_conn: int = 0
    """``mar_message_source_t.conn``: a pointer local to the sender; meaningless elsewhere."""

    def encode(self) -> bytes:
        _check_name(self.group)
        _check_u32("pid", self.pid)
        _check_u32("msglen", len(self.payload))
        _check_u32("source_nodeid", self.source_nodeid)
        if not 0 <= self.source_conn <= _U64_MAX:
            raise ValueError("source_conn does not fit in u64")
        return mcast_body(self.group, self.pid, self.payload, self.source_nodeid, self.source_conn)

    @classmethod
    def decode(cls, body: bytes) -> Mcast:
        if len(body) < _MCAST.size:
            raise MalformedCpgMessage(f"mcast body of {len(body)} bytes < {_MCAST.size}")
        length, value, msglen, pid, nodeid, conn = _MCAST.unpack_from(body)
        if msglen != len(body) - _MCAST.size:
            raise MalformedCpgMessage(
                f"mcast msglen {msglen} but {len(body) - _MCAST.size} payload bytes"
            )
        return cls(_name_from_wire(length, value), pid, bytes(body[_MCAST.size :]), nodeid, conn)


@dataclass(frozen=True, slots=True)
class PartialMcast:
    """PARTIAL_MCAST (fn 6): one fragment of a message larger than the IPC limit."""

    group: bytes
    msglen: int
    """Length of the whole message the fragments reassemble to."""
    pid: int
    type: int
    """``PartialType``: FIRST, CONTINUED or LAST."""
    fragment: bytes
    source_nodeid: int = 0
    source_conn: int = 0

    def encode(self) -> bytes:
        _check_name(self.group)
        for name, value in (
            ("msglen", self.msglen),
            ("fraglen", len(self.fragment)),
            ("pid", self.pid),
            ("type", self.type),
            ("source_nodeid", self.source_nodeid),
        ):
            _check_u32(name, value)
        if not 0 <= self.source_conn <= _U64_MAX:
            raise ValueError("source_conn does not fit in u64")
        head = _PARTIAL_MCAST.pack(
            len(self.group),
            self.group,
            self.msglen,
            len(self.fragment),
            self.pid,
            self.type,
            self.source_nodeid,
            self.source_conn,
        )
        return head + self.fragment

    @classmethod
    def decode(cls, body: bytes) -> PartialMcast:
        size = _PARTIAL_MCAST.size
        if len(body) < size:
            raise MalformedCpgMessage(f"partial mcast body of {len(body)} bytes < {size}")
        length, value, msglen, fraglen, pid, type_, nodeid, conn = _PARTIAL_MCAST.unpack_from(body)
        if fraglen != len(body) - size:
            raise MalformedCpgMessage(
                f"partial mcast fraglen {fraglen} but {len(body) - size} fragment bytes"
            )
        if fraglen > msglen:
            raise MalformedCpgMessage(f"partial mcast fraglen {fraglen} > msglen {msglen}")
        if type_ not in (PartialType.FIRST, PartialType.CONTINUED, PartialType.LAST):
            raise MalformedCpgMessage(f"partial mcast type {type_} unknown")
        group = _name_from_wire(length, value)
        return cls(group, msglen, pid, PartialType(type_), bytes(body[size:]), nodeid, conn)


@dataclass(frozen=True, slots=True)
class DownlistOld:
    """DOWNLIST_OLD (fn 4): the corosync 1.x downlist; 3.1.7 only logs it."""

    left_nodes: tuple[int, ...]

    def encode(self) -> bytes:
        nodeids = _padded_nodeids(self.left_nodes)
        return _DOWNLIST_OLD.pack(len(self.left_nodes), *nodeids)

    @classmethod
    def decode(cls, body: bytes) -> DownlistOld:
        if len(body) != _DOWNLIST_OLD.size:
            raise MalformedCpgMessage(
                f"downlist_old body of {len(body)} bytes, want {_DOWNLIST_OLD.size}"
            )
        left, *nodeids = _DOWNLIST_OLD.unpack(body)
        return cls(_left_nodes(left, nodeids))


@dataclass(frozen=True, slots=True)
class Downlist:
    """DOWNLIST (fn 5): the sender's previous member count and the nodes it saw leave."""

    old_members: int
    left_nodes: tuple[int, ...]

    def encode(self) -> bytes:
        _check_u32("old_members", self.old_members)
        nodeids = _padded_nodeids(self.left_nodes)
        return _DOWNLIST.pack(self.old_members, len(self.left_nodes), *nodeids)

    @classmethod
    def decode(cls, body: bytes) -> Downlist:
        if len(body) != _DOWNLIST.size:
            raise MalformedCpgMessage(f"downlist body of {len(body)} bytes, want {_DOWNLIST.size}")
        old_members, left, *nodeids = _DOWNLIST.unpack(body)
        return cls(old_members, _left_nodes(left, nodeids))


def _padded_nodeids(left_nodes: tuple[int, ...]) -> list[int]:
    if len(left_nodes) > PROCESSOR_COUNT_MAX:
        raise ValueError(f"{len(left_nodes)} left nodes exceed {PROCESSOR_COUNT_MAX}")
    for nodeid in left_nodes:
        _check_u32("nodeid", nodeid)
    return [*left_nodes, *([0] * (PROCESSOR_COUNT_MAX - len(left_nodes)))]


def _left_nodes(count: int, nodeids: list[int]) -> tuple[int, ...]:
    if count > PROCESSOR_COUNT_MAX:
        raise MalformedCpgMessage(f"left_nodes {count} > {PROCESSOR_COUNT_MAX}")
    # Entries past ``count`` are stale leftovers of earlier downlists on real nodes.
    return tuple(nodeids[:count])


CpgExecMessage = ProcJoin | JoinList | Mcast | PartialMcast | DownlistOld | Downlist

_DECODERS: dict[CpgFn, Callable[[bytes], CpgExecMessage]] = {
    CpgFn.PROCJOIN: ProcJoin.decode,
    CpgFn.PROCLEAVE: ProcJoin.decode,
    CpgFn.JOINLIST: JoinList.decode,
    CpgFn.MCAST: Mcast.decode,
    CpgFn.DOWNLIST_OLD: DownlistOld.decode,
    CpgFn.DOWNLIST: Downlist.decode,
    CpgFn.PARTIAL_MCAST: PartialMcast.decode,
}


def mcast_body(
    group: bytes, pid: int, payload: bytes, source_nodeid: int, source_conn: int = 0
) -> bytes:
    """The MCAST body without building an ``Mcast``: the send path of every message.

    The caller has validated the values (``Mcast.encode`` does; the service's
    ``mcast`` checked the group at join and the payload size).
    """
    return _MCAST.pack(len(group), group, len(payload), pid, source_nodeid, source_conn) + payload


def mcast_fields(body: bytes) -> tuple[bytes, int, bytes]:
    """``(group, pid, payload)`` of an MCAST body without building an ``Mcast``: the
    receive path of every message. The same checks as ``Mcast.decode``."""
    size = _MCAST.size
    if len(body) < size:
        raise MalformedCpgMessage(f"mcast body of {len(body)} bytes < {size}")
    length, value, msglen, pid, _nodeid, _conn = _MCAST.unpack_from(body)
    if msglen != len(body) - size:
        raise MalformedCpgMessage(f"mcast msglen {msglen} but {len(body) - size} payload bytes")
    if length > CPG_MAX_NAME_LENGTH:
        raise MalformedCpgMessage(f"group name length {length} > {CPG_MAX_NAME_LENGTH}")
    return value[:length], pid, bytes(body[size:])


def decode(fn_id: int, body: bytes) -> CpgExecMessage:
    """Decode the body of exec function ``fn_id``; ``MalformedCpgMessage`` if it does not fit."""
    try:
        fn = CpgFn(fn_id)
    except ValueError:
        raise MalformedCpgMessage(f"unknown cpg exec function {fn_id}") from None
    return _DECODERS[fn](body)


def encode(message: CpgExecMessage) -> bytes:
    """The body of ``message`` (what ``ServiceHost.mcast`` takes)."""
    return message.encode()


def exec_header(fn_id: int, body_length: int) -> bytes:
    """The 16-byte ``qb_ipc_request_header`` a node puts in front of a CPG body (ref 9)."""
    return _HEADER.pack((CPG_SERVICE << 16) | fn_id, IPC_REQUEST_HEADER_SIZE + body_length)


def exec_message(fn_id: int, body: bytes) -> bytes:
    """A whole exec message as it travels in totempg group ``"a"``: header plus body."""
    return exec_header(fn_id, len(body)) + body
