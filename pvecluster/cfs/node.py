"""One node's replicated filesystem, sans-IO: memdb + DCDB + DFSM + quorum gating.

:class:`CfsNode` is what ``pycorosync-cfsd`` and the simulator drive (ref cluster-manager.md
4.3-4.8). Inputs are the process group's events, the quorate flag and file operations; outputs
are the messages to multicast and events::

    node.group_confchg(members, joined, left, now)
    node.group_deliver(nodeid, pid, payload, now)
    node.set_quorate(quorate)
    node.submit(FsOp(DcdbOp.WRITE, "x.cfg", data=b"..."), now) -> OpDone | int (a count)
    node.next_deadline() / node.on_deadline(now)        # the verification timer
    node.outbox() -> list[bytes];  node.events() -> list[CfsEvent]

**Cluster mode**: a write is refused at once with ``EACCES`` when the node is not quorate
(pmxcfs's sender-side check); otherwise it is multicast and its result arrives as
:class:`OpDone` once the operation is applied here, at its place in the total order.
**Local mode** (``pmxcfs -l``, or no corosync.conf): operations apply at once with writer 0
and the node is always quorate.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pvecluster.cfs.dcdb import CorosyncConfUpdated, Dcdb, TreeUpdated, path_is_lockdir
from pvecluster.cfs.dfsm import Dfsm, LocalResult, Mode, ModeChanged
from pvecluster.cfs.memdb import MemDb, MemDbError, entry_csum
from pvecluster.cfs.wire import DcdbOp, FsMessage, encode_fs_message, encode_unlock
from totem.srp.events import LogRecord

__all__ = ["DEFAULT_VERIFY_INTERVAL", "CfsEvent", "CfsNode", "FsOp", "OpDone"]

DEFAULT_VERIFY_INTERVAL = 3600.0
"""``DCDB_VERIFY_TIME``: seconds between checksum verifications."""


@dataclass(frozen=True, slots=True)
class FsOp:
    """A file operation as DCDB carries it (``offset`` is the mtime of MTIME)."""

    op: DcdbOp
    path: str
    to: str | None = None
    data: bytes = b""
    offset: int = 0
    flags: int = 0


@dataclass(frozen=True, slots=True)
class OpDone:
    """The result of a submitted operation: ``>= 0`` success, else ``-errno``."""

    count: int
    result: int


CfsEvent = OpDone | CorosyncConfUpdated | TreeUpdated | ModeChanged | LogRecord


class CfsNode:
    """memdb, the DFSM and DCDB of one node."""

    def __init__(
        self,
        memdb: MemDb,
        nodeid: int,
        pid: int,
        *,
        local_mode: bool = False,
        verify_interval: float = DEFAULT_VERIFY_INTERVAL,
        watched: tuple[str, ...] = (),
    ) -> None:
        self.memdb = memdb
        self.nodeid = nodeid
        self.pid = pid
        self.local_mode = local_mode
        self.dcdb = Dcdb(memdb, watched=watched)
        self.dfsm = Dfsm(self.dcdb, nodeid, pid)
        # one list for both, so that events keep the order in which they happened
        self._shared: list[object] = []
        self.dfsm._events = self._shared  # type: ignore[assignment]
        self.dcdb._events = self._shared  # type: ignore[assignment]
        self.verify_interval = verify_interval
        self._next_verify: float | None = None
        self._events: list[CfsEvent] = []
        self.refused_inquorate = 0
        """Writes refused at the sender because the node was not quorate."""

    # ------------------------------------------------------------------ state
    @property
    def quorate(self) -> bool:
        return self.local_mode or self.dcdb.quorate

    def set_quorate(self, quorate: bool) -> None:
        self.dcdb.quorate = quorate

    @property
    def synced(self) -> bool:
        return self.local_mode or self.dfsm.mode == Mode.SYNCED

    # ------------------------------------------------------------------ group
    def initialize(self) -> None:
        """Before (re)joining the group."""
        self.dfsm.initialize()

    def joined(self, now: float) -> None:
        """The driver's join of the group was accepted: sending is possible."""
        self.dfsm.joined = True
        self._next_verify = now + self.verify_interval

    def group_confchg(
        self,
        members: list[tuple[int, int]],
        joined: list[tuple[int, int]],
        left: list[tuple[int, int]],
        now: float,
    ) -> None:
        self.dfsm.confchg(members, joined, left, now)

    def group_deliver(self, nodeid: int, pid: int, payload: bytes, now: float) -> None:
        self.dfsm.deliver(nodeid, pid, payload, now)

    def left_group(self) -> None:
        """The group connection is gone (left, or the engine died)."""
        self.dfsm.finalize()

    # ------------------------------------------------------------------ operations
    def submit(self, op: FsOp, now: float) -> OpDone | int:
        """Apply (local mode) or multicast ``op``; a count means: wait for its OpDone."""
        if self.local_mode:
            return OpDone(0, self._apply_locally(op, now))
        if not self.dcdb.quorate:
            self.refused_inquorate += 1
            return OpDone(0, -errno.EACCES)
        if op.op == DcdbOp.MTIME and op.offset == 0:
            # utime(path, 0, 0) on a lock directory: an unlock request first
            entry = self.memdb.lookup(op.path)
            if entry is not None and entry.is_dir and path_is_lockdir(op.path):
                self.dfsm.send_message_nowait(
                    DcdbOp.UNLOCK_REQUEST, encode_unlock(op.path, entry_csum(entry)), now
                )
        body = encode_fs_message(FsMessage(op.path, op.to, op.data, op.offset, op.flags))
        count = self.dfsm.send_message(op.op, body, now)
        if count is None:
            return OpDone(0, -errno.EACCES)
        return count

    def _apply_locally(self, op: FsOp, now: float) -> int:
        memdb = self.memdb
        mtime = int(now)
        try:
            if op.op == DcdbOp.WRITE:
                return memdb.write(op.path, 0, mtime, op.data, op.offset, truncate=bool(op.flags))
            if op.op == DcdbOp.CREATE:
                memdb.create(op.path, 0, mtime)
            elif op.op == DcdbOp.MKDIR:
                memdb.mkdir(op.path, 0, mtime, now=now)
            elif op.op == DcdbOp.DELETE:
                memdb.delete(op.path, 0, mtime)
            elif op.op == DcdbOp.RENAME:
                memdb.rename(op.path, op.to or "", 0, mtime)
            elif op.op == DcdbOp.MTIME:
                entry = memdb.lookup(op.path)
                if (
                    op.offset == 0
                    and entry is not None
                    and entry.is_dir
                    and path_is_lockdir(op.path)
                    and memdb.lock_expired(op.path.strip("/"), entry_csum(entry), now)
                ):
                    memdb.delete(op.path, 0, mtime)
                else:
                    memdb.set_mtime(op.path, 0, op.offset, now=now)
            else:
                return -errno.ENOTSUP
        except MemDbError as err:
            return -err.errno
        return 0

    # ------------------------------------------------------------------ timer
    def next_deadline(self) -> float | None:
        if self.local_mode or not self.dfsm.joined:
            return None
        return self._next_verify

    def on_deadline(self, now: float) -> None:
        if self._next_verify is not None and now >= self._next_verify:
            self._next_verify = now + self.verify_interval
            self.dfsm.verify_request(now)

    # ------------------------------------------------------------------ outputs
    def outbox(self) -> list[bytes]:
        return self.dfsm.outbox()

    def events(self) -> list[CfsEvent]:
        out: list[CfsEvent] = []
        for event in self._shared:
            if isinstance(event, LocalResult):
                out.append(OpDone(event.count, event.result))
            elif isinstance(event, (CorosyncConfUpdated, TreeUpdated, ModeChanged, LogRecord)):
                out.append(event)
        self._shared.clear()
        return out
