"""memdb: versions, inodes, errors, index bytes, persistence (ref cluster-manager.md 4.2)."""

from __future__ import annotations

import errno
import hashlib
import sqlite3
import struct
from pathlib import Path

import pytest

from pvecluster.cfs.database import SqliteBackend, backup_database
from pvecluster.cfs.memdb import (
    DT_DIR,
    DT_REG,
    DbLoadError,
    MemDb,
    MemDbError,
    MemoryBackend,
    decode_index,
)

T = 1_700_000_000


def fresh() -> MemDb:
    return MemDb(MemoryBackend(), now=T)


def test_a_new_database_starts_at_version_1() -> None:
    db = fresh()
    assert db.root.version == 1
    assert db.root.mtime == T


def test_every_change_raises_the_version_and_new_inodes_are_the_new_version() -> None:
    db = fresh()
    db.mkdir("nodes", 2, T + 1)
    assert db.root.version == 2 and db.lookup("nodes").inode == 2  # type: ignore[union-attr]
    db.create("nodes/a.cfg", 3, T + 2)
    entry = db.lookup("nodes/a.cfg")
    assert entry is not None and entry.inode == 3 and entry.writer == 3 and entry.mtime == T + 2
    assert db.write("nodes/a.cfg", 1, T + 3, b"hello", 0) == 5
    assert (db.root.version, db.root.writer, db.root.mtime) == (4, 1, T + 3)
    assert entry.version == 4 and entry.inode == 3
    db.rename("nodes/a.cfg", "b.cfg", 2, T + 4)
    moved = db.lookup("b.cfg")
    assert moved is not None and moved.inode == 3 and moved.parent == 0 and moved.version == 5
    db.set_mtime("b.cfg", 2, T + 9)
    assert db.root.version == 6 and moved.mtime == T + 9
    db.delete("b.cfg", 2, T + 10)
    assert db.root.version == 7 and db.lookup("b.cfg") is None


def test_writes_extend_overwrite_and_truncate() -> None:
    db = fresh()
    db.create("f", 1, T)
    db.write("f", 1, T, b"abcdef", 0)
    db.write("f", 1, T, b"XY", 2)
    assert db.read("f") == b"abXYef"
    db.write("f", 1, T, b"", 3, truncate=True)
    assert db.read("f") == b"abX"
    db.write("f", 1, T, b"Z", 5)
    assert db.read("f") == b"abX\0\0Z"
    db.write("f", 1, T, b"new", 0, truncate=True)
    assert db.read("f") == b"new"


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (lambda db: db.create("missing/f", 1, T), errno.ENOENT),
        (lambda db: db.create("f", 1, T), errno.EEXIST),
        (lambda db: db.create("d", 1, T), errno.ENOTDIR),
        (lambda db: db.write("nothing", 1, T, b"x", 0), errno.ENOENT),
        (lambda db: db.write("d", 1, T, b"x", 0), errno.ENOTDIR),
        (lambda db: db.write("f", 1, T, b"x" * (1024 * 1024 + 1), 0), errno.EFBIG),
        (lambda db: db.mkdir("d", 1, T), errno.EEXIST),
        (lambda db: db.mkdir("d/..", 1, T), errno.EACCES),
        (lambda db: db.mkdir("f/x", 1, T), errno.ENOTDIR),
        (lambda db: db.delete("d", 1, T), errno.ENOTEMPTY),
        (lambda db: db.delete("", 1, T), errno.EACCES),
        (lambda db: db.rename("d", "e", 1, T), errno.ENOTEMPTY),
        (lambda db: db.rename("priv/lock/x", "y", 1, T), errno.EACCES),
        (lambda db: db.set_mtime("priv/lock/x", 2, T + 5), errno.EACCES),
        (lambda db: db.set_mtime("priv/lock/x", 1, 0), errno.EACCES),
    ],
)
def test_refusals_change_nothing(action: object, code: int) -> None:
    db = fresh()
    db.mkdir("d", 1, T)
    db.create("d/inner", 1, T)
    db.create("f", 1, T)
    db.mkdir("priv", 1, T)
    db.mkdir("priv/lock", 1, T)
    db.mkdir("priv/lock/x", 1, T)
    before = (db.root.version, db.checksum())
    with pytest.raises(MemDbError) as caught:
        action(db)  # type: ignore[operator]
    assert caught.value.errno == code
    assert (db.root.version, db.checksum()) == before


