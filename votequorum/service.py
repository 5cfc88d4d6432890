"""The votequorum service engine (id 5), sans-IO (ref totem-wire.md sections 10.3-11.3).

:class:`VotequorumService` is corosync's ``exec/votequorum.c`` as a
:class:`~totem.service.Service`: four exec functions (NODEINFO, RECONFIGURE,
QDEVICE_REG, QDEVICE_RECONFIGURE), a sync participant, two timers (the
last_man_standing window and the quorum device's poll timeout) exposed through
``next_deadline()``, and the library calls of ``libvotequorum`` as methods
(``set_expected_votes``, ``set_votes``, ``qdevice_*``). The arithmetic is
:mod:`votequorum.calc`; configuration is :mod:`votequorum.settings`; the quorum device's
calls and messages are :mod:`votequorum.qdevice_service`.

Life of a node:

* ``attach`` (``votequorum_exec_init_fn``): resolve the configuration (raises
  :class:`~votequorum.settings.VotequorumConfigError` like corosync refuses to
  start), start as the only MEMBER with the FIRST flag, compute quorum and queue
  NODEINFO(self); it goes out in the node's first, singleton ring.
* ``sync_init``: members of the previous quorum view that are not in the new
  one become DEAD; FIRST is cleared once the ring has more than one member;
  last_man_standing's window (re)starts if nodes left while we kept quorum.
* ``sync_process``: NODEINFO(self), then NODEINFO(0) for the quorum device and a
  QDEVICE_REG when a device name is known -- always after our own NODEINFO in
  our send order, so every receiver knows us before it sees our device (a real
  node asserts otherwise). While a registered, alive device has not polled with
  the new ring id (at most ``sync_timeout``), it reports "not done".
* ``sync_activate``: recompute and report the quorum view to the quorum
  service (:meth:`totem.services.quorum.QuorumService.set_quorum`) and emit
  :class:`QuorumChanged`.
* ``refresh_config`` (a configuration reload, ``votequorum_refresh_config``): re-read what
  votequorum re-reads at run time (:mod:`votequorum.refresh`), then send NODEINFO and,
  for what changed, RECONFIGURE (node votes, expected votes) so every node recalculates.

Quorum changes outside sync (NODEINFO, RECONFIGURE, timers, qdevice polls) are
reported at once. One deliberate difference from corosync: our own NODEINFO, when it comes
back, never overwrites our flags (a stale copy would resurrect a withdrawn qdevice vote; see
``_on_nodeinfo``). Malformed messages are dropped and counted in ``counters``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from totem.ringid import RingId
from totem.service import Service, ServiceHost
from totem.services.cmap.store import ValueType
from totem.srp.events import LogLevel
from votequorum import calc, checks
from votequorum.calc import NodeState, NodeVotes, QuorumOptions, QuorumState
from votequorum.events import (
    EvTrackingBarrierChanged,
    ExpectedVotesChanged,
    NodeListNotification,
    QuorumChanged,
    VotequorumEvent,
)
from votequorum.qdevice_service import QDEVICE_FLAGS, QdeviceCalls
from votequorum.settings import ResolvedSettings, VotequorumSettings, resolve_settings
from votequorum.status import NodeStatus, VotequorumStatus, node_status, status_dict
from votequorum.wire import (
    QDEVICE_NODEID,
    VOTEQUORUM_SERVICE_ID,
    ExecFn,
    MalformedMessage,
    NodeFlags,
    NodeInfo,
    QdeviceOperation,
    QdeviceReg,
    ReconfigParam,
    Reconfigure,
    VotequorumMessage,
    decode_body,
    encode_body,
)

__all__ = ["VotequorumService"]

QuorumCallback = Callable[[Sequence[int], bool, RingId], None]
_ZERO_RING = RingId(0, 0)


class VotequorumService(QdeviceCalls, Service):
    """votequorum for one node. ``quorum_callback`` is the quorum service's ``set_quorum``."""

    service_id = VOTEQUORUM_SERVICE_ID
    name = "corosync vote quorum service v1.0"
    sync_participant = True

    def __init__(
        self,
        settings: VotequorumSettings,
        quorum_callback: QuorumCallback | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        """The configuration read last (at start-up, or by the latest reload)."""
        self._startup_settings = settings
        self._callback = quorum_callback
        self._cfg: ResolvedSettings | None = None
        self._us = 0
        self._nodes: dict[int, NodeVotes] = {}
        self._qdevice_votes = 0
        self._qdevice_state = NodeState.DEAD
        self._qdevice_name = ""
        self._qdevice_reg_pending: str | None = None
        self._qdevice_can_operate = True
        self._options = QuorumOptions()
        self._quorum = 0
        self._quorate = False
        self._wfa_status = False
        self._ev_barrier = 0
        self._ev_tracking_barrier = 0
        self._written: set[str] = set()
        """``runtime.votequorum.*`` keys written only once corosync first writes them."""
        self._lowest = -1
        self._highest = -1
        self._quorum_members: tuple[int, ...] = ()
        self._previous_members: tuple[int, ...] = ()
        self._quorum_ring = _ZERO_RING
        self._sync_in_progress = False
        self._sync_nodeinfo_sent = False
        self._sync_wait_for_poll = False
        self._lms_deadline: float | None = None
        self._qdevice_deadline: float | None = None
        self._view: tuple[tuple[int, ...], bool, RingId] = ((), False, _ZERO_RING)
        self._events: list[VotequorumEvent] = []
        self._observers: list[Callable[[VotequorumEvent], None]] = []
        self._icmap: Any = None
        self.counters: dict[str, int] = {
            "malformed": 0,
            "qdevice_nodeinfo_unknown_sender": 0,
            "nodeinfo": 0,
            "reconfigure": 0,
            "qdevice_reg": 0,
            "qdevice_reconfigure": 0,
            "stale_own_nodeinfo": 0,
        }

    # ==== start-up ===========================================================================
    def attach(self, host: ServiceHost) -> None:
        super().attach(host)
        self._us = host.node_id
        cfg = resolve_settings(self.settings, self._us)
        self._cfg = cfg
        for level, message in cfg.warnings:
            self._log(LogLevel.WARNING if level == "WARNING" else LogLevel.ERROR, message)
        self._options = QuorumOptions(
            two_node=cfg.two_node,
            wait_for_all=cfg.wait_for_all,
            last_man_standing=cfg.last_man_standing,
            auto_tie_breaker=cfg.auto_tie_breaker,
            allow_downscale=cfg.allow_downscale,
            ev_tracking=cfg.ev_tracking,
        )
        self._qdevice_can_operate = cfg.qdevice_can_operate
        self._qdevice_votes = cfg.qdevice_votes
        startup = (
            ("atb_type", self._startup_settings.auto_tie_breaker),
            ("qdevice_can_operate", cfg.have_qdevice),
            ("ev_tracking_barrier", cfg.ev_tracking),
        )
        self._written = {key for key, configured in startup if configured}
        self._ev_tracking_barrier = cfg.ev_tracking_barrier
        flags = NodeFlags.FIRST
        if cfg.wait_for_all:
            self._wfa_status = True
            flags |= NodeFlags.WFASTATUS
        self._nodes = {
            self._us: NodeVotes(self._us, cfg.votes, cfg.expected_votes, NodeState.MEMBER, flags)
        }
        self._ev_barrier = cfg.expected_votes
        self._recalculate(allow_decrease=False, by_current_nodes=False)
        self._send_nodeinfo(self._us)

    @property
    def node_id(self) -> int:
        return self._us

    @property
    def exec_function_count(self) -> int:
        return len(ExecFn)

    @property
    def quorate(self) -> bool:
        """``cluster_is_quorate``: votequorum's own decision (see also the reported view)."""
        return self._quorate

    @property
    def quorum(self) -> int:
        return self._quorum

    @property
    def expected_votes(self) -> int:
        return self._me.expected_votes

    @property
    def qdevice_name(self) -> str:
        return self._qdevice_name

    def nodelist_notification(self) -> NodeListNotification:
        """The current ring and members, as a tracker starting now is first told."""
        return NodeListNotification(self._quorum_ring, self._quorum_members)

    @property
    def _me(self) -> NodeVotes:
        return self._nodes[self._us]

    # ==== exec messages ======================================================================
    def exec_deliver(self, sender: int, fn_id: int, body: bytes, now: float) -> None:
        try:
            msg = decode_body(fn_id, body)
        except MalformedMessage as exc:
            self.counters["malformed"] += 1
            self._log(LogLevel.DEBUG, f"dropping malformed message from node {sender}: {exc}")
            return
        if isinstance(msg, NodeInfo):
            self.counters["nodeinfo"] += 1
            self._on_nodeinfo(sender, msg)
        elif isinstance(msg, Reconfigure):
            self.counters["reconfigure"] += 1
            self._on_reconfigure(sender, msg)
        elif isinstance(msg, QdeviceReg):
            self.counters["qdevice_reg"] += 1
            self._on_qdevice_reg(sender, msg)
        else:
            self.counters["qdevice_reconfigure"] += 1
            self._on_qdevice_reconfigure(sender, msg)

    def _on_nodeinfo(self, sender: int, msg: NodeInfo) -> None:
        self._log(
            LogLevel.DEBUG,
            f"got nodeinfo message from cluster node {sender}",
        )
        self._log(
            LogLevel.DEBUG,
            f"nodeinfo message[{msg.nodeid}]: votes: {msg.votes}, "
            f"expected: {msg.expected_votes} flags: {msg.flags}",
        )
        if msg.nodeid == QDEVICE_NODEID:
            sender_node = self._nodes.get(sender)
            if sender_node is None:
                # corosync asserts here; a correct peer sends its own NODEINFO first.
                self.counters["qdevice_nodeinfo_unknown_sender"] += 1
                return
            old = self._qdevice_votes
            if not self._quorate and sender_node.flags & NodeFlags.QUORATE:
                self._qdevice_votes = msg.votes
            else:
                self._qdevice_votes = max(self._qdevice_votes, msg.votes)
            if old != self._qdevice_votes:
                self._recalculate(allow_decrease=False, by_current_nodes=False)
            return
        old_node = self._nodes.get(msg.nodeid)
        new_node = old_node is None
        flags = msg.flags
        if msg.nodeid == self._us and flags != self._me.flags:
            # Our own NODEINFO is an echo of local state, and it can be stale: one sent while
            # the token was lost waits in totemsrp's pre-change queue until the next ring has
            # finished sync, then arrives after a newer poll (say a qnetd NACK). corosync 3.1.7
            # copies it over us->flags and so counts a withdrawn qdevice vote again until the
            # next poll; the simulator found both halves of a split quorate that way. The local
            # flags are the truth: keep them. Every other node has just copied the stale ones,
            # in the same total order, and we send our device flags only when a poll changes
            # them: a vote the device gave us could stay uncounted there until its
            # sync_timeout (30 s). When the device flags differ, send ours again now, so that
            # every node ends with them.
            self.counters["stale_own_nodeinfo"] += 1
            if (flags ^ self._me.flags) & QDEVICE_FLAGS:
                self._send_nodeinfo(self._us)
            flags = self._me.flags
        state = NodeState.MEMBER
        allow_decrease = False
        by_node = False
        if flags & NodeFlags.LEAVING:
            state = NodeState.LEAVING
            allow_decrease = True
            by_node = True
        if not self._quorate and flags & NodeFlags.QUORATE:
            allow_decrease = True
            self._nodes[self._us] = replace(self._me, expected_votes=msg.expected_votes)
        if flags & NodeFlags.QUORATE or self._options.ev_tracking:
            expected = msg.expected_votes
        else:
            expected = self._me.expected_votes
        node = NodeVotes(msg.nodeid, msg.votes, expected, state, flags)
        self._nodes[msg.nodeid] = node
        if self._options.last_man_standing and node.votes > 1:
            self._log(
                LogLevel.WARNING,
                "Last Man Standing feature is supported only when all"
                "cluster nodes votes are set to 1. Disabling LMS.",
            )
            self._options = replace(self._options, last_man_standing=False)
            self._lms_deadline = None
        if (
            new_node
            or msg.nodeid == self._us
            or flags & NodeFlags.FIRST
            or old_node is None
            or (old_node.votes, old_node.expected_votes, old_node.flags, old_node.state)
            != (node.votes, node.expected_votes, node.flags, node.state)
        ):
            self._recalculate(allow_decrease=allow_decrease, by_current_nodes=by_node)
        if (
            self._options.wait_for_all
            and not flags & NodeFlags.WFASTATUS
            and flags & NodeFlags.QUORATE
        ):
            self._set_wfa_status(False)

    def _on_reconfigure(self, sender: int, msg: Reconfigure) -> None:
        self._log(
            LogLevel.DEBUG,
            f"got reconfigure message from cluster node {sender} for {msg.nodeid}",
        )
        if msg.param is ReconfigParam.EXPECTED_VOTES:
            self._update_node_expected_votes(msg.value)
            self._emit(ExpectedVotesChanged(self._me.expected_votes))
            self._ev_barrier = msg.value
            if self._options.ev_tracking:
                expected = max(self._me.expected_votes, self._ev_tracking_barrier)
                self._nodes[self._us] = replace(self._me, expected_votes=expected)
            self._recalculate(allow_decrease=True, by_current_nodes=False)
        elif msg.param is ReconfigParam.NODE_VOTES:
            if msg.nodeid == QDEVICE_NODEID:
                self._qdevice_votes = msg.value
            elif msg.nodeid in self._nodes:
                self._nodes[msg.nodeid] = replace(self._nodes[msg.nodeid], votes=msg.value)
            else:
                return
            self._recalculate(allow_decrease=True, by_current_nodes=False)
        else:
            self._set_wfa_status(False)
            self._log(LogLevel.INFO, f"wait_for_all_status reset by user on node {msg.nodeid}.")
            self._recalculate(allow_decrease=False, by_current_nodes=False)

    # ==== sync ===============================================================================
    def sync_init(
        self,
        trans_members: Sequence[int],
        members: Sequence[int],
        ring_id: RingId,
        now: float,
    ) -> None:
        self._sync_in_progress = True
        self._sync_nodeinfo_sent = False
        self._sync_wait_for_poll = False
        if len(members) > 1:
            self._set_my_flags(self._me.flags & ~NodeFlags.FIRST)
        member_set = set(members)
        left = False
        for nodeid in self._quorum_members:
            if nodeid not in member_set:
                left = True
                node = self._nodes.get(nodeid)
                if node is not None:
                    self._nodes[nodeid] = replace(node, state=NodeState.DEAD)
        if self._options.last_man_standing and calc.lms_timer_should_start(
            member_count=len(members),
            quorum=self._quorum,
            nodes_left=left,
            atb=self._options.auto_tie_breaker,
            lowest_node_in_partition=any(
                n.state is NodeState.MEMBER and n.node_id == self._lowest
                for n in self._nodes.values()
            ),
        ):
            assert self._cfg is not None
            self._lms_deadline = now + self._cfg.last_man_standing_window_ms / 1000.0
        self._previous_members = self._quorum_members
        self._quorum_members = tuple(members)
        self._quorum_ring = ring_id
        flags = self._me.flags
        if flags & NodeFlags.QDEVICE_REGISTERED and flags & NodeFlags.QDEVICE_ALIVE:
            assert self._cfg is not None
            self._qdevice_deadline = now + self._cfg.qdevice_sync_timeout_ms / 1000.0
            self._sync_wait_for_poll = True
            self._log(
                LogLevel.INFO,
                f"waiting for quorum device {self._qdevice_name} poll "
                f"(but maximum for {self._cfg.qdevice_sync_timeout_ms} ms)",
            )

    def sync_process(self, now: float) -> bool:
        if not self._sync_nodeinfo_sent:
            self._send_nodeinfo(self._us)
            self._send_nodeinfo(QDEVICE_NODEID)
            if self._qdevice_name:
                self._send(QdeviceReg(QdeviceOperation.REGISTER, self._qdevice_name))
            self._emit(self.nodelist_notification())
            self._sync_nodeinfo_sent = True
        return not (self._me.flags & NodeFlags.QDEVICE_REGISTERED and self._sync_wait_for_poll)

    def sync_activate(self, now: float) -> None:
        self._recalculate(allow_decrease=False, by_current_nodes=False)
        self._report()
        self._sync_in_progress = False

    def sync_abort(self) -> None:
        """Nothing to undo, as in corosync (the next sync starts afresh)."""

    # ==== configuration reload ================================================================
    def refresh_config(self, settings: VotequorumSettings) -> None:
        """A reload re-read corosync.conf (``votequorum_refresh_config``).

        Apply :func:`votequorum.refresh.read_runtime_config`, then send NODEINFO for us
        and for the quorum device, and RECONFIGURE for our votes and our expected votes
        if they changed: every node (this one included) recalculates when they arrive.
        A change to a key read only at start-up is logged and has no effect.
        """
        from votequorum import refresh  # loaded by the first reload, not at every start

        if self._cfg is None:  # not attached yet: attach reads ``settings``
            self.settings = self._startup_settings = settings
            return
        for key in refresh.read_only_changes(self._startup_settings, settings):
            self._log(
                LogLevel.NOTICE,
                f"Modified entry '{key}' in corosync.conf cannot be changed at run-time",
            )
        self.settings = settings
        me = self._me
        old_votes, old_expected = me.votes, me.expected_votes
        self._log(LogLevel.DEBUG, "Reading configuration (runtime: 1)")
        opts = self._options
        read = refresh.read_runtime_config(
            settings,
            node_id=self._us,
            startup=self._startup_settings,
            wait_for_all=opts.wait_for_all,
            last_man_standing=opts.last_man_standing,
            allow_downscale=opts.allow_downscale,
            ev_tracking=opts.ev_tracking,
            ev_tracking_barrier=self._ev_tracking_barrier,
            qdevice_registered=bool(me.flags & NodeFlags.QDEVICE_REGISTERED),
        )
        for level, message in read.log:
            self._log(LogLevel.ERROR if level == refresh.CRIT else LogLevel.DEBUG, message)
        self._written.add("atb_type")  # votequorum_readconfig(runtime) always writes it
        self._options = replace(
            opts,
            two_node=read.two_node,
            wait_for_all=read.wait_for_all,
            auto_tie_breaker=read.auto_tie_breaker,
        )
        self._publish_runtime_keys()
        if read.qdevice_can_operate is not None:
            self._qdevice_can_operate = read.qdevice_can_operate
        if read.qdevice_timeout_ms is not None and read.qdevice_sync_timeout_ms is not None:
            self._cfg = replace(
                self._cfg,
                qdevice_timeout_ms=read.qdevice_timeout_ms,
                qdevice_sync_timeout_ms=read.qdevice_sync_timeout_ms,
            )
        if read.votes is not None:
            expected = me.expected_votes if read.expected_votes is None else read.expected_votes
            self._nodes[self._us] = replace(me, votes=read.votes, expected_votes=expected)
            if read.qdevice_votes is not None:
                self._qdevice_votes = read.qdevice_votes
            self._ev_barrier = expected
            if read.clear_wait_for_all_status and self._wfa_status:
                self._set_wfa_status(False)
        self._send_nodeinfo(self._us)
        self._send_nodeinfo(QDEVICE_NODEID)
        me = self._me
        if me.votes != old_votes:
            self._send(Reconfigure(self._us, me.votes, ReconfigParam.NODE_VOTES))
        if me.expected_votes != old_expected:
            self._send(Reconfigure(self._us, me.expected_votes, ReconfigParam.EXPECTED_VOTES))

    # ==== timers =============================================================================
    def next_deadline(self) -> float | None:
        lms, qdevice = self._lms_deadline, self._qdevice_deadline
        if lms is None or (qdevice is not None and qdevice < lms):
            return qdevice
        return lms

    def on_deadline(self, now: float) -> None:
        if self._lms_deadline is not None and now >= self._lms_deadline:
            self._lms_deadline = None
            if self._quorate:
                self._recalculate(allow_decrease=True, by_current_nodes=True)
        if self._qdevice_deadline is not None and now >= self._qdevice_deadline:
            self._qdevice_deadline = None
            if self._me.flags & NodeFlags.QDEVICE_ALIVE:
                lost = NodeFlags.QDEVICE_ALIVE | NodeFlags.QDEVICE_CAST_VOTE
                self._set_my_flags(self._me.flags & ~lost)
                self._log(LogLevel.INFO, f"lost contact with quorum device {self._qdevice_name}")
                self._send_nodeinfo(self._us)
                self._sync_wait_for_poll = False

    # ==== library calls (libvotequorum / corosync-quorumtool) ================================
    def set_expected_votes(self, expected_votes: int) -> None:
        """``corosync-quorumtool -e N``: refused if N < 1, N < total votes, or quorum is lost."""
        me = self._me
        checks.expected_votes(
            self._node_tuple(),
            expected_votes,
            quorate=self._quorate,
            two_node=self._options.two_node,
            qdevice_votes=self._qdevice_votes,
            qdevice_cast_vote=bool(me.flags & NodeFlags.QDEVICE_CAST_VOTE),
        )
        self._update_node_expected_votes(expected_votes)
        self._send(Reconfigure(self._us, expected_votes, ReconfigParam.EXPECTED_VOTES))

    def set_votes(self, node_id: int, votes: int) -> None:
        """``corosync-quorumtool -v V -n X``."""
        me = self._me
        checks.node_votes(
            self._node_tuple(),
            node_id,
            votes,
            two_node=self._options.two_node,
            allow_downscale=self._options.allow_downscale,
            ev_barrier=self._ev_barrier,
            qdevice_votes=votes if node_id == QDEVICE_NODEID else self._qdevice_votes,
            qdevice_cast_vote=bool(me.flags & NodeFlags.QDEVICE_CAST_VOTE),
        )
        if node_id == QDEVICE_NODEID:
            self._qdevice_votes = votes
        else:
            self._nodes[node_id] = replace(self._nodes[node_id], votes=votes)
        self._send(Reconfigure(node_id, votes, ReconfigParam.NODE_VOTES))

    def cancel_wait_for_all(self) -> None:
        """``quorum.cancel_wait_for_all``: tell every node to stop waiting for all."""
        self._send(Reconfigure(self._us, 0, ReconfigParam.CANCEL_WFA))

    def leave(self) -> None:
        """Graceful exit (``votequorum_exec_exit_fn``): with allow_downscale, announce LEAVING."""
        if self._options.allow_downscale:
            self._set_my_flags(self._me.flags | NodeFlags.LEAVING)
            self._send_nodeinfo(self._us)

    # ==== status =============================================================================
    def getinfo(self, node_id: int) -> NodeStatus | None:
        """``votequorum_getinfo``; node 0 means this node. None if the node is unknown."""
        node = self._nodes.get(self._us if node_id == QDEVICE_NODEID else node_id)
        if node is None:
            return None
        return node_status(
            node, self._nodes.values(), self._options, self._quorate, self._qdevice_votes
        )

    def snapshot(self) -> VotequorumStatus:
        """Every figure ``corosync-quorumtool -s`` prints, for this node."""
        mine = self.getinfo(self._us)
        assert mine is not None
        members, quorate, ring_id = self._view
        nodes = tuple(
            info for nid in sorted(self._nodes) if (info := self.getinfo(nid)) is not None
        )
        return VotequorumStatus(
            node_id=self._us,
            ring_id=ring_id,
            quorate=quorate,
            members=members,
            expected_votes=mine.expected_votes,
            highest_expected=mine.highest_expected,
            total_votes=mine.total_votes,
            quorum=self._quorum,
            flags=mine.flags,
            qdevice_name=self._qdevice_name,
            qdevice_votes=self._qdevice_votes,
            nodes=nodes,
        )

    def status(self) -> dict[str, Any]:
        return status_dict(self.snapshot(), self.counters)

    def events(self) -> list[Any]:
        events, self._events = self._events, []
        return list(events)

    def add_observer(self, observer: Callable[[VotequorumEvent], None]) -> None:
        """See every event as it happens (the library side sends its notifications so)."""
        self._observers.append(observer)

    def _emit(self, event: VotequorumEvent) -> None:
        self._events.append(event)
        for observer in self._observers:
            observer(event)

    def cmap_attach(self, icmap: Any) -> None:
        """Keep ``runtime.votequorum.*`` in the node's cmap, as corosync's votequorum does."""
        self._icmap = icmap
        self._publish_runtime_keys()

    def _publish_runtime_keys(self) -> None:
        icmap = self._icmap
        if icmap is None or self._cfg is None:
            return
        prefix = "runtime.votequorum."
        icmap.set_value(prefix + "this_node_id", ValueType.UINT32, self._us)
        icmap.set_value(prefix + "two_node", ValueType.UINT8, int(self._options.two_node))
        icmap.set_value(prefix + "ev_barrier", ValueType.UINT32, self._ev_barrier)
        icmap.set_value(prefix + "lowest_node_id", ValueType.UINT32, max(self._lowest, 0))
        icmap.set_value(prefix + "highest_node_id", ValueType.UINT32, max(self._highest, 0))
        written = self._written
        if self._options.wait_for_all:
            written.add("wait_for_all_status")
        for key, vtype, value in (
            ("wait_for_all_status", ValueType.UINT8, int(self._wfa_status)),
            ("atb_type", ValueType.UINT32, int(self._options.auto_tie_breaker.mode)),
            ("qdevice_can_operate", ValueType.UINT8, int(self._qdevice_can_operate)),
            ("qdevice_master_wins", ValueType.UINT8, int(self._options.qdevice_master_wins)),
            ("ev_tracking_barrier", ValueType.UINT32, self._ev_tracking_barrier),
        ):
            if key in written:
                icmap.set_value(prefix + key, vtype, value)

    # ==== internals ==========================================================================
    def _node_tuple(self) -> tuple[NodeVotes, ...]:
        nodes = self._nodes
        return tuple(map(nodes.__getitem__, sorted(nodes)))

    def _set_my_flags(self, flags: int) -> None:
        self._nodes[self._us] = replace(self._me, flags=int(flags))

    def _set_wfa_status(self, status: bool) -> None:
        self._wfa_status = status
        self._written.add("wait_for_all_status")
        flags = self._me.flags
        flags = flags | NodeFlags.WFASTATUS if status else flags & ~NodeFlags.WFASTATUS
        self._set_my_flags(flags)

    def _update_node_expected_votes(self, value: int) -> None:
        if value:
            for nid, node in self._nodes.items():
                if node.state is NodeState.MEMBER:
                    self._nodes[nid] = replace(node, expected_votes=value)

    def _recalculate(self, *, allow_decrease: bool, by_current_nodes: bool) -> None:
        state = QuorumState(
            us=self._us,
            nodes=self._node_tuple(),
            quorum=self._quorum,
            quorate=self._quorate,
            wait_for_all_status=self._wfa_status,
            qdevice_votes=self._qdevice_votes,
            ev_barrier=self._ev_barrier,
            ev_tracking_barrier=self._ev_tracking_barrier,
            lowest_node_id=self._lowest,
            highest_node_id=self._highest,
            quorum_members=self._quorum_members,
            previous_quorum_members=self._previous_members,
        )
        result = calc.recalculate(
            state, self._options, allow_decrease=allow_decrease, by_current_nodes=by_current_nodes
        )
        new = result.state
        self._nodes = {n.node_id: n for n in new.nodes}
        self._quorum = new.quorum
        self._quorate = new.quorate
        self._wfa_status = new.wait_for_all_status
        self._ev_tracking_barrier = new.ev_tracking_barrier
        self._lowest = new.lowest_node_id
        self._highest = new.highest_node_id
        self._publish_runtime_keys()
        if result.expected_votes_raised:
            self._emit(ExpectedVotesChanged(self._me.expected_votes))
        if result.ev_tracking_barrier_changed:
            self._emit(EvTrackingBarrierChanged(new.ev_tracking_barrier))
        if result.waiting_for_all:
            self._log(
                LogLevel.NOTICE,
                f"Waiting for all cluster members. Current votes: "
                f"{result.figures.total_votes} expected_votes: {self._me.expected_votes}",
            )
            return
        if result.quorum_changed:
            self._log(
                LogLevel.DEBUG,
                "quorum regained, resuming activity"
                if self._quorate
                else "quorum lost, blocking activity",
            )
            if not self._sync_in_progress:
                self._report()

    def _report(self) -> None:
        """Tell the quorum service (``quorum_callback``) and the trackers."""
        members = self._quorum_members
        self._view = (members, self._quorate, self._quorum_ring)
        if self._callback is not None:
            self._callback(members, self._quorate, self._quorum_ring)
        figures = self.getinfo(self._us)
        assert figures is not None
        self._emit(
            QuorumChanged(
                self._quorate,
                self._quorum_ring,
                members,
                self._quorum,
                figures.total_votes,
                self._me.expected_votes,
            )
        )

    def _send_nodeinfo(self, node_id: int) -> None:
        if node_id == QDEVICE_NODEID:
            self._send(NodeInfo(QDEVICE_NODEID, self._qdevice_votes, 0, 0))
            return
        node = self._nodes[node_id]
        self._send(NodeInfo(node_id, node.votes, node.expected_votes, node.flags))

    def _send(self, msg: VotequorumMessage) -> None:
        if self.host is not None:
            fn, body = encode_body(msg)
            self.host.mcast(self.service_id, int(fn), body)

    def _log(self, level: LogLevel, message: str) -> None:
        if self.host is not None:
            self.host.log(level, "VOTEQ", message)
