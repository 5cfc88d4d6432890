"""votequorum's library side: libvotequorum, as corosync-quorumtool and corosync-qdevice use it.

Requests (``ipc_votequorum.h``; ref libqb-ipc/README.md section 4.3); every answer but
GETINFO's is the 24-byte status (response id 0):

====  ======================  =========================================================
id    request                 fields
====  ======================  =========================================================
0     GETINFO                 ``i32 nodeid``@16 (0: this node) -> id 1, 320 bytes
1     SETEXPECTED             ``u32 expected_votes``@16
2     SETVOTES                ``u32 votes``@16, ``i32 nodeid``@20
3     TRACKSTART              ``u64 context``@16, ``u32 flags``@24
4     TRACKSTOP               --
5     QDEVICE_REGISTER        ``char name[255]``@16 (answered once the cluster saw it)
6     QDEVICE_UNREGISTER      name@16
7     QDEVICE_UPDATE          oldname@16, newname@271
8     QDEVICE_POLL            name@16, ``u32 cast_vote``@272, ring id@280 (nodeid, u64 seq)
9     QDEVICE_MASTER_WINS     name@16, ``u32 allow``@272
====  ======================  =========================================================

Events to tracking clients, each with the client's ``context``: the quorum notification
(id 3: ``quorate``@24, context@32, entries@40, ``{u32 nodeid, u32 state}``@48 for every known
node, then the quorum device as node 0 once registered), the expected-votes notification (id
4: context@24, ``expected_votes``@32; 40 bytes) and the node-list notification (id 5:
context@24, ring id@32, entries@48, node ids@56) sent at every sync. TRACKSTART with CURRENT
or CHANGES first sends the node list then the quorum.

**The quorum device.** corosync-qdevice registers, sets master_wins, tracks and polls
through these calls. When a real corosync-qdevice registers while the node's own qdevice
client (``votequorum.qdevice.agent``) holds the device, the node's client is stopped first
(``handover``): one device per node, and the external daemon wins.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.wire import CsError, response_header
from totem.ringid import RingId
from votequorum.events import (
    ExpectedVotesChanged,
    NodeListNotification,
    QdeviceRegistration,
    QuorumChanged,
    VotequorumError,
    VotequorumEvent,
)
from votequorum.service import VotequorumService
from votequorum.status import InfoFlags

__all__ = ["Handover", "VotequorumLib"]

RES_STATUS, RES_GETINFO = 0, 1
RES_QUORUM_NOTIFICATION, RES_EXPECTEDVOTES_NOTIFICATION, RES_NODELIST_NOTIFICATION = 3, 4, 5
CS_TRACK_CURRENT, CS_TRACK_CHANGES, CS_TRACK_CHANGES_ONLY = 1, 2, 4
NAME_LEN = 255
_NODEID = struct.Struct("<i")
_U32 = struct.Struct("<I")
_SETVOTES = struct.Struct("<Ii")
_TRACKSTART = struct.Struct("<QI")
_GETINFO = struct.Struct("<9I255s5x")
_POLL = struct.Struct("<I4xI4xQ")
_QUORUM_HEAD = struct.Struct("<I4xQI4x")
_NODE = struct.Struct("<II")
_NODELIST_HEAD = struct.Struct("<QI4xQI4x")
_EXPECTED = struct.Struct("<QI4x")
_STATE_MEMBER, _STATE_DEAD = 1, 2

Handover = Callable[[Callable[[], None]], bool]
"""``handover(then)``: if the node's own qdevice client holds the device, stop it and call
``then`` once it is gone (returns True); else return False at once."""


def _name(data: bytes, offset: int) -> str:
    return data[offset : offset + NAME_LEN].split(b"\0", 1)[0].decode(errors="replace")


@dataclass(slots=True)
class _QuorumPd:
    """``struct quorum_pd``: tracking state of one libvotequorum connection."""

    tracking: bool = False
    context: int = 0
    flags: int = 0


class VotequorumLib:
    """The library handlers over one :class:`VotequorumService`."""

    def __init__(self, service: VotequorumService) -> None:
        self.service = service
        self.handover: Handover | None = None
        self._trackers: list[LibConnection] = []
        self._registering: LibConnection | None = None
        service.add_observer(self._on_event)

    def handlers(self) -> list[LibHandler]:
        return [
            LibHandler(self._getinfo, 20),
            LibHandler(self._setexpected, 20),
            LibHandler(self._setvotes, 24),
            LibHandler(self._trackstart, 28),
            LibHandler(self._trackstop, 16),
            LibHandler(self._qdevice_register, 16 + NAME_LEN),
            LibHandler(self._qdevice_unregister, 16 + NAME_LEN),
            LibHandler(self._qdevice_update, 16 + 2 * NAME_LEN),
            LibHandler(self._qdevice_poll, 296),
            LibHandler(self._qdevice_master_wins, 276),
        ]

    def lib_init(self, conn: LibConnection) -> None:
        conn.private = _QuorumPd()

    def lib_exit(self, conn: LibConnection) -> None:
        if conn in self._trackers:
            self._trackers.remove(conn)
        if self._registering is conn:
            self._registering = None

    # --- requests -----------------------------------------------------------------------------
    @staticmethod
    def _status(conn: LibConnection, error: CsError = CsError.OK) -> None:
        conn.respond(response_header(RES_STATUS, 24, error))

    @staticmethod
    def _error(err: VotequorumError) -> CsError:
        try:
            return CsError.by_name(err.cs_error or "CS_ERR_INVALID_PARAM")
        except KeyError:
            return CsError.ERR_INVALID_PARAM

    def _getinfo(self, conn: LibConnection, data: bytes, now: float) -> None:
        (nodeid,) = _NODEID.unpack_from(data, 16)
        service = self.service
        info = service.getinfo(nodeid & 0xFFFFFFFF)
        if info is None:
            conn.respond(response_header(RES_GETINFO, 320, CsError.ERR_NOT_EXIST) + bytes(296))
            return
        snap = service.snapshot()
        conn.respond(
            response_header(RES_GETINFO, 320)
            + _GETINFO.pack(
                info.node_id,
                int(info.state),
                info.votes,
                info.expected_votes,
                info.highest_expected,
                info.total_votes,
                service.quorum,
                int(info.flags),
                snap.qdevice_votes,
                snap.qdevice_name.encode()[: NAME_LEN - 1],
            )
        )

    def _call(self, conn: LibConnection, call: Callable[[], None]) -> None:
        try:
            call()
        except VotequorumError as err:
            self._status(conn, self._error(err))
            return
        self._status(conn)

    def _setexpected(self, conn: LibConnection, data: bytes, now: float) -> None:
        (expected,) = _U32.unpack_from(data, 16)
        self._call(conn, lambda: self.service.set_expected_votes(expected))

    def _setvotes(self, conn: LibConnection, data: bytes, now: float) -> None:
        votes, nodeid = _SETVOTES.unpack_from(data, 16)
        self._call(conn, lambda: self.service.set_votes(nodeid & 0xFFFFFFFF, votes))

    def _trackstart(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _QuorumPd = conn.private
        context, flags = _TRACKSTART.unpack_from(data, 16)
        if flags & (CS_TRACK_CURRENT | CS_TRACK_CHANGES):
            self._send_nodelist(conn, context, self.service.nodelist_notification())
            self._send_quorum(conn, context)
        if pd.tracking:
            self._status(conn, CsError.ERR_EXIST)
            return
        if flags & (CS_TRACK_CHANGES | CS_TRACK_CHANGES_ONLY):
            pd.tracking, pd.context, pd.flags = True, context, flags
            self._trackers.append(conn)
        self._status(conn)

    def _trackstop(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _QuorumPd = conn.private
        if not pd.tracking:
            self._status(conn, CsError.ERR_NOT_EXIST)
            return
        pd.tracking = False
        self._trackers.remove(conn)
        self._status(conn)

    def _qdevice_register(self, conn: LibConnection, data: bytes, now: float) -> None:
        name = _name(data, 16)

        def register() -> None:
            if conn.closed:
                return
            if self._registering is not None:
                self._status(conn, CsError.ERR_TRY_AGAIN)
                return
            self._registering = conn
            try:
                self.service.qdevice_register(name)
            except VotequorumError as err:
                self._registering = None
                self._status(conn, self._error(err))
            # else: answered by the QdeviceRegistration event (maybe already, synchronously)

        if self.handover is not None and self.handover(register):
            return
        register()

    def _qdevice_unregister(self, conn: LibConnection, data: bytes, now: float) -> None:
        name = _name(data, 16)
        self._call(conn, lambda: self.service.qdevice_unregister(name))

    def _qdevice_update(self, conn: LibConnection, data: bytes, now: float) -> None:
        old, new = _name(data, 16), _name(data, 16 + NAME_LEN)
        self._call(conn, lambda: self.service.qdevice_update(old, new))

    def _qdevice_poll(self, conn: LibConnection, data: bytes, now: float) -> None:
        name = _name(data, 16)
        cast_vote, rep, seq = _POLL.unpack_from(data, 272)
        ring = RingId(rep, seq)
        self._call(conn, lambda: self.service.qdevice_poll(name, bool(cast_vote), ring, now))

    def _qdevice_master_wins(self, conn: LibConnection, data: bytes, now: float) -> None:
        name = _name(data, 16)
        (allow,) = _U32.unpack_from(data, 272)
        self._call(conn, lambda: self.service.qdevice_master_wins(name, bool(allow)))

    # --- events -------------------------------------------------------------------------------
    def _on_event(self, event: VotequorumEvent) -> None:
        if isinstance(event, QdeviceRegistration):
            conn, self._registering = self._registering, None
            if conn is not None and not conn.closed:
                error = CsError.OK if event.error is None else CsError.by_name(event.error)
                self._status(conn, error)
        elif isinstance(event, QuorumChanged):
            for conn in list(self._trackers):
                self._send_quorum(conn, conn.private.context)
        elif isinstance(event, NodeListNotification):
            for conn in list(self._trackers):
                self._send_nodelist(conn, conn.private.context, event)
        elif isinstance(event, ExpectedVotesChanged):
            for conn in list(self._trackers):
                conn.dispatch(
                    response_header(RES_EXPECTEDVOTES_NOTIFICATION, 40)
                    + _EXPECTED.pack(conn.private.context, event.expected_votes)
                )

    def _send_quorum(self, conn: LibConnection, context: int) -> None:
        """``votequorum_exec_send_quorum_notification``: every known node and its state."""
        service = self.service
        snap = service.snapshot()
        nodes = [(n.node_id, int(n.state)) for n in snap.nodes]
        if snap.flags & InfoFlags.QDEVICE_REGISTERED:
            alive = bool(snap.flags & InfoFlags.QDEVICE_ALIVE)
            nodes.append((0, _STATE_MEMBER if alive else _STATE_DEAD))
        size = 48 + 8 * len(nodes)
        conn.dispatch(
            response_header(RES_QUORUM_NOTIFICATION, size)
            + _QUORUM_HEAD.pack(int(service.quorate), context, len(nodes))
            + b"".join(_NODE.pack(nodeid, state) for nodeid, state in nodes)
        )

    @staticmethod
    def _send_nodelist(conn: LibConnection, context: int, event: NodeListNotification) -> None:
        members = event.members
        size = 56 + 4 * len(members)
        conn.dispatch(
            response_header(RES_NODELIST_NOTIFICATION, size)
            + _NODELIST_HEAD.pack(context, event.ring_id.rep, event.ring_id.seq, len(members))
            + b"".join(_U32.pack(n) for n in members)
        )
