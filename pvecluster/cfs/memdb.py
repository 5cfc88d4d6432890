"""memdb: the replicated tree, its global version and its index (ref cluster-manager.md 4.2).

Every node holds the whole tree in memory and persists it through a :class:`Backend`
(:mod:`pvecluster.cfs.database` for sqlite3, :class:`MemoryBackend` for the simulator).

* Entries carry ``inode, parent, version, writer, mtime, type, name`` and data (a file) or
  children (a directory). The root is inode 0.
* One global counter, the root's ``version``, rises by one on **every** change (create,
  write, mkdir, delete, rename, mtime); the change also stamps the root's ``writer`` and
  ``mtime`` and the touched entry's ``version``, ``writer`` and ``mtime``. A new entry's inode
  is the new root version. A rename keeps the inode.
* The *index* (:meth:`MemDb.encode_index`) is what the DFSM exchanges as state: a 32-byte
  header ``version u64, last_inode u64, writer u32, mtime u32, size u32, bytes u32`` and, per
  entry sorted by inode, ``inode u64`` and the SHA-256 of the entry's fields. The
  :meth:`MemDb.checksum` hashes the same fields of every entry in one digest.

Operations raise :class:`MemDbError` with an ``errno``; a storage failure sets
:attr:`MemDb.errors` (then every later change fails with ``EIO``, as pmxcfs's).
"""

from __future__ import annotations

import errno
import hashlib
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DT_DIR",
    "DT_REG",
    "INDEX_ENTRY",
    "INDEX_HEADER",
    "LOCK_DIR",
    "LOCK_TIMEOUT",
    "MAX_FILE_SIZE",
    "VERSION_ROW_NAME",
    "Backend",
    "DbLoadError",
    "IndexHeader",
    "MemDb",
    "MemDbError",
    "MemoryBackend",
    "Row",
    "TreeEntry",
    "decode_index",
    "entry_csum",
    "split_path",
]

DT_DIR = 4
DT_REG = 8
MAX_FILE_SIZE = 1024 * 1024
"""``MEMDB_MAX_FILE_SIZE``: a file larger than 1 MiB is refused with ``EFBIG``."""
MAX_FS_SIZE = 128 * 1024 * 1024
MAX_INODES = 256 * 1024
BLOCK_SIZE = 4096
LOCK_DIR = "priv/lock"
LOCK_TIMEOUT = 120
"""Seconds after which the lowest node id expires a lock it first saw that long ago."""
VERSION_ROW_NAME = "__version__"
"""The sqlite row (inode 0) carrying the root's version, writer and mtime."""

INDEX_HEADER = struct.Struct("<QQIIII")
INDEX_ENTRY = struct.Struct("<Q32s")
_DIGEST_FIELDS = struct.Struct("<QIIIBQ")  # version writer mtime size type parent
_CSUM_FIELDS = struct.Struct("<QQIIIBQ")  # inode + the above


