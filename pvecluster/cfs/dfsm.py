"""The DFSM: pmxcfs's distributed state machine on a process group, sans-IO (ref 4.3).

A :class:`Dfsm` is driven with the group's events and produces messages to multicast:

    dfsm.confchg(members, joined, left, now)    # a CpgConfigChange of the group
    dfsm.deliver(nodeid, pid, payload, now)     # a CpgDeliver of the group, agreed order
    dfsm.send_message(subtype, body, now)       # an application operation -> its count
    dfsm.outbox() -> list[bytes]                # to multicast, in order
    dfsm.events() -> list[DfsmEvent]            # results of our operations, mode changes, logs

**Sync.** Every configuration change starts a new local epoch and rebuilds the member table
from the member list, sorted by ``(nodeid, pid)``. Alone, the node is synced at once; with
others it enters START_SYNC and the lowest node id multicasts SYNC_START with its epoch. Each
member answers with STATE (the application's state, for DCDB the memdb index) under that
epoch; state-type messages of another epoch are ignored. When every state is in, the
application decides who is synced (:meth:`DfsmApp.process_state_update`); an unsynced member
goes to UPDATE and waits for the leader's UPDATEs and UPDATE_COMPLETE.

**Normal messages** are delivered at once in SYNCED mode; otherwise they wait in the message
queue (sorted by count, then sender) and are delivered after sync from members marked synced
(during UPDATE, those of synced members move to the sync queue, delivered first). After a
join, a member re-multicasts its own queued messages so that every member holds the same
queue. The sender of a message learns the result of its own apply (:class:`LocalResult`).

**Messages in flight across a join** (ours; pmxcfs loses them). corosync's totempg cuts a
message larger than a packet into fragments that SRP may send on different token visits; when
the ring changes between them, the old ring's members complete the message after the new
ring's sync, but a node that joined in the new ring never saw its first fragments and throws
the rest away (``totempg_deliver_fn``'s throw-away mode). So a normal message we multicast
before a configuration change with joined members, and that had not come back to us when it
happened, may reach the old members only, after the change. At such a change we re-multicast
those messages too, unchanged (same count), right after our queued ones; and a normal message
whose sender, pid and count are already in the queue is a duplicate and is dropped. Both
copies come before our STATE (one sender's messages keep their order), so every copy waits in
the queues of this sync: each member applies the message once, at the same place of the
queue. For that place to be the same everywhere, equal counts are ordered by sender (pmxcfs
orders them by arrival, which differs between the original and the copy).

**Errors.** Any inconsistency moves to LEAVE (the driver leaves the group and later calls
:meth:`Dfsm.initialize` for a full resync); a newer protocol version to VERSION_ERROR; an
application storage error to ERROR. Neither of the last two restarts.
"""

from __future__ import annotations

import bisect
import enum
import errno
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pvecluster.cfs.wire import (
    BASE_HEADER,
    ZERO_EPOCH,
    Epoch,
    MessageType,
    WireError,
    decode_normal,
    decode_state,
    encode_normal,
    encode_state,
)
from totem.srp.events import LogLevel, LogRecord

__all__ = [
    "Dfsm",
    "DfsmApp",
    "DfsmEvent",
    "LocalResult",
    "Mode",
    "ModeChanged",
    "NodeInfo",
    "SyncInfo",
]


class Mode(enum.IntEnum):
    START = 0
    START_SYNC = 1
    SYNCED = 2
    UPDATE = 3
    LEAVE = 253
    VERSION_ERROR = 254
    ERROR = 255


ERROR_MODE_START = 128

_MODE_LOG = {
    Mode.START: (LogLevel.NOTICE, "start cluster connection"),
    Mode.START_SYNC: (LogLevel.NOTICE, "starting data syncronisation"),
    Mode.SYNCED: (LogLevel.NOTICE, "all data is up to date"),
    Mode.UPDATE: (LogLevel.NOTICE, "waiting for updates from leader"),
    Mode.LEAVE: (LogLevel.ERROR, "leaving CPG group"),
    Mode.ERROR: (LogLevel.ERROR, "serious internal error - stop cluster connection"),
    Mode.VERSION_ERROR: (LogLevel.ERROR, "detected newer protocol - please update this node"),
}


@dataclass(frozen=True, slots=True)
class ModeChanged:
    mode: Mode


@dataclass(frozen=True, slots=True)
class LocalResult:
    """The outcome of one of our own normal messages (``processed`` False: never applied)."""

    count: int
    result: int
    processed: bool


