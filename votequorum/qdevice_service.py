"""The quorum device's side of the votequorum service (ref totem-wire.md 10.3-11.3;
corosync ``exec/votequorum.c``'s qdevice functions).

A node's quorum device (corosync-qdevice, or our qdevice-net client) registers with its
own votequorum (``votequorum_qdevice_register``), then polls it every ``timeout`` saying
whether it casts its vote for the current ring; votequorum turns that into the
QDEVICE_ALIVE / QDEVICE_CAST_VOTE flags of the node's NODEINFO. Registration goes round
the ring as QDEVICE_REG so every node records the one device name the cluster may use;
QDEVICE_RECONFIGURE renames it. :class:`QdeviceCalls` is that part of
:class:`~votequorum.service.VotequorumService`: the libvotequorum ``qdevice_*`` calls
and the two exec messages; :class:`_Votequorum` is what it uses of the rest.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from totem.ringid import RingId
from totem.srp.events import LogLevel
from votequorum import checks
from votequorum.calc import NodeState, NodeVotes, QuorumOptions
from votequorum.events import QdeviceRegistration, VotequorumError, VotequorumEvent
from votequorum.settings import ResolvedSettings
from votequorum.wire import (
    QDEVICE_NODEID,
    NodeFlags,
    QdeviceOperation,
    QdeviceReconfigure,
    QdeviceReg,
    VotequorumMessage,
)

__all__ = ["QDEVICE_FLAGS", "QdeviceCalls"]

QDEVICE_FLAGS = (
    NodeFlags.QDEVICE_REGISTERED
    | NodeFlags.QDEVICE_ALIVE
    | NodeFlags.QDEVICE_CAST_VOTE
    | NodeFlags.QDEVICE_MASTER_WINS
)
"""The flags a node's quorum device sets by its polls (the rest follow the ring)."""


class _Votequorum(Protocol):
    """The votequorum service as its quorum device part uses it."""

    _us: int
    _nodes: dict[int, NodeVotes]
    _cfg: ResolvedSettings | None
    _quorum_ring: RingId
    _written: set[str]
    _qdevice_can_operate: bool
    _qdevice_name: str
    _qdevice_reg_pending: str | None
    _qdevice_deadline: float | None
    _sync_wait_for_poll: bool
    _options: QuorumOptions

    @property
    def _me(self) -> NodeVotes: ...
    def _set_my_flags(self, flags: int) -> None: ...
    def _send_nodeinfo(self, node_id: int) -> None: ...
    def _send(self, msg: VotequorumMessage) -> None: ...
    def _emit(self, event: VotequorumEvent) -> None: ...
    def _publish_runtime_keys(self) -> None: ...
    def _log(self, level: LogLevel, message: str) -> None: ...
    def _check_qdevice_call(
        self, action: str, name: str, *, operate: bool = True, ring_id: RingId | None = None
    ) -> None: ...


