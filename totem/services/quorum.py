"""The quorum service (id 3, ``exec/vsf_quorum.c``) and the quorum-provider hook.

vsf_quorum sends no exec messages and its ``sync_process`` is done at once, but
it takes part in sync (ref 10.4) and it is where the operator sees membership
and quorum (subsystem QUORUM, level NOTICE):

* at ``sync_init``: ``Sync members[3]: 1 2 3``, then ``Sync joined[1]: 3`` and
  ``Sync left[1]: 4`` when someone joined or left since the last *activated*
  sync (a node that left and came back within one transitional period counts as
  left and joined);
* when the provider reports quorum (after every votequorum activation, and on
  every quorum change outside sync): ``This node is within the primary component
  and will provide service.`` (or ``... non-primary component and will NOT
  provide any services.``) only when the state flips, then always
  ``Members[3]: 1 2 3``.

Long lists are cut into lines of at most 63 characters ending with ``\\``, as
corosync's 64-byte ``view_buf`` does.

**Library** (libquorum, ``exec/vsf_quorum.c``; ref libqb-ipc/README.md section 4.2):
GETQUORATE (0), TRACKSTART (1), TRACKSTOP (2), GETTYPE (3, answered as id 4) and
MODEL_GETTYPE (4, answered as id 5). A tracking client gets the quorum notification on
every report of the provider -- model V0: id 3, ``quorate``@24, ``ring_seq``@32, entries@40,
node ids@44; model V1: id 6, ``quorate``@24, ring id@32, entries@48, node ids@52 -- and, in
model V1, the node list notification (id 7: ring id@24, member/joined/left counts @40/48/56,
the three lists from @60) after every sync. TRACKSTART with CURRENT or CHANGES first sends
the current state (node list without joined/left, then quorum), even to a client already
tracking (which then gets ``CS_ERR_EXIST``).

**Provider hook.** The quorum provider (votequorum) is given
:meth:`QuorumService.set_quorum` as its callback (corosync's
``quorum_set_quorate_fn_t``): ``set_quorum(members, quorate, ring_id)``. With
no provider configured the node is always quorate (``primary_designated = 1``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.wire import CsError, response_header
from totem.ringid import RingId
from totem.service import Service
from totem.srp.events import LogLevel

__all__ = ["QuorateCallback", "QuorumService", "QuorumView", "view_list_lines"]

QUORUM_SERVICE_ID = 3
_VIEW_BUF = 64
CS_TRACK_CURRENT, CS_TRACK_CHANGES, CS_TRACK_CHANGES_ONLY = 1, 2, 4
MODEL_V0, MODEL_V1 = 0, 1
RES_GETQUORATE, RES_TRACKSTART, RES_TRACKSTOP, RES_NOTIFICATION = 0, 1, 2, 3
RES_GETTYPE, RES_MODEL_GETTYPE, RES_V1_QUORUM_NOTIFICATION, RES_V1_NODELIST_NOTIFICATION = (
    4,
    5,
    6,
    7,
)
_U32 = struct.Struct("<I")
_V0_HEAD = struct.Struct("<i4xQI")
_V1_HEAD = struct.Struct("<i4xI4xQI")
_NODELIST_HEAD = struct.Struct("<I4xQI4xI4xI")


@dataclass(slots=True)
class _QuorumPd:
    """``struct quorum_pd``: a libquorum connection's model and tracking."""

    model: int = MODEL_V0
    tracking: bool = False
    track_flags: int = 0


QuorateCallback = Callable[[Sequence[int], bool, RingId], None]
"""``set_quorum(members, quorate, ring_id)``: what a quorum provider calls."""


@dataclass(frozen=True, slots=True)
class QuorumView:
    """The quorum view as the provider last reported it (what quorum clients see)."""

    quorate: bool
    ring_id: RingId
    members: tuple[int, ...]


def view_list_lines(kind: str, nodes: Sequence[int]) -> list[str]:
    """Format ``Members[3]: 1 2 3`` as corosync's ``log_view_list`` does (63-char pieces)."""
    lines: list[str] = []
    total = len(nodes)
    i = 0
    while True:
        buf = ""
        while i < total:
            piece = f" {nodes[i]}"
            if len(buf) + len(piece) >= _VIEW_BUF:
                break
            buf += piece
            i += 1
        more = "\\" if i < total else ""
        lines.append(f"{kind}[{total}]:{buf}{more}")
        if i == total:
            return lines


