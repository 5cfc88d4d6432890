"""The daemon's control socket ``R/run/cfsd.sock`` (ref cluster-manager.md 5.3).

Newline-delimited JSON, the engine's control protocol (:mod:`totem.node.control`)::

    -> {"id": 1, "op": "write", "path": "x.cfg", "data": "<base64>"}
    <- {"id": 1, "ok": true, "result": 5}
    <- {"id": 2, "ok": false, "error": "EACCES: Permission denied"}

Operations: ``read``, ``write`` (the whole file), ``create``, ``mkdir``, ``delete`` (a file or
an empty directory), ``rename``, ``utime`` (``mtime``; 0 on a lock directory is an unlock
request), ``stat``, ``list``, ``members``, ``version``, ``checksum``, ``status``, ``restart``
(re-decide local or cluster mode), ``reset_database`` (the join's backup-and-start-over),
``shutdown``. A refused operation answers ``ERRNAME: strerror`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import os
import stat as statmod
from typing import TYPE_CHECKING, Any

from pvecluster.cfs.memdb import MemDbError
from pvecluster.cfs.node import FsOp
from pvecluster.cfs.wire import DcdbOp
from totem.node.control import ControlConnection, ControlError, ControlServer

if TYPE_CHECKING:
    from pvecluster.cfsd.host import CfsHost

__all__ = ["ControlOps", "errno_text", "file_mode"]


def errno_text(code: int) -> str:
    """``EACCES: Permission denied``."""
    return f"{errno.errorcode.get(code, str(code))}: {os.strerror(code)}"


def file_mode(is_dir: bool, quorate: bool) -> int:
    """pmxcfs's modes: writable when quorate, read-only otherwise."""
    if is_dir:
        return statmod.S_IFDIR | (0o777 if quorate else 0o555)
    return statmod.S_IFREG | (0o666 if quorate else 0o444)


def _path(request: dict[str, Any], key: str = "path") -> str:
    value = request.get(key)
    if not isinstance(value, str):
        raise ControlError(f'"{key}" must be a string')
    path = value.strip("/")
    if any(part in ("", ".", "..") for part in path.split("/")) and path:
        raise ControlError(errno_text(errno.EINVAL))
    return path


class ControlOps:
    """Registers the file operations on the daemon's socket."""

    def __init__(self, daemon: CfsHost) -> None:
        self.daemon = daemon
        self.server = ControlServer(daemon.root.socket)
        for name in (
            "read",
            "write",
            "create",
            "mkdir",
            "delete",
            "rename",
            "utime",
            "stat",
            "list",
            "members",
            "version",
            "checksum",
            "status",
            "restart",
            "reset_database",
            "shutdown",
        ):
            self.server.register(name, getattr(self, f"_op_{name}"))

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    # ------------------------------------------------------------------ helpers
    def _later(self, coroutine: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.ensure_future(coroutine)
        return future

    async def _checked(self, result_coroutine: Any) -> int:
        result: int = await result_coroutine
        if result < 0:
            raise ControlError(errno_text(-result))
        return result

    def _submit(self, op: FsOp) -> asyncio.Future[Any]:
        return self._later(self._checked(self.daemon.submit(op)))

    # ------------------------------------------------------------------ file operations
    def _op_read(self, _c: ControlConnection, request: dict[str, Any]) -> str:
        memdb = self.daemon.memdb
        assert memdb is not None
        try:
            return base64.b64encode(memdb.read(_path(request))).decode()
        except MemDbError as err:
            raise ControlError(errno_text(err.errno)) from None

    def _op_write(self, _c: ControlConnection, request: dict[str, Any]) -> asyncio.Future[Any]:
        path = _path(request)
        data = base64.b64decode(str(request.get("data", "")))
        return self._later(self._checked(self.daemon.write_file(path, data)))

    def _op_create(self, _c: ControlConnection, request: dict[str, Any]) -> asyncio.Future[Any]:
        return self._submit(FsOp(DcdbOp.CREATE, _path(request)))

    def _op_mkdir(self, _c: ControlConnection, request: dict[str, Any]) -> asyncio.Future[Any]:
        return self._submit(FsOp(DcdbOp.MKDIR, _path(request)))

    def _op_delete(self, _c: ControlConnection, request: dict[str, Any]) -> asyncio.Future[Any]:
        return self._submit(FsOp(DcdbOp.DELETE, _path(request)))

    def _op_rename(self, _c: ControlConnection, request: dict[str, Any]) -> asyncio.Future[Any]:
        return self._submit(FsOp(DcdbOp.RENAME, _path(request), to=_path(request, "to")))

    def _op_utime(self, _c: ControlConnection, request: dict[str, Any]) -> asyncio.Future[Any]:
        mtime = request.get("mtime", 0)
        if not isinstance(mtime, int) or not 0 <= mtime < 1 << 32:
            raise ControlError('"mtime" must be a u32')
        return self._submit(FsOp(DcdbOp.MTIME, _path(request), offset=mtime))

    def _entry_json(self, name: str, entry: Any) -> dict[str, Any]:
        node = self.daemon.node
        quorate = node is not None and node.quorate
        return {
            "name": name,
            "type": "dir" if entry.is_dir else "file",
            "size": entry.size,
            "mode": file_mode(entry.is_dir, quorate),
            "mtime": entry.mtime,
            "inode": entry.inode,
            "version": entry.version,
            "writer": entry.writer,
        }

    def _op_stat(self, _c: ControlConnection, request: dict[str, Any]) -> dict[str, Any]:
        memdb = self.daemon.memdb
        assert memdb is not None
        path = _path(request)
        entry = memdb.getattr(path)
        if entry is None:
            raise ControlError(errno_text(errno.ENOENT))
        return self._entry_json(path.rpartition("/")[2], entry)

    def _op_list(self, _c: ControlConnection, request: dict[str, Any]) -> list[dict[str, Any]]:
        memdb = self.daemon.memdb
        assert memdb is not None
        path = _path(request)
        entry = memdb.lookup(path)
        if entry is None:
            raise ControlError(errno_text(errno.ENOENT))
        if not entry.is_dir:
            raise ControlError(errno_text(errno.ENOTDIR))
        return sorted(
            (self._entry_json(e.name, e) for e in memdb.readdir(path)), key=lambda e: e["name"]
        )

    # ------------------------------------------------------------------ views
    def _op_members(self, _c: ControlConnection, _r: dict[str, Any]) -> dict[str, Any]:
        return self.daemon.members()

    def _op_version(self, _c: ControlConnection, _r: dict[str, Any]) -> dict[str, Any]:
        memdb = self.daemon.memdb
        assert memdb is not None
        root = memdb.root
        return {"version": root.version, "writer": root.writer, "mtime": root.mtime}

    def _op_checksum(self, _c: ControlConnection, _r: dict[str, Any]) -> str:
        memdb = self.daemon.memdb
        assert memdb is not None
        return memdb.checksum().hex()

    def _op_status(self, _c: ControlConnection, _r: dict[str, Any]) -> dict[str, Any]:
        return self.daemon.status()

    # ------------------------------------------------------------------ life cycle
    def _op_restart(self, _c: ControlConnection, _r: dict[str, Any]) -> asyncio.Future[Any]:
        return self._later(self.daemon.restart())

    def _op_reset_database(self, _c: ControlConnection, _r: dict[str, Any]) -> asyncio.Future[Any]:
        return self._later(self.daemon.reset_database())

    def _op_shutdown(self, _c: ControlConnection, _r: dict[str, Any]) -> str:
        asyncio.get_running_loop().call_soon(self.daemon.stop)
        return "shutting down"
