"""The CPG service engine, sans-IO (corosync 3.1.7 ``exec/cpg.c``; ref totem-wire.md 9, 10.4).

Closed process groups: processes join named groups, multicast to them in
agreed order, and every member sees the same sequence of membership changes.
This is corosync's service 2, wire-compatible with real 3.1.7 nodes in one ring.

State, as corosync keeps it on every node:

* the process list (``groups.ProcessTable``), changed only by delivered exec
  messages and by sync, so it is identical on every node of a ring;
* the local handles (``cpg_pd``: one per libcpg connection), each in at most
  one group, with corosync's state machine UNJOINED → JOIN_STARTED →
  JOIN_COMPLETED → LEAVE_STARTED (their calls: :mod:`totem.services.cpg.local`).

Sync (ref 10.2), after every REGULAR configuration:

* ``sync_init``: the *downlist* is the previous sync's member list minus the
  transitional members; no message is needed to agree on it.
* ``sync_process``: multicast a DOWNLIST (1568 bytes; receivers only log it:
  in 3.1.7 each node applies its *own* downlist, none "wins"), then a JOINLIST
  of our local processes if we have any. Never waits for others.
* ``sync_activate`` (after every member's barrier, at the same point of the
  total order everywhere): remove processes of the down nodes (one confchg per
  group, reason NODEDOWN, groups in name order); add every process named in a
  received joinlist that we do not know (one confchg per group, reason
  NODEUP); remove remote processes no joinlist named (one confchg each, reason
  PROCDOWN); then tell every handle the new Totem membership.

Local requests while a sync is in progress (from any configuration change
until the whole sync of every service has completed, ``sync_completed``; before
the first sync too) are refused with ``CS_ERR_TRY_AGAIN``, which is what a libcpg
application sees from a real node: corosync's ``sync_in_process`` holds back every
flow-controlled IPC request from ``confchg_fn`` to ``corosync_sync_completed``, so a
client that gets its configuration change (at our ``sync_activate``) sends only
after the services after cpg are synchronised too, behind what was queued before
the change; nothing is queued. Read-only calls
(``membership``, ``iteration``, ``local_get``) and ``finalize`` always work.

Deliberate differences from corosync 3.1.7, all local to this node:

* When our own PROCLEAVE (reason LEAVE) is delivered, the handle returns to
  UNJOINED as the state table in ``cpg.c`` intends. In 3.1.7 the reset loop is
  bounded by the joined-list length (always 0 there), so a handle that left
  stays LEAVE_STARTED, keeps receiving the group's messages and can never join
  again; that is a bug we do not copy.
* ``leave`` and ``mcast`` name the group and are refused with
  ``CS_ERR_NOT_EXIST`` if it is not the handle's group.
* A reassembled large message whose fragments do not add up to ``msglen`` is
  dropped and counted (libcpg would overrun or deliver garbage).
* Two group names equal up to an embedded NUL get separate callbacks
  (``groups.group_order_key``).
* ``finalize`` of a handle in the group named ``""`` leaves it (corosync tests
  the name's length and would leave the process listed forever).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from totem.ipc.engine import LibConnection, LibHandler
from totem.ringid import RingId
from totem.service import Service, ServiceHost
from totem.services.cpg.assembly import reassemble
from totem.services.cpg.events import (
    CpdState,
    CpgAddress,
    CpgConfigChange,
    CpgDeliver,
    CpgEvent,
    CpgReason,
    CpgTotemConfigChange,
)
from totem.services.cpg.groups import (
    ProcessInfo,
    ProcessTable,
    group_order_key,
    print_group_name,
)
from totem.services.cpg.interfaces import (
    CPG_MAX_ATOMIC_MSGSIZE,
    CpgEventSink,
    CpgLibrary,
)
from totem.services.cpg.local import Cpd, CpgLocalApi
from totem.services.cpg.wire import (
    CPG_MAX_NAME_LENGTH,
    CPG_SERVICE,
    MCAST_BODY,
    CpgFn,
    Downlist,
    DownlistOld,
    JoinList,
    JoinListEntry,
    MalformedCpgMessage,
    Mcast,
    PartialMcast,
    ProcJoin,
    decode,
    mcast_fields,
)
from totem.srp.events import ConfigurationChange, LogLevel

__all__ = ["CPG_MAX_ATOMIC_MSGSIZE", "CpgEventSink", "CpgLibraryFactory", "CpgService"]

CpgLibraryFactory = Callable[["CpgService"], CpgLibrary]
"""Builds the library over a service; the node passes one (:mod:`totem.services.factories`)."""

_SUBSYS = "CPG"
_MCAST_UNPACK = MCAST_BODY.unpack_from
_MCAST_SIZE = MCAST_BODY.size
_FN_MCAST = int(CpgFn.MCAST)
_JOIN_COMPLETED = CpdState.JOIN_COMPLETED
_LEAVE_STARTED = CpdState.LEAVE_STARTED
"""The handle states that receive their group's messages (tested by identity: an enum's
hash is Python code, too slow for once per delivered message)."""


class _SyncState(enum.Enum):
    DOWNLIST = 0
    JOINLIST = 1
    DONE = 2


def _reason(value: int) -> int:
    try:
        return CpgReason(value)
    except ValueError:
        return value


class CpgService(CpgLocalApi, Service):
    """corosync's closed process group service (id 2), for our node and its local processes."""

    service_id = CPG_SERVICE
    name = "corosync cluster closed process group service v1.01"
    sync_participant = True
    ipc_name = "cpg"

    def __init__(
        self,
        ifaces_print: Callable[[int], str] | None = None,
        library: CpgLibraryFactory | None = None,
    ) -> None:
        super().__init__()
        self._ifaces_print = ifaces_print or str
        self._table = ProcessTable()
        self._cpds: list[Cpd] = []  # newest first, like cpg_pd_list_head
        self._events: list[CpgEvent] = []
        self._sink: CpgEventSink | None = None
        self.counters: dict[str, int] = {}
        """Dropped or refused input by reason, e.g. ``malformed_mcast``, ``unknown_node_mcast``."""
        # sync state (cpg_sync_init / cpg_sync_activate)
        self._sync_in_progress = True
        self._sync_state = _SyncState.DONE
        self._member_list: tuple[int, ...] = ()
        self._old_member_list: tuple[int, ...] = ()
        self._downlist_left: tuple[int, ...] = ()
        self._downlist_old_members = 0
        self._last_sync_ring_id = RingId(0, 0)
        self._joinlist_messages: list[tuple[int, int, bytes]] = []  # newest entry first
        self._library_factory = library
        self._lib: CpgLibrary | None = None

    # --- library (libcpg over IPC: totem.services.cpg.lib) -------------------------------------
    def _library(self) -> CpgLibrary | None:
        """Built on first use, after the node has set its own event sink (the control
        socket), which the library then passes on to. None without a library factory."""
        if self._lib is None and self._library_factory is not None:
            self._lib = self._library_factory(self)
        return self._lib

    def lib_handlers(self) -> Sequence[LibHandler]:
        lib = self._library()
        return () if lib is None else lib.handlers()

    def lib_init(self, conn: LibConnection) -> None:
        lib = self._library()
        if lib is not None:
            lib.lib_init(conn)

    def lib_exit(self, conn: LibConnection) -> None:
        lib = self._library()
        if lib is not None:
            lib.lib_exit(conn)

    # --- plumbing ------------------------------------------------------------------------------
    @property
    def exec_function_count(self) -> int:
        return len(CpgFn)

    @property
    def _node(self) -> ServiceHost:
        if self.host is None:
            raise RuntimeError("CpgService is not attached to a node")
        return self.host

    def _log(self, level: LogLevel, message: str) -> None:
        self._node.log(level, _SUBSYS, message)

    def _count(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1

    def _send(self, fn: CpgFn, body: bytes) -> None:
        self._node.mcast(CPG_SERVICE, fn, body)

    def _send_joinleave(self, fn: CpgFn, group: bytes, pid: int, reason: CpgReason) -> None:
        self._send(fn, ProcJoin(group, pid, reason).encode())

    def events(self) -> list[Any]:
        events, self._events = self._events, []
        return events

    @property
    def event_sink(self) -> CpgEventSink | None:
        return self._sink

    def queue_event(self, event: CpgEvent) -> None:
        """Keep ``event`` for ``events()`` (an event sink passing on what it does not serve)."""
        self._events.append(event)

    def set_event_sink(self, sink: CpgEventSink | None) -> None:
        """Hand every later event to ``sink`` at once (None: queue them for ``events()``).

        The control socket (``totem.node.cpg_api``) takes deliveries this way: a
        message goes from the exec handler to its client's batch without a
        ``CpgDeliver`` and without a trip through the node's event list. Events
        already queued stay for ``events()``.
        """
        self._sink = sink

    def _emit(self, event: CpgEvent) -> None:
        sink = self._sink
        if sink is None:
            self._events.append(event)
        elif isinstance(event, CpgDeliver):
            sink.deliver(event.handle, event.group, event.nodeid, event.pid, event.payload)
        else:
            sink.event(event)

    # --- exec messages (agreed order) ---------------------------------------------------------
    def exec_deliver(self, sender: int, fn_id: int, body: bytes, now: float) -> None:
        if fn_id == _FN_MCAST:
            # The hot path, once per delivered message: mcast_fields and _deliver_mcast
            # inlined (no calls, no objects) for a well-formed body and an event sink.
            size = len(body)
            sink = self._sink
            if size >= _MCAST_SIZE and sink is not None:
                length, value, msglen, pid, _nodeid, _conn = _MCAST_UNPACK(body)
                if msglen == size - _MCAST_SIZE and length <= CPG_MAX_NAME_LENGTH:
                    group = value[:length]
                    payload = body[_MCAST_SIZE:]
                    deliver = sink.deliver
                    known = False
                    for cpd in self._cpds:
                        state = cpd.state
                        if cpd.group == group and (
                            state is _JOIN_COMPLETED or state is _LEAVE_STARTED
                        ):
                            if not known:
                                if not self._table.node_in_group(sender, group):
                                    self._unknown_node("mcast")
                                    return
                                known = True
                            deliver(cpd.handle, group, sender, pid, payload)
                    return
            try:
                group, pid, payload = mcast_fields(body)
            except MalformedCpgMessage as exc:
                self._count("malformed_mcast")
                self._log(
                    LogLevel.WARNING,
                    f"Discarded malformed mcast message from node {sender}: {exc}",
                )
                return
            self._deliver_mcast(sender, group, pid, payload)
            return
        try:
            fn = CpgFn(fn_id)
        except ValueError:
            self._count("unknown_fn")
            return
        try:
            message = decode(fn, body)
        except MalformedCpgMessage as exc:
            self._count(f"malformed_{fn.name.lower()}")
            self._log(
                LogLevel.WARNING,
                f"Discarded malformed {fn.name.lower()} message from node {sender}: {exc}",
            )
            return
        if isinstance(message, ProcJoin):
            if fn is CpgFn.PROCJOIN:
                self._exec_procjoin(sender, message)
            else:
                self._exec_procleave(sender, message)
        elif isinstance(message, JoinList):
            self._exec_joinlist(sender, message)
        elif isinstance(message, Mcast):
            self._exec_mcast(sender, message)
        elif isinstance(message, PartialMcast):
            self._exec_partial_mcast(sender, message)
        elif isinstance(message, Downlist):
            self._log(LogLevel.DEBUG, f"downlist left_list: {len(message.left_nodes)} received")
        elif isinstance(message, DownlistOld):
            self._log(LogLevel.DEBUG, f"downlist OLD from node {sender}")

    def _exec_procjoin(self, sender: int, message: ProcJoin) -> None:
        self._log(
            LogLevel.DEBUG,
            f"got procjoin message from cluster node {sender} "
            f"({self._ifaces_print(sender)}) for pid {message.pid}",
        )
        self._do_proc_join(message.group, message.pid, sender, CpgReason.JOIN, None)

    def _exec_procleave(self, sender: int, message: ProcJoin) -> None:
        self._log(
            LogLevel.DEBUG,
            f"got procleave message from cluster node {sender} "
            f"({self._ifaces_print(sender)}) for pid {message.pid}",
        )
        self._do_proc_leave(message.group, message.pid, sender, _reason(message.reason))

    def _exec_joinlist(self, sender: int, message: JoinList) -> None:
        self._log(LogLevel.DEBUG, f"got joinlist message from node {sender}")
        for entry in message.entries:
            # corosync pushes each entry at the head of its list
            self._joinlist_messages.insert(0, (sender, entry.pid, entry.group))

    def _receivers(self, sender: int, group: bytes, what: str) -> list[Cpd] | None:
        """Local handles to deliver to; None (counted) if the sender has no process in group."""
        receivers = [
            cpd
            for cpd in self._cpds
            if cpd.group == group and (cpd.state is _JOIN_COMPLETED or cpd.state is _LEAVE_STARTED)
        ]
        if receivers and not self._table.node_in_group(sender, group):
            self._unknown_node(what)
            return None
        return receivers

    def _unknown_node(self, what: str) -> None:
        self._count(f"unknown_node_{what}")
        self._log(LogLevel.WARNING, "Unknown node -> we will not deliver message")

    def _exec_mcast(self, sender: int, message: Mcast) -> None:
        self._deliver_mcast(sender, message.group, message.pid, message.payload)

    def _deliver_mcast(self, sender: int, group: bytes, pid: int, payload: bytes) -> None:
        """``message_handler_req_exec_cpg_mcast``: the message to every local receiver."""
        receivers = self._receivers(sender, group, "mcast")
        if not receivers:
            return
        sink = self._sink
        if sink is None:
            for cpd in receivers:
                self._events.append(CpgDeliver(cpd.handle, group, sender, pid, payload))
        else:
            for cpd in receivers:
                sink.deliver(cpd.handle, group, sender, pid, payload)

    def _exec_partial_mcast(self, sender: int, message: PartialMcast) -> None:
        self._log(
            LogLevel.DEBUG,
            f"Got fragmented message from node {sender}, size = {len(message.fragment)} bytes",
        )
        for cpd in self._receivers(sender, message.group, "partial_mcast") or ():
            self._assemble(cpd, sender, message)

    def _assemble(self, cpd: Cpd, sender: int, message: PartialMcast) -> None:
        """libcpg's reassembly, per handle and per sending process."""
        payload, problem = reassemble(cpd.assemblies, (sender, message.pid), message)
        if problem is not None:
            self._count(problem)
        if payload is not None:
            self._emit(CpgDeliver(cpd.handle, message.group, sender, message.pid, payload))

    # --- membership bookkeeping (do_proc_join, do_proc_leave, notify_lib_joinlist) ------------
    def _do_proc_join(
        self,
        group: bytes,
        pid: int,
        nodeid: int,
        reason: int,
        batch: dict[tuple[bytes, bytes], tuple[bytes, list[CpgAddress]]] | None,
    ) -> None:
        if self._table.contains(group, pid, nodeid):
            return
        self._table.insert(ProcessInfo(nodeid, pid, group))
        address = CpgAddress(nodeid, pid, reason)
        if batch is None:
            self._notify(group, joined=(address,), left=())
        else:
            batch.setdefault(group_order_key(group), (group, []))[1].append(address)

    def _do_proc_leave(self, group: bytes, pid: int, nodeid: int, reason: int) -> None:
        self._notify(group, joined=(), left=(CpgAddress(nodeid, pid, reason),))
        self._table.remove(group, pid, nodeid)

    def _active(self, group: bytes, pid: int) -> list[Cpd]:
        """Local handles of process ``pid`` in ``group`` (an UNJOINED handle is in none)."""
        return [
            cpd
            for cpd in self._cpds
            if cpd.state is not CpdState.UNJOINED and cpd.pid == pid and cpd.group == group
        ]

    def _notify(
        self, group: bytes, joined: Sequence[CpgAddress], left: Sequence[CpgAddress]
    ) -> None:
        """``notify_lib_joinlist``: a confchg to every local handle in ``group``."""
        gone = {(a.nodeid, a.pid) for a in left}
        members = tuple(
            CpgAddress(pi.nodeid, pi.pid)
            for pi in self._table.members(group)
            if (pi.nodeid, pi.pid) not in gone
        )
        me = self._node.node_id
        for address in joined:
            if address.nodeid == me:
                for cpd in self._active(group, address.pid):
                    cpd.state = CpdState.JOIN_COMPLETED
        change_left, change_joined = tuple(left), tuple(joined)
        for cpd in self._cpds:
            if cpd.group == group and cpd.state in (
                CpdState.JOIN_COMPLETED,
                CpdState.LEAVE_STARTED,
            ):
                self._emit(CpgConfigChange(cpd.handle, group, members, change_left, change_joined))
                cpd.transition_counter += 1
                for address in left:  # libcpg drops half-assembled messages of leavers
                    cpd.assemblies.pop((address.nodeid, address.pid), None)
        for address in left:
            if address.nodeid == me and address.reason == CpgReason.LEAVE:
                for cpd in self._active(group, address.pid):
                    cpd.group, cpd.pid, cpd.state = b"", 0, CpdState.UNJOINED
        for cpd in self._cpds:
            if cpd.deliver_initial_totem_conf and not cpd.initial_totem_conf_sent:
                cpd.initial_totem_conf_sent = True
                self._emit(
                    CpgTotemConfigChange(cpd.handle, self._last_sync_ring_id, self._old_member_list)
                )

    # --- configuration changes and sync (ref 10.2) --------------------------------------------
    def confchg(self, change: ConfigurationChange, now: float) -> None:
        # cpg has no confchg_fn; a configuration change starts a sync, which blocks its IPC.
        self._sync_in_progress = True

    def sync_init(
        self,
        trans_members: Sequence[int],
        members: Sequence[int],
        ring_id: RingId,
        now: float,
    ) -> None:
        self._sync_in_progress = True
        self._sync_state = _SyncState.DOWNLIST
        self._member_list = tuple(members)
        self._last_sync_ring_id = ring_id
        trans = set(trans_members)
        self._downlist_left = tuple(n for n in self._old_member_list if n not in trans)

    def sync_process(self, now: float) -> bool:
        if self._sync_state is _SyncState.DOWNLIST:
            self._downlist_old_members = len(self._old_member_list)
            downlist = Downlist(self._downlist_old_members, self._downlist_left)
            self._send(CpgFn.DOWNLIST, downlist.encode())
            self._sync_state = _SyncState.JOINLIST
        if self._sync_state is _SyncState.JOINLIST:
            local = self._table.of_node(self._node.node_id)
            if local:
                entries = tuple(JoinListEntry(pi.pid, pi.group) for pi in local)
                self._send(CpgFn.JOINLIST, JoinList(entries).encode())
            self._sync_state = _SyncState.DONE
        return True

    def sync_activate(self, now: float) -> None:
        self._old_member_list = self._member_list
        self._downlist_inform_clients()
        self._joinlist_inform_clients()
        self._joinlist_messages.clear()
        for cpd in self._cpds:
            self._emit(CpgTotemConfigChange(cpd.handle, self._last_sync_ring_id, self._member_list))

    def sync_completed(self, now: float) -> None:
        self._sync_in_progress = False

    def sync_abort(self) -> None:
        self._joinlist_messages.clear()
        self._sync_state = _SyncState.DONE

    def _downlist_inform_clients(self) -> None:
        self._log(
            LogLevel.DEBUG,
            f"my downlist: members(old:{self._downlist_old_members} "
            f"left:{len(self._downlist_left)})",
        )
        down = set(self._downlist_left)
        batch: dict[tuple[bytes, bytes], tuple[bytes, list[CpgAddress]]] = {}
        for pi in self._table.snapshot():
            if pi.nodeid in down:
                address = CpgAddress(pi.nodeid, pi.pid, CpgReason.NODEDOWN)
                batch.setdefault(group_order_key(pi.group), (pi.group, []))[1].append(address)
                self._table.remove(pi.group, pi.pid, pi.nodeid)
        for key in sorted(batch):
            group, left = batch[key]
            self._log(LogLevel.DEBUG, f"left_list_entries:{len(left)}")
            for index, address in enumerate(left):
                self._log(
                    LogLevel.DEBUG,
                    f"left_list[{index}] group:{print_group_name(group)}, "
                    f"ip:{self._ifaces_print(address.nodeid)}, pid:{address.pid}",
                )
            self._notify(group, joined=(), left=left)

    def _joinlist_inform_clients(self) -> None:
        me = self._node.node_id
        batch: dict[tuple[bytes, bytes], tuple[bytes, list[CpgAddress]]] = {}
        for index, (sender, pid, group) in enumerate(self._joinlist_messages):
            self._log(
                LogLevel.DEBUG,
                f"joinlist_messages[{index}] group:{print_group_name(group)}, "
                f"ip:{self._ifaces_print(sender)}, pid:{pid}",
            )
            if sender != me:
                self._do_proc_join(group, pid, sender, CpgReason.NODEUP, batch)
        for key in sorted(batch):
            group, joined = batch[key]
            self._notify(group, joined=joined, left=())
        # Remote processes that no joinlist names left while we were apart.
        named = {(s, p, g) for s, p, g in self._joinlist_messages if s != me}
        for pi in self._table.snapshot():
            if pi.nodeid != me and (pi.nodeid, pi.pid, pi.group) not in named:
                self._do_proc_leave(pi.group, pi.pid, pi.nodeid, CpgReason.PROCDOWN)

    @property
    def ring_id(self) -> RingId:
        """The ring of the last sync (``last_sync_ring_id``)."""
        return self._last_sync_ring_id

    @property
    def sync_in_progress(self) -> bool:
        """True while local requests are refused with ``CS_ERR_TRY_AGAIN``."""
        return self._sync_in_progress

    def status(self) -> dict[str, Any]:
        groups: dict[str, list[dict[str, int]]] = {}
        for pi in self._table:
            groups.setdefault(print_group_name(pi.group), []).append(
                {"nodeid": pi.nodeid, "pid": pi.pid}
            )
        return {
            "ring_id": str(self._last_sync_ring_id),
            "members": list(self._old_member_list),
            "sync_in_progress": self._sync_in_progress,
            "groups": groups,
            "local": [
                {
                    "handle": repr(c.handle),
                    "group": print_group_name(c.group),
                    "pid": c.pid,
                    "state": c.state.name,
                }
                for c in self._cpds
            ],
            "counters": dict(self.counters),
        }
