"""Sync protocol messages, group ``"sync"`` (ref totem-wire.md section 10).

Both messages are ``aligned(8)`` structures (``exec/sync.c``) behind a
``qb_ipc_request_header`` whose ``id`` is a plain message number:

* BARRIER (id 0, 32 bytes): header(16) · ring_id@16 (12 bytes + 4 pad).
* SERVICE_BUILD (id 1, 552 bytes): header(16) · ring_id@16 (12 + 4 pad) ·
  i32 service_list_entries@32 (+ 4 pad) · i32 service_list[128]@40.

Pad bytes and unused list slots are zero on encode and ignored on decode; so
is the header ``size`` (written as the structure size). The sync service never
byte-swaps (a big-endian peer cannot complete sync), so neither do we.
Acceptance: at least the structure size (corosync reads fixed offsets), a
known id, and 0..128 service entries.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from totem.ringid import RingId
from totem.wire.errors import WireError
from totem.wire.header import ring_id

__all__ = [
    "BARRIER_FORMAT",
    "SERVICE_BUILD_FORMAT",
    "SERVICE_LIST_MAX",
    "SYNC_BARRIER",
    "SYNC_BARRIER_SIZE",
    "SYNC_SERVICE_BUILD",
    "SYNC_SERVICE_BUILD_SIZE",
    "SyncBarrier",
    "SyncMessage",
    "SyncServiceBuild",
    "decode_sync",
]

SYNC_BARRIER: Final = 0
"""``MESSAGE_REQ_SYNC_BARRIER``."""
SYNC_SERVICE_BUILD: Final = 1
"""``MESSAGE_REQ_SYNC_SERVICE_BUILD``."""
SYNC_BARRIER_SIZE: Final = 32
SYNC_SERVICE_BUILD_SIZE: Final = 552
SERVICE_LIST_MAX: Final = 128
"""Slots of ``service_list``."""

BARRIER_FORMAT: Any
"""Normative declaration of ``req_exec_barrier_message``."""

SERVICE_BUILD_FORMAT: Any
"""Normative declaration of ``req_exec_service_build_message``; ``services`` is
the meaningful prefix of the 128-slot ``service_list`` (given on build)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import Array, Const, Default, Int32sl, Padding, Rebuild, Struct, len_, this

    from totem.wire.header import RING_ID_FORMAT

    BARRIER_FORMAT = Struct(
        "id" / Const(SYNC_BARRIER, Int32sl),
        Padding(4),
        "size" / Default(Int32sl, SYNC_BARRIER_SIZE),
        Padding(4),
        "ring_id" / RING_ID_FORMAT,
        Padding(4),
    )
    SERVICE_BUILD_FORMAT = Struct(
        "id" / Const(SYNC_SERVICE_BUILD, Int32sl),
        Padding(4),
        "size" / Default(Int32sl, SYNC_SERVICE_BUILD_SIZE),
        Padding(4),
        "ring_id" / RING_ID_FORMAT,
        Padding(4),
        "service_list_entries" / Rebuild(Int32sl, len_(this.services)),
        Padding(4),
        "service_list" / Array(SERVICE_LIST_MAX, Int32sl),
    )
    return {"BARRIER_FORMAT": BARRIER_FORMAT, "SERVICE_BUILD_FORMAT": SERVICE_BUILD_FORMAT}


def __getattr__(name: str) -> Any:
    if name in ("BARRIER_FORMAT", "SERVICE_BUILD_FORMAT"):
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_BARRIER = struct.Struct("<i4xi4xIQ4x")
_SERVICE_BUILD = struct.Struct("<i4xi4xIQ4xi4x")
_SERVICE_LIST_OFFSET: Final = 40

assert _BARRIER.size == SYNC_BARRIER_SIZE and _SERVICE_BUILD.size == _SERVICE_LIST_OFFSET


@dataclass(frozen=True, slots=True)
class SyncBarrier:
    """One per sync round from every member; the round ends when all are in."""

    ring_id: RingId

    def encode(self) -> bytes:
        try:
            ring = self.ring_id
            return _BARRIER.pack(SYNC_BARRIER, SYNC_BARRIER_SIZE, ring.rep, ring.seq)
        except struct.error as exc:
            raise ValueError(f"sync barrier field out of range: {exc}") from exc

    @classmethod
    def decode(cls, data: bytes) -> SyncBarrier:
        message = decode_sync(data)
        if not isinstance(message, SyncBarrier):
            raise WireError("bad_type", "not a sync barrier")
        return message


@dataclass(frozen=True, slots=True)
class SyncServiceBuild:
    """The sender's list of sync-participating service ids (real nodes: 0, 2, 3, 5)."""

    ring_id: RingId
    service_list: tuple[int, ...]

    def encode(self) -> bytes:
        count = len(self.service_list)
        if count > SERVICE_LIST_MAX:
            raise ValueError(f"{count} services > {SERVICE_LIST_MAX}")
        try:
            return _SERVICE_BUILD.pack(
                SYNC_SERVICE_BUILD,
                SYNC_SERVICE_BUILD_SIZE,
                self.ring_id.rep,
                self.ring_id.seq,
                count,
            ) + struct.pack(
                f"<{SERVICE_LIST_MAX}i", *self.service_list, *(0,) * (SERVICE_LIST_MAX - count)
            )
        except struct.error as exc:
            raise ValueError(f"sync service build field out of range: {exc}") from exc

    @classmethod
    def decode(cls, data: bytes) -> SyncServiceBuild:
        message = decode_sync(data)
        if not isinstance(message, SyncServiceBuild):
            raise WireError("bad_type", "not a sync service build")
        return message


SyncMessage: TypeAlias = SyncBarrier | SyncServiceBuild


def decode_sync(data: bytes) -> SyncMessage:
    """Decode a message delivered in group ``"sync"`` (payload after the group framing)."""
    size = len(data)
    if size < SYNC_BARRIER_SIZE:
        raise WireError("short", f"sync message of {size} bytes")
    message_id, _size, rep, seq = _BARRIER.unpack_from(data)
    if message_id == SYNC_BARRIER:
        return SyncBarrier(ring_id(rep, seq))
    if message_id != SYNC_SERVICE_BUILD:
        raise WireError("bad_type", f"sync message id {message_id}")
    if size < SYNC_SERVICE_BUILD_SIZE:
        raise WireError("short", f"sync service build of {size} bytes")
    count = _SERVICE_BUILD.unpack_from(data)[4]
    if not 0 <= count <= SERVICE_LIST_MAX:
        raise WireError("bad_count", f"{count} sync services")
    services = struct.unpack_from(f"<{count}i", data, _SERVICE_LIST_OFFSET)
    return SyncServiceBuild(ring_id(rep, seq), services)
