"""The CPG service's local processes: libcpg's calls on this node (corosync 3.1.7
``exec/cpg.c``'s ``message_handler_req_lib_cpg_*``; ref totem-wire.md 10.4).

Each libcpg connection is a handle (:class:`Cpd`, ``struct cpg_pd``) in at most one group,
with corosync's states UNJOINED -> JOIN_STARTED -> JOIN_COMPLETED -> LEAVE_STARTED. A
join, leave or multicast goes round the ring (PROCJOIN, PROCLEAVE, MCAST or PARTIAL_MCAST
fragments) and takes effect when it is delivered (:mod:`totem.services.cpg.service`);
while a sync is in progress, requests are refused with ``CS_ERR_TRY_AGAIN``. Read-only
calls (``membership``, ``iteration``, ``local_get``) always work. :class:`CpgLocalApi` is
that part of :class:`~totem.services.cpg.service.CpgService`; :class:`_Cpg` is what it
uses of the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from totem.service import ServiceHost
from totem.services.cpg.assembly import Assembly
from totem.services.cpg.events import (
    CpdState,
    CpgAddress,
    CpgError,
    CpgGuarantee,
    CpgIterationEntry,
    CpgIterationType,
    CpgLocalProcess,
    CpgReason,
    CsError,
)
from totem.services.cpg.groups import ProcessTable, print_group_name
from totem.services.cpg.interfaces import CPG_MAX_ATOMIC_MSGSIZE
from totem.services.cpg.wire import (
    CPG_MAX_NAME_LENGTH,
    CPG_SERVICE,
    CpgFn,
    PartialMcast,
    PartialType,
    mcast_body,
)
from totem.srp.events import LogLevel

__all__ = ["Cpd", "CpgLocalApi", "group_bytes"]

_U32_LIMIT = 1 << 32
_FN_MCAST = int(CpgFn.MCAST)


@dataclass(slots=True, eq=False)
class Cpd:
    """``struct cpg_pd``: one local handle (a libcpg connection)."""

    handle: Hashable
    group: bytes = b""
    pid: int = 0
    state: CpdState = CpdState.UNJOINED
    deliver_initial_totem_conf: bool = False
    initial_totem_conf_sent: bool = False
    transition_counter: int = 0
    partial_counter: int = 0
    """``initial_transition_counter``: the counter when a fragmented message began."""
    assemblies: dict[tuple[int, int], Assembly] = field(default_factory=dict)


def group_bytes(group: str | bytes) -> bytes:
    """A group name as bytes; ``CS_ERR_NAME_TOO_LONG`` past corosync's limit."""
    name = group.encode() if isinstance(group, str) else bytes(group)
    if len(name) > CPG_MAX_NAME_LENGTH:
        raise CpgError(
            CsError.ERR_NAME_TOO_LONG,
            f"group name of {len(name)} bytes exceeds {CPG_MAX_NAME_LENGTH}",
        )
    return name


class _Cpg(Protocol):
    """The CPG service as its local process API uses it."""

    _cpds: list[Cpd]
    _table: ProcessTable
    _sync_in_progress: bool

    @property
    def _node(self) -> ServiceHost: ...
    def _log(self, level: LogLevel, message: str) -> None: ...
    def _send(self, fn: CpgFn, body: bytes) -> None: ...
    def _send_joinleave(self, fn: CpgFn, group: bytes, pid: int, reason: CpgReason) -> None: ...
    def _active(self, group: bytes, pid: int) -> list[Cpd]: ...
    def _cpd(self, handle: Hashable) -> Cpd: ...
    def _check_not_syncing(self) -> None: ...
    def _client_send(self, during_sync: bool) -> Callable[[CpgFn, bytes], None]: ...
    def _check_sender(
        self, handle: Hashable, name: bytes, cpd: Cpd, *, during_sync: bool = False
    ) -> None: ...
    def mcast(
        self,
        handle: Hashable,
        group: str | bytes,
        payload: bytes,
        guarantee: CpgGuarantee = CpgGuarantee.AGREED,
        *,
        during_sync: bool = False,
    ) -> None: ...