class QuorumService(Service):
    """vsf_quorum: sync participant, membership logs and the quorate state of the node."""

    service_id = QUORUM_SERVICE_ID
    name = "corosync cluster quorum service v0.1"
    sync_participant = True
    ipc_name = "quorum"

    def __init__(self, provider: str | None = "corosync_votequorum") -> None:
        super().__init__()
        self.provider = provider
        self._primary = provider is None
        self._view: QuorumView | None = None
        self._members: tuple[int, ...] = ()
        self._old_members: tuple[int, ...] = ()
        self._joined: tuple[int, ...] = ()
        self._left: tuple[int, ...] = ()
        self._last_sync_ring: RingId | None = None
        self._events: list[Any] = []
        self._trackers: list[LibConnection] = []

    def attach(self, host: Any) -> None:
        super().attach(host)
        if self.provider is not None:
            self._log(f"Using quorum provider {self.provider}")

    # --- state for tools --------------------------------------------------------------------
    @property
    def quorate(self) -> bool:
        """``primary_designated``: may this node provide service?"""
        return self._primary

    @property
    def view(self) -> QuorumView | None:
        """The provider's last report; None before the first one."""
        return self._view

    @property
    def sync_members(self) -> tuple[int, ...]:
        return self._members

    @property
    def joined(self) -> tuple[int, ...]:
        return self._joined

    @property
    def left(self) -> tuple[int, ...]:
        return self._left

    # --- the provider hook ------------------------------------------------------------------
    def set_quorum(self, members: Sequence[int], quorate: bool, ring_id: RingId) -> None:
        """The quorum provider reports the quorum view (``quorum_api_set_quorum``)."""
        old = self._primary
        self._primary = bool(quorate)
        if self._primary and not old:
            self._log("This node is within the primary component and will provide service.")
        elif not self._primary and old:
            self._log(
                "This node is within the non-primary component and will NOT provide any services."
            )
        self._view = QuorumView(self._primary, ring_id, tuple(members))
        for line in view_list_lines("Members", self._view.members):
            self._log(line)
        self._events.append(self._view)
        for conn in list(self._trackers):
            self._send_quorum_notification(conn)

    # --- sync -------------------------------------------------------------------------------
    def sync_init(
        self,
        trans_members: Sequence[int],
        members: Sequence[int],
        ring_id: RingId,
        now: float,
    ) -> None:
        self._members = tuple(members)
        self._last_sync_ring = ring_id
        trans = set(trans_members)
        member_set = set(self._members)
        left = [n for n in self._old_members if n not in trans or n not in member_set]
        left_set = set(left)
        old_set = set(self._old_members)
        joined = [n for n in self._members if n not in old_set or n in left_set]
        self._left = tuple(left)
        self._joined = tuple(joined)
        for line in view_list_lines("Sync members", self._members):
            self._log(line)
        if joined:
            for line in view_list_lines("Sync joined", self._joined):
                self._log(line)
        if left:
            for line in view_list_lines("Sync left", self._left):
                self._log(line)

    def sync_process(self, now: float) -> bool:
        return True

    def sync_activate(self, now: float) -> None:
        self._old_members = self._members
        for conn in list(self._trackers):
            self._send_nodelist_notification(conn, with_changes=True)

    def events(self) -> list[Any]:
        events, self._events = self._events, []
        return events

    def status(self) -> dict[str, Any]:
        view = self._view
        return {
            "provider": self.provider,
            "quorate": self._primary,
            "ring_id": None if view is None else str(view.ring_id),
            "members": [] if view is None else list(view.members),
        }

    # --- library (libquorum) ----------------------------------------------------------------
    def lib_handlers(self) -> Sequence[LibHandler]:
        return [
            LibHandler(self._lib_getquorate, 16),
            LibHandler(self._lib_trackstart, 24),
            LibHandler(self._lib_trackstop, 16),
            LibHandler(self._lib_gettype, 16),
            LibHandler(self._lib_model_gettype, 24),
        ]

    def lib_init(self, conn: LibConnection) -> None:
        conn.private = _QuorumPd()

    def lib_exit(self, conn: LibConnection) -> None:
        if conn in self._trackers:
            self._trackers.remove(conn)

    @property
    def _quorum_type(self) -> int:
        """1 (``QUORUM_SET``) when a provider is loaded, else 0 (``QUORUM_FREE``)."""
        return 0 if self.provider is None else 1

    def _lib_getquorate(self, conn: LibConnection, data: bytes, now: float) -> None:
        conn.respond(response_header(RES_GETQUORATE, 32) + _U32.pack(int(self._primary)) + bytes(4))

    def _lib_trackstart(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _QuorumPd = conn.private
        (flags,) = _U32.unpack_from(data, 16)
        if flags & (CS_TRACK_CURRENT | CS_TRACK_CHANGES):
            self._send_nodelist_notification(conn, with_changes=False)
            self._send_quorum_notification(conn)
        error = CsError.OK
        if pd.tracking:
            error = CsError.ERR_EXIST
        elif flags & (CS_TRACK_CHANGES | CS_TRACK_CHANGES_ONLY):
            pd.track_flags = flags
            pd.tracking = True
            self._trackers.append(conn)
        conn.respond(response_header(RES_TRACKSTART, 24, error))

    def _lib_trackstop(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _QuorumPd = conn.private
        if pd.tracking:
            pd.tracking = False
            self._trackers.remove(conn)
        # (corosync computes CS_ERR_NOT_EXIST for a client not tracking, then sends CS_OK)
        conn.respond(response_header(RES_TRACKSTOP, 24))

    def _lib_gettype(self, conn: LibConnection, data: bytes, now: float) -> None:
        conn.respond(response_header(RES_GETTYPE, 32) + _U32.pack(self._quorum_type) + bytes(4))

    def _lib_model_gettype(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _QuorumPd = conn.private
        (model,) = _U32.unpack_from(data, 16)
        error = CsError.OK
        if model in (MODEL_V0, MODEL_V1):
            pd.model = model
        else:
            self._log(f"quorum_model_type request for unsupported model {model}", LogLevel.ERROR)
            error = CsError.ERR_INVALID_PARAM
        conn.respond(
            response_header(RES_MODEL_GETTYPE, 32, error) + _U32.pack(self._quorum_type) + bytes(4)
        )

    def _send_quorum_notification(self, conn: LibConnection) -> None:
        """``send_library_notification`` to one client, in its model."""
        view = self._view
        members = view.members if view is not None else ()
        ring = view.ring_id if view is not None else RingId(0, 0)
        body = b"".join(_U32.pack(n) for n in members)
        pd: _QuorumPd = conn.private
        if pd.model == MODEL_V1:
            size = 56 + 4 * len(members)
            head = _V1_HEAD.pack(int(self._primary), ring.rep, ring.seq, len(members))
            header = response_header(RES_V1_QUORUM_NOTIFICATION, size)
            conn.dispatch(header + head + body + bytes(4))
        else:
            size = 48 + 4 * len(members)
            head = _V0_HEAD.pack(int(self._primary), ring.seq, len(members))
            conn.dispatch(response_header(RES_NOTIFICATION, size) + head + body + bytes(4))

    def _send_nodelist_notification(self, conn: LibConnection, *, with_changes: bool) -> None:
        """``send_nodelist_library_notification`` (model V1 clients only)."""
        pd: _QuorumPd = conn.private
        if pd.model != MODEL_V1:
            return
        ring = self._last_sync_ring or RingId(0, 0)
        members = self._members
        joined = self._joined if with_changes else ()
        left = self._left if with_changes else ()
        size = 64 + 4 * (len(members) + len(joined) + len(left))
        head = _NODELIST_HEAD.pack(ring.rep, ring.seq, len(members), len(joined), len(left))
        body = b"".join(_U32.pack(n) for n in (*members, *joined, *left))
        conn.dispatch(response_header(RES_V1_NODELIST_NOTIFICATION, size) + head + body + bytes(4))

    def _log(self, message: str, level: LogLevel = LogLevel.NOTICE) -> None:
        if self.host is not None:
            self.host.log(level, "QUORUM", message)