DfsmEvent = ModeChanged | LocalResult | LogRecord


@dataclass(slots=True)
class NodeInfo:
    """``dfsm_node_info_t``: one member of the current configuration."""

    nodeid: int
    pid: int
    state: bytes | None = None
    synced: bool = False


@dataclass(slots=True)
class SyncInfo:
    """``dfsm_sync_info_t``: the members, sorted by ``(nodeid, pid)``, and the app's data."""

    nodes: list[NodeInfo]
    local: NodeInfo | None
    data: Any = None

    def lookup(self, nodeid: int, pid: int) -> NodeInfo | None:
        for node in self.nodes:
            if node.nodeid == nodeid and node.pid == pid:
                return node
        return None


@dataclass(slots=True)
class _Queued:
    nodeid: int
    pid: int
    count: int
    payload: bytes


class DfsmApp(Protocol):
    """The application on top (DCDB): the callbacks of ``dfsm_callbacks_t``.

    A callback returning False makes the DFSM leave the group.
    """

    def deliver(
        self,
        dfsm: Dfsm,
        nodeid: int,
        pid: int,
        subtype: int,
        msg_time: int,
        body: bytes,
        now: float,
    ) -> tuple[bool, int]: ...

    def get_state(self, dfsm: Dfsm) -> bytes | None: ...

    def process_state_update(self, dfsm: Dfsm, sync: SyncInfo, now: float) -> bool: ...

    def process_update(
        self, dfsm: Dfsm, sync: SyncInfo, nodeid: int, pid: int, body: bytes
    ) -> bool: ...

    def commit(self, dfsm: Dfsm, sync: SyncInfo, now: float) -> bool: ...

    def cleanup(self, dfsm: Dfsm, sync: SyncInfo) -> None: ...

    def checksum(self, dfsm: Dfsm) -> bytes | None: ...


@dataclass(slots=True)
class _Pending:
    count: int
    result: int = -errno.EBUSY
    processed: bool = False