class MemDbError(Exception):
    """An operation refused with ``errno`` (pmxcfs's negative return values)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or errno.errorcode.get(code, str(code)))
        self.errno = code


class DbLoadError(Exception):
    """The stored tree is inconsistent (pmxcfs: ``DB load failed``); the message says why."""


@dataclass(slots=True)
class TreeEntry:
    """One file or directory (``memdb_tree_entry_t``)."""

    inode: int
    parent: int
    version: int
    writer: int
    mtime: int
    type: int
    name: str
    data: bytes = b""
    children: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data) if self.type == DT_REG else 0

    @property
    def is_dir(self) -> bool:
        return self.type == DT_DIR

    def copy(self) -> TreeEntry:
        return TreeEntry(
            self.inode,
            self.parent,
            self.version,
            self.writer,
            self.mtime,
            self.type,
            self.name,
            self.data,
            dict(self.children),
        )


Row = tuple[int, int, int, int, int, int, str, bytes]
"""A stored row: ``inode, parent, version, writer, mtime, type, name, data``."""


class Backend(Protocol):
    """Where a memdb persists (the ``tree`` table of pmxcfs's ``config.db``)."""

    def load(self) -> list[Row]: ...

    def begin(self) -> None: ...

    def put(self, row: Row) -> None: ...

    def delete(self, inode: int) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class MemoryBackend:
    """Rows in a dict: the simulator's storage (transactions by snapshot)."""

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        self.rows: dict[int, Row] = {row[0]: row for row in rows}
        self._snapshot: dict[int, Row] | None = None
        self.fail_writes = False
        """Tests: make every write fail (an I/O error)."""

    def load(self) -> list[Row]:
        return list(self.rows.values())

    def begin(self) -> None:
        self._snapshot = dict(self.rows)

    def put(self, row: Row) -> None:
        if self.fail_writes:
            raise OSError(errno.EIO, "simulated storage failure")
        self.rows[row[0]] = row

    def delete(self, inode: int) -> None:
        if self.fail_writes:
            raise OSError(errno.EIO, "simulated storage failure")
        self.rows.pop(inode, None)

    def commit(self) -> None:
        self._snapshot = None

    def rollback(self) -> None:
        if self._snapshot is not None:
            self.rows = self._snapshot
        self._snapshot = None


def split_path(path: str) -> tuple[str, str]:
    """``dirname`` and ``basename`` of ``path`` (trailing slashes dropped, ``""`` is the root)."""
    trimmed = path.rstrip("/")
    if "/" not in trimmed:
        return "", trimmed
    head, _, base = trimmed.rpartition("/")
    return head.strip("/"), base


def _bad_name(name: str) -> bool:
    return name in ("", ".", "..")


def entry_csum(entry: TreeEntry) -> bytes:
    """``memdb_tree_entry_csum``: SHA-256 of the entry with its inode (lock identity)."""
    digest = hashlib.sha256(
        _CSUM_FIELDS.pack(
            entry.inode,
            entry.version,
            entry.writer,
            entry.mtime,
            entry.size,
            entry.type,
            entry.parent,
        )
    )
    digest.update(entry.name.encode())
    if entry.type == DT_REG and entry.data:
        digest.update(entry.data)
    return digest.digest()


def _index_digest(entry: TreeEntry) -> bytes:
    digest = hashlib.sha256(
        _DIGEST_FIELDS.pack(
            entry.version, entry.writer, entry.mtime, entry.size, entry.type, entry.parent
        )
    )
    digest.update(entry.name.encode())
    if entry.type == DT_REG and entry.data:
        digest.update(entry.data)
    return digest.digest()


@dataclass(frozen=True, slots=True)
class IndexHeader:
    """The header of an encoded index (what leader selection compares)."""

    version: int
    last_inode: int
    writer: int
    mtime: int
    size: int
    bytes: int


def decode_index(data: bytes) -> tuple[IndexHeader, list[tuple[int, bytes]]]:
    """Parse an index; ``ValueError`` if it is short or its ``bytes`` field lies."""
    if len(data) < INDEX_HEADER.size:
        raise ValueError("received short memdb index (len < sizeof(memdb_index_t))")
    header = IndexHeader(*INDEX_HEADER.unpack_from(data))
    if header.bytes != len(data) or header.bytes != INDEX_HEADER.size + header.size * 40:
        raise ValueError("received mailformed memdb index (len != idx->bytes)")
    entries = [
        INDEX_ENTRY.unpack_from(data, INDEX_HEADER.size + i * INDEX_ENTRY.size)
        for i in range(header.size)
    ]
    return header, entries


@dataclass(slots=True)
class LockInfo:
    """``memdb_lock_info_t``: when this node first saw a lock directory (its own clock)."""

    ltime: float
    csum: bytes


class MemDb:
    """The tree, its index and the storage writes of every change."""

    def __init__(self, backend: Backend, *, now: float = 0.0) -> None:
        self.backend = backend
        self.errors = False
        self.index: dict[int, TreeEntry] = {}
        self.root = TreeEntry(0, 0, 0, 0, 0, DT_DIR, "")
        self.locks: dict[str, LockInfo] = {}
        self.lock_timeout: float = LOCK_TIMEOUT
        """Seconds after which a lock seen here expires (pmxcfs: 120; shorter in tests)."""
        self.root, self.index = self._build(backend.load())
        if not self.root.version:
            # a new database starts at version 1 (bdb_backend_open)
            self.root.version = 1
            self.root.mtime = int(now)
            self._store(None, 0)
        self.update_locks(now)

    # ------------------------------------------------------------------ loading
    @staticmethod
    def _build(rows: Sequence[Row]) -> tuple[TreeEntry, dict[int, TreeEntry]]:
        """Rebuild the tree from stored rows (``bdb_backend_load_index``)."""
        root = TreeEntry(0, 0, 0, 0, 0, DT_DIR, "")
        index: dict[int, TreeEntry] = {0: root}
        pending: list[TreeEntry] = []
        for inode, parent, version, writer, mtime, kind, name, data in rows:
            if not name:
                raise DbLoadError(f"inode has no name (inode = {inode:016X})")
            if inode == 0:
                if name != VERSION_ROW_NAME:
                    raise DbLoadError(f"root inode has unexpected name '{name}'")
                root.version = version
                root.writer = writer & 0xFFFFFFFF
                root.mtime = mtime & 0xFFFFFFFF
                continue
            kind &= 0xFF
            if kind not in (DT_REG, DT_DIR):
                raise DbLoadError(f"inode has unknown type (inode = {inode:016X}, type = {kind})")
            if kind == DT_DIR and data:
                raise DbLoadError(f"directory inode contains data (inode = {inode:016X})")
            if inode in index:
                raise DbLoadError(f"duplicate inode {inode:016X}")
            entry = TreeEntry(
                inode,
                parent,
                version,
                writer & 0xFFFFFFFF,
                mtime & 0xFFFFFFFF,
                kind,
                name,
                bytes(data or b"") if kind == DT_REG else b"",
            )
            index[inode] = entry
            pending.append(entry)
        for entry in sorted(pending, key=lambda e: e.inode):
            parent_entry = index.get(entry.parent)
            if parent_entry is None:
                raise DbLoadError(f"missing directory inode (inode = {entry.parent:016X})")
            if not parent_entry.is_dir:
                raise DbLoadError(
                    "parent is not a directory "
                    f"(inode = {entry.inode:016X}, parent = {entry.parent:016X}, "
                    f"name = '{entry.name}')"
                )
            if entry.name in parent_entry.children:
                raise DbLoadError(f"found entry with duplicate name '{entry.name}'")
            parent_entry.children[entry.name] = entry.inode
        # every entry must hang below the root (no cycles of directories)
        for entry in pending:
            seen: set[int] = set()
            node = entry
            while node.inode != 0:
                if node.inode in seen:
                    raise DbLoadError(f"directory loop at inode {node.inode:016X}")
                seen.add(node.inode)
                node = index[node.parent]
        return root, index

    # ------------------------------------------------------------------ storage
    def _row(self, entry: TreeEntry) -> Row:
        return (
            entry.inode,
            entry.parent,
            entry.version,
            entry.writer,
            entry.mtime,
            entry.type,
            entry.name,
            entry.data,
        )

    def _version_row(self) -> Row:
        root = self.root
        return (0, 0, root.version, root.writer, root.mtime, DT_REG, VERSION_ROW_NAME, b"")

    def _store(self, entry: TreeEntry | None, delete_inode: int) -> None:
        """One transaction: the entry (if any), the deletion (if any) and the version row."""
        backend = self.backend
        try:
            backend.begin()
            if delete_inode:
                backend.delete(delete_inode)
            if entry is not None:
                backend.put(self._row(entry))
            backend.put(self._version_row())
            backend.commit()
        except Exception as err:
            try:
                backend.rollback()
            except Exception:  # the original error is what matters
                pass
            self.errors = True
            raise MemDbError(errno.EIO, f"database write failed: {err}") from None

    # ------------------------------------------------------------------ lookups
    def lookup(self, path: str) -> TreeEntry | None:
        entry: TreeEntry | None = self.root
        for name in path.split("/"):
            if not name or name == ".":
                continue
            assert entry is not None
            if not entry.is_dir:
                return None
            inode = entry.children.get(name)
            if inode is None:
                return None
            entry = self.index[inode]
        return entry

    def _parent_dir(self, path: str) -> tuple[TreeEntry, str]:
        dirname, base = split_path(path)
        parent = self.lookup(dirname)
        if parent is None:
            raise MemDbError(errno.ENOENT)
        if not parent.is_dir:
            raise MemDbError(errno.ENOTDIR)
        if _bad_name(base):
            raise MemDbError(errno.EACCES)
        return parent, base

    def read(self, path: str) -> bytes:
        entry = self.lookup(path)
        if entry is None or entry.type != DT_REG:
            raise MemDbError(errno.ENOENT)
        return entry.data

    def getattr(self, path: str) -> TreeEntry | None:
        entry = self.lookup(path)
        return None if entry is None else entry.copy()

    def readdir(self, path: str) -> list[TreeEntry]:
        entry = self.lookup(path)
        if entry is None or not entry.is_dir:
            return []
        return [self.index[inode].copy() for inode in entry.children.values()]

    def walk(self) -> Iterator[tuple[str, TreeEntry]]:
        """Every entry but the root with its path, parents before children."""

        def visit(prefix: str, entry: TreeEntry) -> Iterator[tuple[str, TreeEntry]]:
            for name in sorted(entry.children):
                child = self.index[entry.children[name]]
                path = f"{prefix}{name}"
                yield path, child
                if child.is_dir:
                    yield from visit(path + "/", child)

        return visit("", self.root)

    # ------------------------------------------------------------------ changes
    def _check(self) -> None:
        if self.errors:
            raise MemDbError(errno.EIO)

    def _bump(self, writer: int, mtime: int) -> int:
        root = self.root
        root.version += 1
        root.mtime = mtime & 0xFFFFFFFF
        root.writer = writer
        return root.version

    def mkdir(self, path: str, writer: int, mtime: int, *, now: float = 0.0) -> None:
        self._check()
        parent, base = self._parent_dir(path)
        if base in parent.children:
            raise MemDbError(errno.EEXIST)
        version = self._bump(writer, mtime)
        entry = TreeEntry(version, parent.inode, version, writer, mtime & 0xFFFFFFFF, DT_DIR, base)
        parent.children[base] = entry.inode
        self.index[entry.inode] = entry
        self._store(entry, 0)
        if split_path(path)[0] == LOCK_DIR:
            self.locks.pop(path.strip("/"), None)
            self.lock_expired(path.strip("/"), entry_csum(entry), now)  # records it

    def write(
        self,
        path: str,
        writer: int,
        mtime: int,
        data: bytes,
        offset: int,
        *,
        truncate: bool = False,
        create: bool = False,
    ) -> int:
        """``memdb_pwrite``: write ``data`` at ``offset`` (create: a new empty-or-not file)."""
        self._check()
        if offset < 0 or offset + len(data) > MAX_FILE_SIZE:
            raise MemDbError(errno.EFBIG)
        parent, base = self._parent_dir(path)
        inode = parent.children.get(base)
        if inode is not None:
            entry = self.index[inode]
            if entry.type != DT_REG:
                raise MemDbError(errno.ENOTDIR)
            if create:
                raise MemDbError(errno.EEXIST)
            old = entry.data
            version = self._bump(writer, mtime)
        else:
            if not create:
                raise MemDbError(errno.ENOENT)
            old = b""
            version = self._bump(writer, mtime)
            entry = TreeEntry(version, parent.inode, version, writer, mtime, DT_REG, base)
        entry.version = version
        entry.writer = writer
        entry.mtime = mtime & 0xFFFFFFFF
        new_size = offset + len(data)
        if new_size > len(old):
            buffer = bytearray(old) + bytes(new_size - len(old))
        else:
            buffer = bytearray(old if not truncate else old[:new_size])
        buffer[offset : offset + len(data)] = data
        entry.data = bytes(buffer)
        if inode is None:
            parent.children[base] = entry.inode
            self.index[entry.inode] = entry
        self._store(entry, 0)
        return len(data)

    def create(self, path: str, writer: int, mtime: int) -> None:
        self.write(path, writer, mtime, b"", 0, create=True)

    def set_mtime(self, path: str, writer: int, mtime: int, *, now: float = 0.0) -> None:
        """``memdb_mtime``; on a lock directory only the holder may move it forward."""
        self._check()
        parent, base = self._parent_dir(path)
        inode = parent.children.get(base)
        if inode is None:
            raise MemDbError(errno.ENOENT)
        entry = self.index[inode]
        is_lock = split_path(path)[0] == LOCK_DIR and entry.is_dir
        if is_lock and (mtime < entry.mtime or entry.writer != writer):
            raise MemDbError(errno.EACCES)
        version = self._bump(writer, mtime)
        entry.version = version
        entry.writer = writer
        entry.mtime = mtime & 0xFFFFFFFF
        self._store(entry, 0)
        if is_lock:
            key = path.strip("/")
            self.locks.pop(key, None)
            self.lock_expired(key, entry_csum(entry), now)

    def _unlink(self, parent: TreeEntry, entry: TreeEntry) -> None:
        if entry.is_dir and entry.children:
            raise MemDbError(errno.ENOTEMPTY)
        del parent.children[entry.name]
        del self.index[entry.inode]

    def delete(self, path: str, writer: int, mtime: int) -> None:
        self._check()
        entry = self.lookup(path)
        if entry is None:
            raise MemDbError(errno.ENOENT)
        if entry.inode == 0:
            raise MemDbError(errno.EACCES)
        parent = self.index[entry.parent]
        if entry.is_dir and entry.children:
            raise MemDbError(errno.ENOTEMPTY)
        if entry.is_dir:
            self.locks.pop(path.strip("/"), None)
        self._unlink(parent, entry)
        self._bump(writer, mtime)
        self._store(None, entry.inode)

    def rename(self, source: str, target: str, writer: int, mtime: int) -> None:
        """``memdb_rename``: keeps the inode, replaces the target atomically."""
        self._check()
        entry = self.lookup(source)
        if entry is None:
            raise MemDbError(errno.ENOENT)
        if entry.inode == 0:
            raise MemDbError(errno.EACCES)
        if entry.is_dir and split_path(source)[0] == LOCK_DIR:
            raise MemDbError(errno.EACCES)
        existing = self.lookup(target)
        delete_inode = 0
        if existing is not None:
            if existing.inode == 0:
                raise MemDbError(errno.EACCES)
            if existing.inode == entry.inode:
                return
            target_dir = self.index[existing.parent]
            self._unlink(target_dir, existing)
            base = existing.name
            delete_inode = existing.inode
        else:
            target_dir, base = self._parent_dir(target)
        # only empty directories move (a directory may not move below itself)
        self._unlink(self.index[entry.parent], entry)
        version = self._bump(writer, mtime)
        entry.parent = target_dir.inode
        entry.name = base
        entry.version = version
        entry.writer = writer
        entry.mtime = mtime & 0xFFFFFFFF
        target_dir.children[base] = entry.inode
        self.index[entry.inode] = entry
        self._store(entry, delete_inode)

    # ------------------------------------------------------------------ index & checksum
    def sorted_entries(self) -> list[TreeEntry]:
        return [self.index[inode] for inode in sorted(self.index)]

    def encode_index(self) -> bytes:
        """``memdb_encode_index``: the DFSM state of this node."""
        entries = self.sorted_entries()
        root = self.root
        body = b"".join(INDEX_ENTRY.pack(e.inode, _index_digest(e)) for e in entries)
        header = INDEX_HEADER.pack(
            root.version,
            max(e.inode for e in entries),
            root.writer,
            root.mtime,
            len(entries),
            INDEX_HEADER.size + len(body),
        )
        return header + body

    def checksum(self) -> bytes:
        """``memdb_compute_checksum``: one SHA-256 over every entry (verification)."""
        digest = hashlib.sha256()
        for entry in self.sorted_entries():
            digest.update(
                _CSUM_FIELDS.pack(
                    entry.inode,
                    entry.version,
                    entry.writer,
                    entry.mtime,
                    entry.size,
                    entry.type,
                    entry.parent,
                )
            )
            digest.update(entry.name.encode())
            if entry.type == DT_REG and entry.data:
                digest.update(entry.data)
        return digest.digest()

    # ------------------------------------------------------------------ sync commit
    def commit_update(
        self, master_index: bytes, local_index: bytes, updates: Sequence[TreeEntry], now: float
    ) -> None:
        """``bdb_backend_commit_update``: become the leader's tree in one transaction.

        Deletes every local inode missing from the leader's index, writes the received
        entries, reloads and requires the new index to equal the leader's byte for byte;
        otherwise rolls back, sets :attr:`errors` and raises :class:`MemDbError` (EIO).
        """
        _, master = decode_index(master_index)
        _, local = decode_index(local_index)
        keep = {inode for inode, _ in master}
        backend = self.backend
        try:
            backend.begin()
            for inode, _ in local:
                if inode not in keep:
                    backend.delete(inode)
            for entry in updates:
                if entry.inode == 0:
                    backend.put(
                        (
                            0,
                            0,
                            entry.version,
                            entry.writer,
                            entry.mtime,
                            DT_REG,
                            VERSION_ROW_NAME,
                            b"",
                        )
                    )
                else:
                    backend.put(self._row(entry))
            root, index = self._build(backend.load())
            candidate = MemDb.__new__(MemDb)
            candidate.root, candidate.index = root, index
            if candidate.encode_index() != master_index:
                raise DbLoadError("new index does not match master index - internal error")
            backend.commit()
        except Exception as err:
            try:
                backend.rollback()
            except Exception:
                pass
            self.errors = True
            raise MemDbError(errno.EIO, str(err)) from None
        self.root, self.index = root, index
        self.update_locks(now)

    # ------------------------------------------------------------------ locks
    def lock_expired(self, path: str, csum: bytes, now: float) -> bool:
        """``memdb_lock_expired``: True once this node has seen the lock for 120 s."""
        info = self.locks.get(path)
        if info is None:
            self.locks[path] = LockInfo(now, csum)
            return False
        if info.csum != csum:
            info.ltime = now
            info.csum = csum
            return False
        return now > info.ltime and now - info.ltime > self.lock_timeout

    def update_locks(self, now: float) -> None:
        """Rebuild the lock table after a load or sync (keeping first-seen times)."""
        old = self.locks
        self.locks = {}
        lockdir = self.lookup(LOCK_DIR)
        if lockdir is None or not lockdir.is_dir:
            return
        for name, inode in lockdir.children.items():
            entry = self.index[inode]
            if not entry.is_dir:
                continue
            path = f"{LOCK_DIR}/{name}"
            csum = entry_csum(entry)
            previous = old.get(path)
            ltime = previous.ltime if previous is not None and previous.csum == csum else now
            self.locks[path] = LockInfo(ltime, csum)

    def statfs(self) -> dict[str, int]:
        size = sum(entry.size for entry in self.index.values())
        blocks = (MAX_FS_SIZE + BLOCK_SIZE - 1) // BLOCK_SIZE
        return {
            "bsize": BLOCK_SIZE,
            "blocks": blocks,
            "bfree": blocks - (size + BLOCK_SIZE - 1) // BLOCK_SIZE,
            "files": MAX_INODES,
            "ffree": MAX_INODES - len(self.index),
            "namemax": 256,
        }
