"""DCDB: the replicated database on the DFSM (ref cluster-manager.md 4.3-4.7).

:class:`Dcdb` is the application of :class:`~pvecluster.cfs.dfsm.Dfsm` on the group
``pve_dcdb_v1`` (protocol 1):

* its state is the memdb index; the **leader** is the member with the highest index
  ``version``, then the higher ``mtime``, then the first in ``(nodeid, pid)`` order; members
  whose index equals the leader's byte for byte are synced; the leader alone sends every entry
  an unsynced member lacks (UPDATE), then UPDATE_COMPLETE; an unsynced member replaces its
  whole tree with the leader's in one transaction (:meth:`MemDb.commit_update`);
* delivered operations (WRITE, CREATE, MKDIR, DELETE, RENAME, MTIME, UNLOCK_REQUEST, UNLOCK)
  are applied with ``writer`` = the sender's node id and ``mtime`` = the message's time; the
  sender gets the result;
* **quorum gating**: a node that receives a write while not quorate logs ``received write
  while not quorate - trigger resync`` and leaves (then resyncs);
* **locks**: an unlock request is acted on by the lowest node id only, when the lock has been
  seen for more than 120 s on its clock; it multicasts UNLOCK, and every node deletes the
  directory if its checksum still matches;
* **corosync.conf**: after an applied write, create or rename onto ``corosync.conf`` (and
  after a sync commit) a :class:`CorosyncConfUpdated` event carries the content; the driver
  applies the propagation rules (:mod:`pvecluster.corosync.propagate`), reloading only when
  this node originated the change;
* **mirrored subtrees** (ours): a node keeps some replicated directories as local files (the
  quorum device certificates, as Proxmox copies them to every node): after an applied
  operation touching a watched directory, or a sync commit that changed it, a
  :class:`TreeUpdated` event carries its files (None when the directory is gone).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from pvecluster.cfs.dfsm import Dfsm, SyncInfo
from pvecluster.cfs.memdb import (
    LOCK_DIR,
    MemDb,
    MemDbError,
    TreeEntry,
    decode_index,
    entry_csum,
    split_path,
)
from pvecluster.cfs.wire import (
    DcdbOp,
    WireError,
    decode_fs_message,
    decode_unlock,
    decode_update,
    encode_unlock,
    encode_update,
)
from totem.srp.events import LogLevel, LogRecord

__all__ = [
    "CPG_GROUP",
    "PROTOCOL_VERSION",
    "CorosyncConfUpdated",
    "Dcdb",
    "TreeUpdated",
    "path_is_lockdir",
    "select_leader",
]

CPG_GROUP = "pve_dcdb_v1"
PROTOCOL_VERSION = 1
COROSYNC_CONF = "corosync.conf"


@dataclass(frozen=True, slots=True)
class CorosyncConfUpdated:
    """The replicated corosync.conf changed (``data``: its content at that point).

    ``notify``: this node originated the change, so it alone asks for the cluster-wide reload.
    """

    data: bytes
    notify: bool
    after_sync: bool = False
    """Written by a sync commit (the whole tree came from the leader)."""


@dataclass(frozen=True, slots=True)
class TreeUpdated:
    """A watched directory changed: its files (``(relative path, data)``, sorted) at that
    point of the order, or None when the directory no longer exists."""

    prefix: str
    files: tuple[tuple[str, bytes], ...] | None


def tree_files(memdb: MemDb, prefix: str) -> tuple[tuple[str, bytes], ...] | None:
    """The regular files below ``prefix`` (None when it is not a directory)."""
    top = memdb.lookup(prefix)
    if top is None or not top.is_dir:
        return None
    found: list[tuple[str, bytes]] = []

    def visit(path: str, inode: int) -> None:
        entry = memdb.index[inode]
        for name in sorted(entry.children):
            child = memdb.index[entry.children[name]]
            relative = f"{path}{name}"
            if child.is_dir:
                visit(relative + "/", child.inode)
            else:
                found.append((relative, child.data))

    visit("", top.inode)
    return tuple(found)


def _touches(path: str | None, prefix: str) -> bool:
    if not path:
        return False
    path = path.strip("/")
    return path == prefix or path.startswith(prefix + "/") or prefix.startswith(path + "/")


def path_is_lockdir(path: str) -> bool:
    """``priv/lock/<name>``: a lock directory (the caller checks it is a directory)."""
    dirname, base = split_path(path.strip("/"))
    return dirname == LOCK_DIR and bool(base)


def select_leader(versions: list[tuple[int, int]]) -> int:
    """``dcdb_select_leader`` over ``(version, mtime)`` of the sorted members."""
    leader = -1
    for i, (version, mtime) in enumerate(versions):
        if leader < 0:
            leader = i
            continue
        best_version, best_mtime = versions[leader]
        if (version == best_version and mtime > best_mtime) or version > best_version:
            leader = i
    return leader


@dataclass(slots=True)
class _SyncData:
    master: bytes
    local: bytes
    updates: list[TreeEntry] = field(default_factory=list)


class Dcdb:
    """The DFSM application of the replicated database."""

    def __init__(self, memdb: MemDb, *, watched: tuple[str, ...] = ()) -> None:
        self.memdb = memdb
        self.watched = watched
        """Directories whose changes are reported as :class:`TreeUpdated`."""
        self.quorate = False
        self.leader: tuple[int, int] | None = None
        """The leader of the last sync (node id, pid)."""
        self._events: list[CorosyncConfUpdated | TreeUpdated | LogRecord] = []

    def events(self) -> list[CorosyncConfUpdated | TreeUpdated | LogRecord]:
        out, self._events = self._events, []
        return out

    def _log(self, level: LogLevel, message: str) -> None:
        self._events.append(LogRecord(level, "dcdb", message))

    def _corosync_conf_changed(self, notify: bool, after_sync: bool = False) -> None:
        entry = self.memdb.lookup(COROSYNC_CONF)
        if entry is not None and not entry.is_dir:
            self._events.append(CorosyncConfUpdated(entry.data, notify, after_sync))

    # ------------------------------------------------------------------ DfsmApp
    def deliver(
        self,
        dfsm: Dfsm,
        nodeid: int,
        pid: int,
        subtype: int,
        msg_time: int,
        body: bytes,
        now: float,
    ) -> tuple[bool, int]:
        try:
            op = DcdbOp(subtype)
        except ValueError:
            self._log(LogLevel.ERROR, f"received unknown message type (msg_type == {subtype})")
            return False, -errno.ENOTSUP
        if not self.quorate:
            self._log(LogLevel.ERROR, "received write while not quorate - trigger resync")
            return False, -errno.EACCES
        local = dfsm.is_local(nodeid, pid)
        memdb = self.memdb
        watched_before = self._watched_before(op, body)
        try:
            if op in (DcdbOp.UNLOCK_REQUEST, DcdbOp.UNLOCK):
                path, csum = decode_unlock(body)
                self._unlock(dfsm, op, path, csum, nodeid, msg_time, now)
                result = 0
            else:
                message = decode_fs_message(body)
                path = message.path or ""
                result = 0
                if op == DcdbOp.WRITE:
                    result = memdb.write(
                        path,
                        nodeid,
                        msg_time,
                        message.data,
                        message.offset,
                        truncate=bool(message.flags),
                    )
                    if path == COROSYNC_CONF:
                        self._corosync_conf_changed(local)
                elif op == DcdbOp.CREATE:
                    memdb.create(path, nodeid, msg_time)
                    if path == COROSYNC_CONF:
                        self._corosync_conf_changed(local)
                elif op == DcdbOp.MKDIR:
                    memdb.mkdir(path, nodeid, msg_time, now=now)
                elif op == DcdbOp.DELETE:
                    memdb.delete(path, nodeid, msg_time)
                elif op == DcdbOp.RENAME:
                    memdb.rename(path, message.to or "", nodeid, msg_time)
                    if message.to == COROSYNC_CONF:
                        self._corosync_conf_changed(local)
                elif op == DcdbOp.MTIME:
                    memdb.set_mtime(path, nodeid, message.offset, now=now)
        except WireError as err:
            self._log(LogLevel.ERROR, str(err))
            return False, -errno.EINVAL
        except MemDbError as err:
            result = -err.errno
        if memdb.errors:
            dfsm.set_error_mode()
            return False, result
        for prefix, files in watched_before.items():
            after = tree_files(memdb, prefix)
            if after != files:
                self._events.append(TreeUpdated(prefix, after))
        return True, result

    def _watched_before(self, op: DcdbOp, body: bytes) -> dict[str, object]:
        """The watched directories an operation may change, with their files before it."""
        if not self.watched or op in (DcdbOp.UNLOCK_REQUEST, DcdbOp.UNLOCK):
            return {}
        try:
            message = decode_fs_message(body)
        except WireError:
            return {}
        return {
            prefix: tree_files(self.memdb, prefix)
            for prefix in self.watched
            if _touches(message.path, prefix) or _touches(message.to, prefix)
        }

    def _unlock(
        self,
        dfsm: Dfsm,
        op: DcdbOp,
        path: str,
        csum: bytes,
        nodeid: int,
        msg_time: int,
        now: float,
    ) -> None:
        entry = self.memdb.lookup(path)
        if entry is None or not entry.is_dir or not path_is_lockdir(path):
            return
        if entry_csum(entry) != csum:
            return
        if op == DcdbOp.UNLOCK:
            try:
                self.memdb.delete(path, nodeid, msg_time)
            except MemDbError:
                pass
        elif dfsm.is_lowest and self.memdb.lock_expired(path.strip("/"), csum, now):
            dfsm.send_message_nowait(DcdbOp.UNLOCK, encode_unlock(path, csum), now)

    def get_state(self, dfsm: Dfsm) -> bytes | None:
        return self.memdb.encode_index()

    def process_state_update(self, dfsm: Dfsm, sync: SyncInfo, now: float) -> bool:
        try:
            headers = [decode_index(node.state or b"")[0] for node in sync.nodes]
        except ValueError as err:
            self._log(LogLevel.ERROR, str(err))
            return False
        leader = select_leader([(h.version, h.mtime) for h in headers])
        if leader < 0:
            self._log(LogLevel.ERROR, "unable to select leader failed")
            return False
        leader_node = sync.nodes[leader]
        self.leader = (leader_node.nodeid, leader_node.pid)
        self._log(LogLevel.NOTICE, f"leader is {leader_node.nodeid}/{leader_node.pid}")
        master = leader_node.state or b""
        synced = [f"{leader_node.nodeid}/{leader_node.pid}"]
        local_state = b""
        for i, node in enumerate(sync.nodes):
            if i == leader:
                node.synced = True
            elif node.state == master:
                node.synced = True
                synced.append(f"{node.nodeid}/{node.pid}")
            if dfsm.is_local(node.nodeid, node.pid):
                local_state = node.state or b""
        self._log(LogLevel.NOTICE, f"synced members: {', '.join(synced)}")
        sync.data = _SyncData(master, local_state)
        if dfsm.is_local(leader_node.nodeid, leader_node.pid):
            self._send_updates(dfsm, sync, master, now)
        return True

    def _send_updates(self, dfsm: Dfsm, sync: SyncInfo, master: bytes, now: float) -> None:
        _, master_entries = decode_index(master)
        wanted: set[int] = set()
        for node in sync.nodes:
            if node.state == master or node.state is None:
                continue
            _, entries = decode_index(node.state)
            have = set(entries)
            wanted.update(inode for inode, digest in master_entries if (inode, digest) not in have)
        self._log(LogLevel.NOTICE, "start sending inode updates")
        for inode in sorted(wanted):
            entry = self.memdb.index.get(inode)
            if entry is None:
                self._log(LogLevel.ERROR, f"can get inode data for inode {inode:016X}")
                continue
            dfsm.send_update(encode_update(entry), now)
        self._log(LogLevel.NOTICE, f"sent all ({len(wanted)}) updates")
        dfsm.send_update_complete(now)

    def process_update(
        self, dfsm: Dfsm, sync: SyncInfo, nodeid: int, pid: int, body: bytes
    ) -> bool:
        data = sync.data
        if not isinstance(data, _SyncData):
            return False
        try:
            data.updates.append(decode_update(body))
        except WireError as err:
            self._log(LogLevel.ERROR, str(err))
            return False
        return True

    def commit(self, dfsm: Dfsm, sync: SyncInfo, now: float) -> bool:
        data = sync.data
        if not isinstance(data, _SyncData):
            return False
        self._log(
            LogLevel.NOTICE,
            f"update complete - trying to commit (got {len(data.updates)} inode updates)",
        )
        before = {prefix: tree_files(self.memdb, prefix) for prefix in self.watched}
        try:
            self.memdb.commit_update(data.master, data.local, data.updates, now)
        except MemDbError as err:
            self._log(LogLevel.ERROR, f"commit failed: {err}")
            dfsm.set_error_mode()
            return False
        self._corosync_conf_changed(False, after_sync=True)
        for prefix, files in before.items():
            after = tree_files(self.memdb, prefix)
            if after != files:
                self._events.append(TreeUpdated(prefix, after))
        return True

    def cleanup(self, dfsm: Dfsm, sync: SyncInfo) -> None:
        sync.data = None

    def checksum(self, dfsm: Dfsm) -> bytes | None:
        return self.memdb.checksum()