class QdeviceCalls:
    """The quorum device calls and messages of :class:`~votequorum.service.VotequorumService`."""

    _qdevice_name: str
    """The device name the cluster agreed on ("" while none is registered)."""
    _qdevice_reg_pending: str | None
    """The name of this node's registration on its way round the ring."""
    _qdevice_deadline: float | None
    """The poll timeout: the device is lost if it does not poll by then."""
    _sync_wait_for_poll: bool
    _options: QuorumOptions

    def qdevice_register(self: _Votequorum, name: str) -> None:
        """Register this node's quorum device; the answer is a :class:`QdeviceRegistration`."""
        if not self._qdevice_can_operate:
            self._log(
                LogLevel.INFO,
                "Registration of quorum device is disabled by incorrect corosync.conf. "
                "See logs for more information",
            )
            raise VotequorumError(
                "Unable to register quorum device: CS_ERR_ACCESS", "CS_ERR_ACCESS"
            )
        if self._me.flags & NodeFlags.QDEVICE_REGISTERED:
            if name == self._qdevice_name:
                self._emit(QdeviceRegistration(name, None))
                return
            self._log(
                LogLevel.WARNING,
                f"A new qdevice with different name (new: {name} old: {self._qdevice_name}) "
                "is trying to re-register!",
            )
            raise VotequorumError("Unable to register quorum device: CS_ERR_EXIST", "CS_ERR_EXIST")
        if self._qdevice_reg_pending is not None:
            self._log(LogLevel.WARNING, "Registration request already in progress")
            raise VotequorumError(
                "Unable to register quorum device: CS_ERR_TRY_AGAIN", "CS_ERR_TRY_AGAIN"
            )
        self._qdevice_reg_pending = name
        self._send(QdeviceReg(QdeviceOperation.REGISTER, name))

    def qdevice_unregister(self: _Votequorum, name: str) -> None:
        """``corosync-quorumtool -f`` / qdevice shutdown."""
        self._check_qdevice_call("unregister quorum device", name, operate=False)
        self._qdevice_deadline = None
        self._sync_wait_for_poll = False
        self._set_my_flags(self._me.flags & ~QDEVICE_FLAGS)
        self._send_nodeinfo(self._us)
        self._send(QdeviceReg(QdeviceOperation.UNREGISTER, name))

    def qdevice_update(self: _Votequorum, oldname: str, newname: str) -> None:
        """Rename the registered quorum device cluster-wide."""
        self._check_qdevice_call("update quorum device", oldname, operate=False)
        self._send(QdeviceReconfigure(oldname, newname))

    def qdevice_poll(
        self: _Votequorum, name: str, cast_vote: bool, ring_id: RingId, now: float
    ) -> None:
        """The device is alive and (does not) cast its vote for ``ring_id``."""
        self._check_qdevice_call("poll quorum device", name, ring_id=ring_id)
        old = self._me.flags
        flags = old | NodeFlags.QDEVICE_ALIVE
        if cast_vote:
            flags |= NodeFlags.QDEVICE_CAST_VOTE
        else:
            flags &= ~NodeFlags.QDEVICE_CAST_VOTE
        self._set_my_flags(flags)
        if flags != old:
            self._send_nodeinfo(self._us)
        assert self._cfg is not None
        self._qdevice_deadline = now + self._cfg.qdevice_timeout_ms / 1000.0
        self._sync_wait_for_poll = False

    def qdevice_master_wins(self: _Votequorum, name: str, allow: bool) -> None:
        """The device's algorithm lets the partition holding the "master" win."""
        self._check_qdevice_call("set qdevice master wins", name)
        old = self._me.flags
        flags = (
            old | NodeFlags.QDEVICE_MASTER_WINS if allow else old & ~NodeFlags.QDEVICE_MASTER_WINS
        )
        self._set_my_flags(flags)
        if flags != old:
            self._send_nodeinfo(self._us)
        self._options = replace(self._options, qdevice_master_wins=allow)
        self._written.add("qdevice_master_wins")
        self._publish_runtime_keys()

    def _check_qdevice_call(
        self: _Votequorum,
        action: str,
        name: str,
        *,
        operate: bool = True,
        ring_id: RingId | None = None,
    ) -> None:
        """:func:`votequorum.checks.qdevice_call` with this node's device state."""
        registered = bool(self._me.flags & NodeFlags.QDEVICE_REGISTERED)
        can_operate = self._qdevice_can_operate or not operate
        ring_matches = ring_id is None or ring_id == self._quorum_ring
        if can_operate and registered and not ring_matches:
            self._log(
                LogLevel.DEBUG,
                f"Received poll ring id ({ring_id}) != last sync ring id "
                f"({self._quorum_ring}). Ignoring poll call.",
            )
        checks.qdevice_call(
            action,
            name,
            can_operate=can_operate,
            registered=registered,
            ring_matches=ring_matches,
            qdevice_name=self._qdevice_name,
        )

    def _on_qdevice_reg(self: _Votequorum, sender: int, msg: QdeviceReg) -> None:
        self._log(
            LogLevel.DEBUG,
            f"Received qdevice op {int(msg.operation)} req from node {sender} [{msg.name}]",
        )
        if msg.operation is QdeviceOperation.REGISTER:
            if sender != self._us:
                if not self._qdevice_name:
                    self._log(LogLevel.DEBUG, "Remote qdevice name recorded")
                    self._qdevice_name = msg.name
                return
            if self._me.flags & NodeFlags.QDEVICE_REGISTERED:
                return
            if self._qdevice_reg_pending is None:
                self._log(
                    LogLevel.WARNING, "Unable to determine origin of the qdevice register call!"
                )
                return
            if not self._qdevice_name:
                self._qdevice_name = msg.name
            error: str | None = None
            if msg.name == self._qdevice_name:
                self._set_my_flags(self._me.flags | NodeFlags.QDEVICE_REGISTERED)
                self._send_nodeinfo(QDEVICE_NODEID)
                self._send_nodeinfo(self._us)
            else:
                self._log(
                    LogLevel.WARNING,
                    f"A new qdevice with different name (new: {msg.name} old: "
                    f"{self._qdevice_name}) is trying to register!",
                )
                error = "CS_ERR_EXIST"
            self._emit(QdeviceRegistration(msg.name, error))
            self._qdevice_reg_pending = None
        else:
            still_registered = any(
                n.state is NodeState.MEMBER and n.flags & NodeFlags.QDEVICE_REGISTERED
                for n in self._nodes.values()
            )
            if not still_registered:
                self._qdevice_name = ""

    def _on_qdevice_reconfigure(self: _Votequorum, sender: int, msg: QdeviceReconfigure) -> None:
        self._log(
            LogLevel.DEBUG,
            f"Received qdevice name change req from node {sender} "
            f"[from: {msg.oldname} to: {msg.newname}]",
        )
        if msg.oldname == self._qdevice_name:
            self._log(LogLevel.DEBUG, "Allowing qdevice rename")
            self._qdevice_name = msg.newname
