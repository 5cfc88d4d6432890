"""CPG values, results and events (corosync 3.1.7 ``include/corosync/cpg.h``, ``corotypes.h``).

What a libcpg application sees, as frozen dataclasses: ``CpgDeliver`` is
``cpg_deliver_fn``, ``CpgConfigChange`` is ``cpg_confchg_fn`` and
``CpgTotemConfigChange`` is ``cpg_totem_confchg_fn``. Each event names the
local *handle* (a libcpg connection) it is for. Errors are ``CpgError``
carrying a ``CsError`` code with libcpg's numbering.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass

from totem.ringid import RingId

__all__ = [
    "CpdState",
    "CpgAddress",
    "CpgConfigChange",
    "CpgDeliver",
    "CpgError",
    "CpgEvent",
    "CpgGuarantee",
    "CpgIterationEntry",
    "CpgIterationType",
    "CpgLocalProcess",
    "CpgReason",
    "CpgTotemConfigChange",
    "CsError",
]


class CpgReason(enum.IntEnum):
    """``cpg_reason_t`` (and ``CONFCHG_CPG_REASON_*`` on the wire)."""

    UNDEFINED = 0
    JOIN = 1
    LEAVE = 2
    NODEDOWN = 3
    NODEUP = 4
    PROCDOWN = 5


class CpgGuarantee(enum.IntEnum):
    """``cpg_guarantee_t``. corosync sends every CPG message AGREED whatever is asked."""

    UNORDERED = 0
    FIFO = 1
    AGREED = 2
    SAFE = 3


class CpgIterationType(enum.IntEnum):
    """``cpg_iteration_type_t``."""

    NAME_ONLY = 1
    ONE_GROUP = 2
    ALL = 3


class CpdState(enum.Enum):
    """``enum cpd_state``: where a local handle is in its join/leave life cycle."""

    UNJOINED = 0
    LEAVE_STARTED = 1
    JOIN_STARTED = 2
    JOIN_COMPLETED = 3


class CsError(enum.IntEnum):
    """``cs_error_t`` values libcpg returns."""

    OK = 1
    ERR_LIBRARY = 2
    ERR_TRY_AGAIN = 6
    ERR_INVALID_PARAM = 7
    ERR_BAD_HANDLE = 9
    ERR_BUSY = 10
    ERR_NOT_EXIST = 12
    ERR_NAME_TOO_LONG = 13
    ERR_EXIST = 14
    ERR_INTERRUPT = 16
    ERR_TOO_BIG = 26


class CpgError(Exception):
    """A refused CPG request; ``error`` is what libcpg would have returned."""

    def __init__(self, error: CsError, detail: str) -> None:
        super().__init__(f"CS_{error.name}: {detail}")
        self.error = error
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CpgAddress:
    """``struct cpg_address``: a process of the cluster and why it is listed."""

    nodeid: int
    pid: int
    reason: int = CpgReason.UNDEFINED
    """A ``CpgReason``; members lists carry UNDEFINED. Foreign values are kept as ints."""


@dataclass(frozen=True, slots=True)
class CpgDeliver:
    """A message for ``group``, in agreed order (``cpg_deliver_fn``)."""

    handle: Hashable
    group: bytes
    nodeid: int
    pid: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class CpgConfigChange:
    """The membership of ``group`` changed (``cpg_confchg_fn``).

    ``members`` is the membership after the change (reason UNDEFINED), in
    corosync's process order (by node id, then pid); ``left`` and ``joined``
    say who changed and why.
    """

    handle: Hashable
    group: bytes
    members: tuple[CpgAddress, ...]
    left: tuple[CpgAddress, ...]
    joined: tuple[CpgAddress, ...]


@dataclass(frozen=True, slots=True)
class CpgTotemConfigChange:
    """The Totem membership after a sync (``cpg_totem_confchg_fn``)."""

    handle: Hashable
    ring_id: RingId
    members: tuple[int, ...]


CpgEvent = CpgDeliver | CpgConfigChange | CpgTotemConfigChange


@dataclass(frozen=True, slots=True)
class CpgIterationEntry:
    """``cpg_iteration_description_t``: one row of ``cpg_iteration_next``."""

    group: bytes
    nodeid: int
    pid: int


@dataclass(frozen=True, slots=True)
class CpgLocalProcess:
    """A local handle: which group it is in (if any) and how far its join/leave got."""

    handle: Hashable
    group: bytes
    pid: int
    state: CpdState
