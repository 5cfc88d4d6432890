"""The sqlite3 storage of memdb: pmxcfs's ``config.db`` (ref cluster-manager.md 4.2).

One table, ``tree(inode INTEGER PRIMARY KEY, parent, version, writer, mtime, type, name,
data)``, in WAL mode with ``synchronous=NORMAL``; the row named ``__version__`` (inode 0)
carries the root's version, writer and mtime. The file is mode 0600. Every memdb change is one
transaction (:meth:`pvecluster.cfs.memdb.MemDb._store`).

:func:`backup_database` is ``pvecm add``'s pre-join backup: an SQL dump, gzip-compressed, in
``backup/config-<epoch>.sql.gz`` beside the database, keeping the newest ten.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sqlite3

from pvecluster.cfs.memdb import Row

__all__ = ["BACKUPS_KEPT", "SqliteBackend", "backup_database"]

BACKUPS_KEPT = 10

_CREATE = (
    "CREATE TABLE IF NOT EXISTS tree ("
    "  inode INTEGER PRIMARY KEY NOT NULL,"
    "  parent INTEGER NOT NULL CHECK(typeof(parent)=='integer'),"
    "  version INTEGER NOT NULL CHECK(typeof(version)=='integer'),"
    "  writer INTEGER NOT NULL CHECK(typeof(writer)=='integer'),"
    "  mtime INTEGER NOT NULL CHECK(typeof(mtime)=='integer'),"
    "  type INTEGER NOT NULL CHECK(typeof(type)=='integer'),"
    "  name TEXT NOT NULL,"
    "  data BLOB)"
)


class SqliteBackend:
    """memdb rows in an sqlite3 database file."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        os.chmod(path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_CREATE)

    def load(self) -> list[Row]:
        rows = self._db.execute(
            "SELECT inode, parent, version, writer, mtime, type, name, data FROM tree"
        ).fetchall()
        return [
            (
                int(inode),
                int(parent),
                int(version),
                int(writer),
                int(mtime),
                int(kind),
                str(name),
                bytes(data) if data is not None else b"",
            )
            for inode, parent, version, writer, mtime, kind, name, data in rows
        ]

    def begin(self) -> None:
        self._db.execute("BEGIN")

    def put(self, row: Row) -> None:
        inode, parent, version, writer, mtime, kind, name, data = row
        self._db.execute(
            "REPLACE INTO tree (inode, parent, version, writer, mtime, type, name, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (inode, parent, version, writer, mtime, kind, name, data if data else None),
        )

    def delete(self, inode: int) -> None:
        self._db.execute("DELETE FROM tree WHERE inode = ?", (inode,))

    def commit(self) -> None:
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


def backup_database(db_path: str, now: float) -> str:
    """Dump ``db_path`` as gzip-compressed SQL into ``backup/config-<epoch>.sql.gz``.

    Returns the backup's path; keeps the newest :data:`BACKUPS_KEPT` backups.
    """
    backup_dir = os.path.join(os.path.dirname(db_path), "backup")
    os.makedirs(backup_dir, exist_ok=True)
    target = os.path.join(backup_dir, f"config-{int(now)}.sql.gz")
    db = sqlite3.connect(db_path)
    try:
        with gzip.open(target, "wt") as out:
            for line in db.iterdump():
                out.write(line + "\n")
    finally:
        db.close()
    backups = sorted(
        (name for name in os.listdir(backup_dir) if name.startswith("config-")),
        key=lambda name: os.path.getmtime(os.path.join(backup_dir, name)),
    )
    for name in backups[:-BACKUPS_KEPT]:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(backup_dir, name))
    return target