class Dfsm:
    """One process's DFSM on one group (``dfsm_t``)."""

    def __init__(
        self,
        app: DfsmApp,
        nodeid: int,
        pid: int,
        *,
        protocol_version: int = 1,
        log_domain: str = "dcdb",
    ) -> None:
        self.app = app
        self.nodeid = nodeid
        self.pid = pid
        self.protocol_version = protocol_version
        self.log_domain = log_domain
        self.mode = Mode.START
        self.joined = False
        """Set by the driver once its join of the group is accepted (sending needs it)."""
        self.we_are_member = False
        self.sync_info: SyncInfo | None = None
        self.local_epoch_counter = 0
        self.sync_epoch = ZERO_EPOCH
        self.lowest_nodeid = 0
        self.msg_queue: list[_Queued] = []
        self._queue_keys: list[tuple[int, int, int]] = []
        """``(count, nodeid, pid)`` of each message of ``msg_queue``, in its order."""
        self.sync_queue: list[_Queued] = []
        self._queued: set[tuple[int, int, int]] = set()
        """``(nodeid, pid, count)`` of every message in the two queues (duplicates)."""
        self.msgcount = 0
        self._pending: dict[int, _Pending] = {}
        self._in_flight: dict[int, bytes] = {}
        """Our normal messages multicast but not yet delivered back to us, by count."""
        self.csum = b""
        self.csum_epoch = ZERO_EPOCH
        self.csum_id = 0
        self.csum_counter = 0
        self._outbox: list[bytes] = []
        self._events: list[DfsmEvent] = []
        self.counters = {
            "malformed": 0,
            "ignored_epoch": 0,
            "old_protocol": 0,
            "leaves": 0,
            "duplicates": 0,
            "resent_in_flight": 0,
        }

    # ------------------------------------------------------------------ outputs
    def outbox(self) -> list[bytes]:
        out, self._outbox = self._outbox, []
        return out

    def events(self) -> list[DfsmEvent]:
        out, self._events = self._events, []
        return out

    def log(self, level: LogLevel, message: str) -> None:
        self._events.append(LogRecord(level, self.log_domain, message))

    @property
    def restartable(self) -> bool:
        return self.mode not in (Mode.ERROR, Mode.VERSION_ERROR)

    @property
    def is_lowest(self) -> bool:
        return bool(self.lowest_nodeid) and self.lowest_nodeid == self.nodeid

    def is_local(self, nodeid: int, pid: int) -> bool:
        return nodeid == self.nodeid and pid == self.pid

    def set_mode(self, mode: Mode) -> None:
        """``dfsm_set_mode``: error modes only ever rise."""
        if self.mode == mode:
            return
        if not (mode < ERROR_MODE_START or self.mode < ERROR_MODE_START or mode >= self.mode):
            return
        self.mode = mode
        level, text = _MODE_LOG[mode]
        self.log(level, text)
        if mode == Mode.LEAVE:
            self.counters["leaves"] += 1
        self._events.append(ModeChanged(mode))

    def set_error_mode(self) -> None:
        self.set_mode(Mode.ERROR)

    # ------------------------------------------------------------------ life cycle
    def initialize(self) -> None:
        """``dfsm_initialize``: (re)start before joining: forget queues, fail waiting senders."""
        self.msg_queue.clear()
        self._queue_keys.clear()
        self.sync_queue.clear()
        self._queued.clear()
        self._in_flight.clear()
        self._abort_pending()
        self.joined = False
        self.we_are_member = False
        self.set_mode(Mode.START)

    def finalize(self) -> None:
        """``dfsm_finalize``: the group connection is gone; waiting senders fail."""
        self._abort_pending()
        self.joined = False
        self.we_are_member = False

    def _abort_pending(self) -> None:
        for pending in sorted(self._pending.values(), key=lambda p: p.count):
            self._events.append(LocalResult(pending.count, pending.result, pending.processed))
        self._pending.clear()

    # ------------------------------------------------------------------ sending
    def _mcast(self, payload: bytes) -> None:
        self._outbox.append(payload)

    def send_message(self, subtype: int, body: bytes, now: float) -> int | None:
        """Multicast a normal message; its :class:`LocalResult` follows its delivery.

        None when this process is not in the group (nothing is sent).
        """
        if not self.joined or self.mode >= ERROR_MODE_START:
            return None
        self.msgcount += 1
        count = self.msgcount
        self._pending[count] = _Pending(count)
        payload = encode_normal(subtype, self.protocol_version, int(now), count, body)
        self._in_flight[count] = payload
        self._mcast(payload)
        return count

    def send_message_nowait(self, subtype: int, body: bytes, now: float) -> bool:
        """A normal message nobody waits for (unlock requests)."""
        if not self.joined or self.mode >= ERROR_MODE_START:
            return False
        self.msgcount += 1
        payload = encode_normal(subtype, self.protocol_version, int(now), self.msgcount, body)
        self._in_flight[self.msgcount] = payload
        self._mcast(payload)
        return True

    def send_state(self, kind: MessageType, body: bytes, now: float) -> None:
        self._mcast(encode_state(kind, self.protocol_version, int(now), self.sync_epoch, body))

    def send_update(self, body: bytes, now: float) -> None:
        self.send_state(MessageType.UPDATE, body, now)

    def send_update_complete(self, now: float) -> None:
        self.send_state(MessageType.UPDATE_COMPLETE, b"", now)

    def _record_local_result(self, count: int, result: int, processed: bool) -> None:
        pending = self._pending.pop(count, None)
        if pending is not None:
            self._events.append(LocalResult(count, result, processed))

    # ------------------------------------------------------------------ queues
    def _queue_add(self, nodeid: int, pid: int, count: int, payload: bytes) -> bool:
        sync = self.sync_info
        info = None if sync is None else sync.lookup(nodeid, pid)
        if info is None:
            self.log(LogLevel.ERROR, "dfsm_node_info_lookup failed")
            return False
        queued = _Queued(nodeid, pid, count, payload)
        self._queued.add((nodeid, pid, count))
        if self.mode == Mode.UPDATE and info.synced:
            self.sync_queue.append(queued)
        else:
            key = (count, nodeid, pid)
            at = bisect.bisect_right(self._queue_keys, key)
            self._queue_keys.insert(at, key)
            self.msg_queue.insert(at, queued)
        return True

    def _reindex_queues(self) -> None:
        self._queue_keys = [(q.count, q.nodeid, q.pid) for q in self.msg_queue]
        self._queued = {(q.nodeid, q.pid, q.count) for q in (*self.msg_queue, *self.sync_queue)}

    def _deliver_queue(self, now: float) -> bool:
        if not self.msg_queue:
            return True
        self.log(LogLevel.NOTICE, f"dfsm_deliver_queue: queue length {len(self.msg_queue)}")
        sync = self.sync_info
        keep: list[_Queued] = []
        deliver: list[_Queued] = []
        result = True
        for index, queued in enumerate(self.msg_queue):
            info = None if sync is None else sync.lookup(queued.nodeid, queued.pid)
            if info is None:
                self.log(
                    LogLevel.NOTICE,
                    f"remove message from non-member {queued.nodeid}/{queued.pid}",
                )
                continue
            if self.mode == Mode.SYNCED:
                if info.synced:
                    deliver.append(queued)
                else:
                    keep.append(queued)
            elif self.mode == Mode.UPDATE:
                if info.synced:
                    self.sync_queue.append(queued)
                else:
                    keep.append(queued)
            else:
                keep.extend(self.msg_queue[index:])
                result = False
                break
        self.msg_queue = keep
        self._reindex_queues()
        for queued in deliver:
            self._deliver_now(queued.nodeid, queued.pid, queued.payload, now)
        return result

    def _deliver_sync_queue(self, now: float) -> bool:
        if not self.sync_queue:
            return True
        self.log(LogLevel.NOTICE, f"dfsm_deliver_sync_queue: queue length {len(self.sync_queue)}")
        queue, self.sync_queue = self.sync_queue, []
        self._reindex_queues()
        result = True
        for queued in queue:
            if result and self.mode == Mode.SYNCED:
                self._deliver_now(queued.nodeid, queued.pid, queued.payload, now)
            else:
                result = False
        return result

    def _resend(self) -> None:
        """After a join: our queued messages (pmxcfs's ``dfsm_resend_queue``), then those
        still in flight, in count order; the queue is emptied (every member does the same)."""
        resend = {
            queued.count: queued.payload
            for queued in self.msg_queue
            if self.is_local(queued.nodeid, queued.pid)
        }
        if self.msg_queue:
            self.log(LogLevel.NOTICE, f"queue not emtpy - resening {len(self.msg_queue)} messages")
        in_flight = [count for count in self._in_flight if count not in resend]
        if in_flight:
            self.log(
                LogLevel.NOTICE,
                f"resending {len(in_flight)} messages in flight across the membership change",
            )
            self.counters["resent_in_flight"] += len(in_flight)
            resend.update((count, self._in_flight[count]) for count in in_flight)
        for count in sorted(resend):
            self._mcast(resend[count])
        self.msg_queue.clear()
        self._reindex_queues()

    def _release_sync_resources(self, members: Sequence[tuple[int, int]] | None) -> None:
        sync = self.sync_info
        if sync is not None:
            if sync.data is not None:
                self.app.cleanup(self, sync)
                sync.data = None
            for node in sync.nodes:
                node.state = None
        if members is not None:
            nodes = [NodeInfo(nodeid, pid) for nodeid, pid in sorted(members)]
            local = next((n for n in nodes if self.is_local(n.nodeid, n.pid)), None)
            self.sync_info = SyncInfo(nodes, local)

    # ------------------------------------------------------------------ group events
    def confchg(
        self,
        members: Sequence[tuple[int, int]],
        joined: Sequence[tuple[int, int]],
        left: Sequence[tuple[int, int]],
        now: float,
    ) -> None:
        """``dfsm_cpg_confchg_callback``: a new configuration of the group."""
        self.we_are_member = False
        self.local_epoch_counter += 1
        self.sync_epoch = Epoch(self.local_epoch_counter, int(now), self.nodeid, self.pid)
        self.csum_id = self.csum_counter
        self.csum_epoch = ZERO_EPOCH
        self.sync_queue.clear()
        self._reindex_queues()
        mode = self.mode
        if mode >= ERROR_MODE_START:
            return
        lowest = 0
        for nodeid, pid in members:
            if lowest == 0 or nodeid < lowest:
                lowest = nodeid
            if self.is_local(nodeid, pid):
                self.we_are_member = True
        if self.we_are_member or mode != Mode.START:
            listed = ", ".join(f"{n}/{p}" for n, p in members)
            self.log(LogLevel.NOTICE, f"members: {listed}")
        self.lowest_nodeid = lowest
        self._release_sync_resources(members)
        if not self.we_are_member:
            if mode == Mode.START:
                return
            self.log(LogLevel.NOTICE, f"we ({self.nodeid}/{self.pid}) left the process group")
            self.set_mode(Mode.LEAVE)
            return
        if len(members) > 1:
            if joined and (self.msg_queue or self._in_flight):
                self._resend()
            self.set_mode(Mode.START_SYNC)
            if lowest == self.nodeid:
                self.send_state(MessageType.SYNC_START, b"", now)
        else:
            self.set_mode(Mode.SYNCED)
            assert self.sync_info is not None and self.sync_info.local is not None
            self.sync_info.local.synced = True
            if not self._deliver_queue(now):
                self.set_mode(Mode.LEAVE)

    def deliver(self, nodeid: int, pid: int, payload: bytes, now: float) -> None:
        """``dfsm_cpg_deliver_callback``: one message of the group, in agreed order."""
        if not self._deliver_now(nodeid, pid, payload, now, fresh=True):
            self.set_mode(Mode.LEAVE)
            self._release_sync_resources(None)

    def _deliver_now(
        self, nodeid: int, pid: int, payload: bytes, now: float, *, fresh: bool = False
    ) -> bool:
        """Process one message (``fresh``: from the group, not from a queue); False: leave."""
        mode = self.mode
        if mode >= ERROR_MODE_START:
            return True
        if self.sync_info is None:
            self.log(LogLevel.ERROR, "no dfsm_sync_info - internal error")
            return False
        if len(payload) < BASE_HEADER.size:
            self.counters["malformed"] += 1
            self.log(LogLevel.ERROR, f"received short message ({len(payload)} bytes)")
            return False
        kind, subtype, version, _time, _reserved = BASE_HEADER.unpack_from(payload)
        if version > self.protocol_version:
            self.log(LogLevel.ERROR, f"received message with protocol version {version}")
            self.set_mode(Mode.VERSION_ERROR)
            return True
        if version < self.protocol_version:
            self.counters["old_protocol"] += 1
            self.log(LogLevel.NOTICE, f"ignore message with wrong protocol version {version}")
            return True
        if kind == MessageType.NORMAL:
            return self._deliver_normal(nodeid, pid, payload, now, fresh)
        try:
            state_kind, epoch, body = decode_state(payload)
        except WireError as err:
            self.counters["malformed"] += 1
            self.log(LogLevel.ERROR, f"{err} (type = {kind}, subtype = {subtype})")
            return False
        if state_kind != MessageType.SYNC_START and epoch != self.sync_epoch:
            self.counters["ignored_epoch"] += 1
            return True
        return self._deliver_state(nodeid, pid, state_kind, epoch, body, now)

    def _deliver_normal(
        self, nodeid: int, pid: int, payload: bytes, now: float, fresh: bool
    ) -> bool:
        try:
            subtype, msg_time, count, body = decode_normal(payload)
        except WireError as err:
            self.counters["malformed"] += 1
            self.log(LogLevel.ERROR, str(err))
            return False
        if fresh:
            if self.is_local(nodeid, pid):
                self._in_flight.pop(count, None)
            if (nodeid, pid, count) in self._queued:
                self.counters["duplicates"] += 1
                self.log(LogLevel.DEBUG, f"drop duplicate message {count} from {nodeid}/{pid}")
                return True
        if self.mode != Mode.SYNCED:
            return self._queue_add(nodeid, pid, count, payload)
        ok, result = self.app.deliver(self, nodeid, pid, subtype, msg_time, body, now)
        if self.is_local(nodeid, pid):
            self._record_local_result(count, result, ok)
        return ok

    def _deliver_state(
        self, nodeid: int, pid: int, kind: int, epoch: Epoch, body: bytes, now: float
    ) -> bool:
        sync = self.sync_info
        assert sync is not None
        mode = self.mode
        if mode == Mode.SYNCED:
            if kind == MessageType.UPDATE_COMPLETE:
                for node in sync.nodes:
                    node.synced = True
                return self._deliver_queue(now)
            if kind == MessageType.VERIFY_REQUEST:
                return self._verify_request_received(nodeid, pid, epoch, body, now)
            if kind == MessageType.VERIFY:
                return self._verify_received(epoch, body)
            return True  # we already have everything, or we are the leader
        if mode == Mode.START_SYNC:
            if kind == MessageType.SYNC_START:
                if nodeid != self.lowest_nodeid:
                    self.log(
                        LogLevel.ERROR, f"ignore sync request from wrong member {nodeid}/{pid}"
                    )
                self.log(
                    LogLevel.NOTICE,
                    f"received sync request (epoch {epoch.nodeid}/{epoch.pid}/{epoch.epoch:08X})",
                )
                self.sync_epoch = epoch
                self._release_sync_resources(None)
                state = self.app.get_state(self)
                if not state:
                    self.log(LogLevel.ERROR, "dfsm_get_state_fn failed")
                    return False
                self.send_state(MessageType.STATE, state, now)
                return True
            if kind == MessageType.STATE:
                info = sync.lookup(nodeid, pid)
                if info is None:
                    self.log(LogLevel.ERROR, f"received state for non-member {nodeid}/{pid}")
                    return False
                if info.state is not None:
                    self.log(LogLevel.ERROR, f"received duplicate state for member {nodeid}/{pid}")
                    return False
                info.state = body
                if all(node.state is not None for node in sync.nodes):
                    self.log(LogLevel.NOTICE, "received all states")
                    if not self.app.process_state_update(self, sync, now):
                        return False
                    if sync.local is not None and sync.local.synced:
                        self.set_mode(Mode.SYNCED)
                        self._release_sync_resources(None)
                    else:
                        self.set_mode(Mode.UPDATE)
                    return self._deliver_queue(now)
                return True
        elif mode == Mode.UPDATE:
            if kind == MessageType.UPDATE:
                return self.app.process_update(self, sync, nodeid, pid, body)
            if kind == MessageType.UPDATE_COMPLETE:
                if not self.app.commit(self, sync, now):
                    return False
                for node in sync.nodes:
                    node.synced = True
                self.set_mode(Mode.SYNCED)
                if not self._deliver_sync_queue(now):
                    return False
                if not self._deliver_queue(now):
                    return False
                self._release_sync_resources(None)
                return True
        else:
            self.log(LogLevel.ERROR, f"internal error - unknown mode {mode}")
            return False
        if kind in (MessageType.VERIFY_REQUEST, MessageType.VERIFY):
            return True  # ignored while not synced
        self.log(
            LogLevel.ERROR,
            f"received unknown state message type (type = {kind}, {len(body)} bytes)",
        )
        return False

    # ------------------------------------------------------------------ verification
    def verify_request(self, now: float) -> bool:
        """``dfsm_verify_request``: the lowest node id, when synced, asks all to checksum."""
        if not self.is_lowest or self.mode != Mode.SYNCED or not self.joined:
            return False
        if self.csum_counter != self.csum_id:
            self.log(LogLevel.NOTICE, f"delay verify request {self.csum_counter + 1:016X}")
            return False
        self.csum_counter += 1
        self.send_state(MessageType.VERIFY_REQUEST, self.csum_counter.to_bytes(8, "little"), now)
        return True

    def _verify_request_received(
        self, nodeid: int, pid: int, epoch: Epoch, body: bytes, now: float
    ) -> bool:
        if len(body) != 8:
            self.log(
                LogLevel.ERROR,
                f"cpg received verify request with wrong length ({len(body)} bytes) "
                f"form node {nodeid}/{pid}",
            )
            return False
        csum = self.app.checksum(self)
        if csum is None:
            self.log(LogLevel.ERROR, "unable to compute data checksum")
            return False
        self.csum = csum
        self.csum_epoch = epoch
        self.csum_id = int.from_bytes(body, "little")
        if self.is_local(nodeid, pid):
            self.send_state(MessageType.VERIFY, body + csum, now)
        return True

    def _verify_received(self, epoch: Epoch, body: bytes) -> bool:
        if len(body) != 40:
            self.log(
                LogLevel.ERROR, f"cpg received verify message with wrong length ({len(body)} bytes)"
            )
            return False
        csum_id = int.from_bytes(body[:8], "little")
        if self.csum_id == csum_id and self.csum_epoch == epoch:
            if body[8:] != self.csum:
                self.log(
                    LogLevel.ERROR,
                    f"wrong checksum {int.from_bytes(body[8:16], 'little'):016X} != "
                    f"{int.from_bytes(self.csum[:8], 'little'):016X} - restarting",
                )
                return False
            self.log(LogLevel.NOTICE, "data verification successful")
        else:
            self.log(LogLevel.NOTICE, "skip verification - no checksum saved")
        return True

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        sync = self.sync_info
        return {
            "mode": self.mode.name,
            "joined": self.joined,
            "members": [] if sync is None else [[n.nodeid, n.pid] for n in sync.nodes],
            "synced": [] if sync is None else [[n.nodeid, n.pid] for n in sync.nodes if n.synced],
            "queue": len(self.msg_queue),
            "epoch": [self.sync_epoch.nodeid, self.sync_epoch.pid, self.sync_epoch.epoch],
            "counters": dict(self.counters),
        }