class CpgLocalApi:
    """libcpg's calls on :class:`~totem.services.cpg.service.CpgService`."""

    def _cpd(self: _Cpg, handle: Hashable) -> Cpd:
        for cpd in self._cpds:
            if cpd.handle == handle:
                return cpd
        raise CpgError(CsError.ERR_BAD_HANDLE, f"unknown handle {handle!r}")

    def _check_not_syncing(self: _Cpg) -> None:
        if self._sync_in_progress:
            raise CpgError(CsError.ERR_TRY_AGAIN, "synchronization in progress")

    def join(
        self: _Cpg,
        handle: Hashable,
        group: str | bytes,
        pid: int,
        *,
        deliver_initial_totem_conf: bool = False,
    ) -> None:
        """``cpg_join``: process ``pid`` joins ``group`` through ``handle`` (created if new).

        The join takes effect when our PROCJOIN is delivered: the handle then
        gets a ``CpgConfigChange`` naming itself in ``joined``. With
        ``deliver_initial_totem_conf`` (``CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF``)
        the handle's first callback is followed by the current Totem membership.
        """
        name = group_bytes(group)
        if not 0 <= pid < _U32_LIMIT:
            raise CpgError(CsError.ERR_INVALID_PARAM, f"pid {pid} does not fit in u32")
        self._check_not_syncing()
        if self._active(name, pid):
            raise CpgError(CsError.ERR_EXIST, f"pid {pid} already joined this group")
        if self._table.contains(name, pid, self._node.node_id):
            raise CpgError(CsError.ERR_TRY_AGAIN, f"leave of pid {pid} not yet delivered")
        existing = [cpd for cpd in self._cpds if cpd.handle == handle]
        cpd = existing[0] if existing else Cpd(handle)
        if cpd.state is CpdState.LEAVE_STARTED:
            raise CpgError(CsError.ERR_BUSY, "a leave of this handle is in progress")
        if cpd.state is not CpdState.UNJOINED:
            raise CpgError(CsError.ERR_EXIST, "handle already joined a group")
        if not existing:
            self._cpds.insert(0, cpd)
        cpd.state = CpdState.JOIN_STARTED
        cpd.pid = pid
        cpd.group = name
        cpd.deliver_initial_totem_conf = deliver_initial_totem_conf
        self._send_joinleave(CpgFn.PROCJOIN, name, pid, CpgReason.JOIN)

    def leave(self: _Cpg, handle: Hashable, group: str | bytes) -> None:
        """``cpg_leave``: the handle's process leaves ``group`` once our PROCLEAVE is delivered."""
        name = group_bytes(group)
        cpd = self._cpd(handle)
        self._check_not_syncing()
        self._log(LogLevel.DEBUG, f"got leave request on {handle!r}")
        if cpd.state in (CpdState.UNJOINED, CpdState.LEAVE_STARTED) or cpd.group != name:
            raise CpgError(CsError.ERR_NOT_EXIST, "handle is not a member of this group")
        if cpd.state is CpdState.JOIN_STARTED:
            raise CpgError(CsError.ERR_BUSY, "the join of this handle is not delivered yet")
        cpd.state = CpdState.LEAVE_STARTED
        self._send_joinleave(CpgFn.PROCLEAVE, cpd.group, cpd.pid, CpgReason.LEAVE)

    def finalize(self: _Cpg, handle: Hashable) -> None:
        """``cpg_finalize`` (or the client went away): forget ``handle``.

        A handle still in its group leaves it with reason PROCDOWN, as
        ``cpg_lib_exit_fn`` does; this is not held back by sync.
        """
        cpd = self._cpd(handle)
        self._log(LogLevel.DEBUG, f"cpg finalize for conn={handle!r}")
        self._cpds.remove(cpd)
        # (corosync tests the name length, so a handle in the group "" never left it)
        if cpd.state in (CpdState.JOIN_STARTED, CpdState.JOIN_COMPLETED):
            self._send_joinleave(CpgFn.PROCLEAVE, cpd.group, cpd.pid, CpgReason.PROCDOWN)

    def mcast(
        self: _Cpg,
        handle: Hashable,
        group: str | bytes,
        payload: bytes,
        guarantee: CpgGuarantee = CpgGuarantee.AGREED,
        *,
        during_sync: bool = False,
    ) -> None:
        """``cpg_mcast_joined``: multicast ``payload`` to the handle's group.

        Delivered to every member (sender included) in agreed order whatever
        ``guarantee`` says, as corosync does. Above ``CPG_MAX_ATOMIC_MSGSIZE``
        the message goes as PARTIAL_MCAST fragments and is reassembled on
        delivery. Allowed from JOIN_STARTED on, like corosync.
        """
        name = group_bytes(group)
        cpd = self._cpd(handle)
        if guarantee is not CpgGuarantee.AGREED:
            try:
                CpgGuarantee(guarantee)
            except ValueError:
                raise CpgError(CsError.ERR_INVALID_PARAM, f"guarantee {guarantee}") from None
        if len(payload) >= _U32_LIMIT:
            raise CpgError(CsError.ERR_TOO_BIG, f"message of {len(payload)} bytes")
        self._check_sender(handle, name, cpd, during_sync=during_sync)
        me = self._node.node_id
        data = bytes(payload)
        send = self._client_send(during_sync)
        if len(data) <= CPG_MAX_ATOMIC_MSGSIZE:
            send(CpgFn.MCAST, mcast_body(cpd.group, cpd.pid, data, me))
            return
        total = len(data)
        for offset in range(0, total, CPG_MAX_ATOMIC_MSGSIZE):
            fragment = data[offset : offset + CPG_MAX_ATOMIC_MSGSIZE]
            if offset == 0:
                kind = PartialType.FIRST
            elif offset + len(fragment) == total:
                kind = PartialType.LAST
            else:
                kind = PartialType.CONTINUED
            self._log(LogLevel.DEBUG, f"Sending fragmented message size = {len(fragment)} bytes")
            message = PartialMcast(cpd.group, total, cpd.pid, kind, fragment, me)
            send(CpgFn.PARTIAL_MCAST, message.encode())

    def _client_send(self: _Cpg, during_sync: bool) -> Callable[[CpgFn, bytes], None]:
        """How a client's message is queued: accepted during a sync (``during_sync``), it
        must wait behind what the node queued before the configuration change, not go out
        with the sync's messages; the host's ``mcast_after_sync`` does that (NodeStack)."""
        after = getattr(self._node, "mcast_after_sync", None)
        if not (during_sync and self._sync_in_progress) or after is None:
            return self._send
        return lambda fn, body: after(CPG_SERVICE, fn, body)

    def mcast_many(
        self: _Cpg, handle: Hashable, group: str | bytes, payloads: Sequence[bytes]
    ) -> int:
        """``mcast`` (agreed) of several messages in order; returns how many were queued.

        The bulk path of the control socket: the handle is checked once, not per
        message. A refusal raises ``CpgError`` if nothing was queued yet; otherwise
        the messages before it stay queued and the count says where it stopped.
        """
        if not payloads:
            return 0
        group_name = group_bytes(group)
        cpd = self._cpd(handle)
        self._check_sender(handle, group_name, cpd)
        host = self._node
        me = host.node_id
        name, pid = cpd.group, cpd.pid
        bulk = getattr(host, "mcast_many", None)  # NodeStack's bulk path, if the host has one
        if bulk is not None and max(map(len, payloads)) <= CPG_MAX_ATOMIC_MSGSIZE:
            bulk(CPG_SERVICE, _FN_MCAST, [mcast_body(name, pid, p, me) for p in payloads])
            return len(payloads)
        send = host.mcast
        queued = 0
        for payload in payloads:
            if len(payload) > CPG_MAX_ATOMIC_MSGSIZE:
                try:
                    self.mcast(handle, group, payload)
                except CpgError:
                    if queued:
                        break
                    raise
            else:
                send(CPG_SERVICE, _FN_MCAST, mcast_body(name, pid, payload, me))
            queued += 1
        return queued

    def _check_sender(
        self: _Cpg, handle: Hashable, name: bytes, cpd: Cpd, *, during_sync: bool = False
    ) -> None:
        """Refuse an mcast of ``cpd`` to the group ``name`` unless it may send there now
        (``during_sync``: the message may wait in the send queue for the end of the sync)."""
        if not during_sync:
            self._check_not_syncing()
        if cpd.state in (CpdState.UNJOINED, CpdState.LEAVE_STARTED) or cpd.group != name:
            self._log(
                LogLevel.ERROR,
                f"*** {handle!r} can't mcast to group {print_group_name(name)} "
                f"state:{cpd.state.value}, error:{CsError.ERR_NOT_EXIST.value}",
            )
            raise CpgError(CsError.ERR_NOT_EXIST, "handle is not a member of this group")

    def mcast_fragment(
        self: _Cpg,
        handle: Hashable,
        msglen: int,
        kind: int,
        fragment: bytes,
        *,
        first_counter: bool,
    ) -> None:
        """A libcpg PARTIAL_MCAST: send one fragment as it came (``req_exec_cpg_partial_mcast``).

        ``CS_ERR_INTERRUPT`` if the group's membership changed since the message's first
        fragment (``first_counter`` marks that fragment), as corosync refuses the rest.
        """
        cpd = self._cpd(handle)
        self._check_sender(handle, cpd.group, cpd, during_sync=True)
        if first_counter:
            cpd.partial_counter = cpd.transition_counter
        elif cpd.partial_counter != cpd.transition_counter:
            raise CpgError(CsError.ERR_INTERRUPT, "the group changed during the message")
        self._log(LogLevel.DEBUG, f"Sending fragmented message size = {len(fragment)} bytes")
        message = PartialMcast(cpd.group, msglen, cpd.pid, kind, fragment, self._node.node_id)
        self._client_send(True)(CpgFn.PARTIAL_MCAST, message.encode())

    def handle_group(self: _Cpg, handle: Hashable) -> tuple[bytes, CpdState] | None:
        """The group a local handle is in (or joining/leaving) and its state; None if unknown."""
        for cpd in self._cpds:
            if cpd.handle == handle:
                return cpd.group, cpd.state
        return None

    def membership(self: _Cpg, group: str | bytes) -> tuple[CpgAddress, ...]:
        """``cpg_membership_get``: the members of ``group`` (reason UNDEFINED), in list order."""
        name = group_bytes(group)
        return tuple(CpgAddress(pi.nodeid, pi.pid) for pi in self._table.members(name))

    def local_get(self: _Cpg) -> int:
        """``cpg_local_get``: this node's id."""
        return self._node.node_id

    def iteration(
        self: _Cpg,
        kind: CpgIterationType = CpgIterationType.ALL,
        group: str | bytes | None = None,
    ) -> list[CpgIterationEntry]:
        """``cpg_iteration_*``: every (group, nodeid, pid), grouped as corosync-cpgtool shows it."""
        if kind is CpgIterationType.ONE_GROUP:
            if group is None:
                raise CpgError(CsError.ERR_INVALID_PARAM, "ONE_GROUP needs a group")
            return self._table.iteration(kind, group_bytes(group))
        return self._table.iteration(kind)

    def local_groups(self: _Cpg) -> tuple[CpgLocalProcess, ...]:
        """The local handles, newest first, with their group, pid and join state."""
        return tuple(CpgLocalProcess(c.handle, c.group, c.pid, c.state) for c in self._cpds)