def test_rename_replaces_the_target_atomically() -> None:
    db = fresh()
    db.create("corosync.conf", 1, T)
    db.write("corosync.conf", 1, T, b"old", 0)
    db.create("corosync.conf.new", 1, T)
    db.write("corosync.conf.new", 1, T, b"new", 0)
    new_inode = db.lookup("corosync.conf.new").inode  # type: ignore[union-attr]
    db.rename("corosync.conf.new", "corosync.conf", 1, T)
    assert db.read("corosync.conf") == b"new"
    assert db.lookup("corosync.conf").inode == new_inode  # type: ignore[union-attr]
    assert db.lookup("corosync.conf.new") is None


def test_index_layout_is_pmxcfs_memdb_index() -> None:
    db = fresh()
    db.create("a", 7, T + 1)
    db.write("a", 7, T + 2, b"xyz", 0)
    index = db.encode_index()
    version, last, writer, mtime, size, nbytes = struct.unpack_from("<QQIIII", index)
    assert (version, last, writer, mtime, size, nbytes) == (3, 2, 7, T + 2, 2, 32 + 2 * 40)
    inode, digest = struct.unpack_from("<Q32s", index, 32 + 40)
    expected = hashlib.sha256(
        struct.pack("<QIIIBQ", 3, 7, T + 2, 3, DT_REG, 0) + b"a" + b"xyz"
    ).digest()
    assert (inode, digest) == (2, expected)
    root_inode, root_digest = struct.unpack_from("<Q32s", index, 32)
    assert root_inode == 0
    assert root_digest == hashlib.sha256(struct.pack("<QIIIBQ", 3, 7, T + 2, 0, DT_DIR, 0)).digest()
    header, entries = decode_index(index)
    assert header.version == 3 and [e[0] for e in entries] == [0, 2]


def test_sqlite_persistence_reloads_the_same_tree(tmp_path: Path) -> None:
    path = str(tmp_path / "config.db")
    db = MemDb(SqliteBackend(path), now=T)
    db.mkdir("nodes", 1, T)
    db.create("nodes/x", 2, T)
    db.write("nodes/x", 2, T, b"data", 0)
    db.create("gone", 1, T)
    db.delete("gone", 1, T)
    checksum, index = db.checksum(), db.encode_index()
    assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    again = MemDb(SqliteBackend(path), now=T + 100)
    assert again.checksum() == checksum and again.encode_index() == index
    rows = sqlite3.connect(path).execute("SELECT inode, name, version FROM tree").fetchall()
    assert (0, "__version__", 6) in rows
    backup = backup_database(path, T + 5)
    assert backup.endswith(f"backup/config-{T + 5}.sql.gz")


def test_a_corrupted_database_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = str(tmp_path / "config.db")
    db = MemDb(SqliteBackend(path), now=T)
    db.mkdir("d", 1, T)
    db.create("d/f", 1, T)
    con = sqlite3.connect(path)
    con.execute("UPDATE tree SET parent = 999 WHERE name = 'f'")
    con.commit()
    with pytest.raises(DbLoadError, match="missing directory inode"):
        MemDb(SqliteBackend(path), now=T)
    con.execute("UPDATE tree SET parent = 2, type = 3 WHERE name = 'f'")
    con.commit()
    with pytest.raises(DbLoadError, match="unknown type"):
        MemDb(SqliteBackend(path), now=T)


def test_a_storage_failure_sets_the_error_flag() -> None:
    backend = MemoryBackend()
    db = MemDb(backend, now=T)
    backend.fail_writes = True
    with pytest.raises(MemDbError) as caught:
        db.mkdir("x", 1, T)
    assert caught.value.errno == errno.EIO and db.errors
    backend.fail_writes = False
    with pytest.raises(MemDbError):
        db.mkdir("y", 1, T)
