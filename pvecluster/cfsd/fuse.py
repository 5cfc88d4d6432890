"""The FUSE mount of the replicated filesystem at ``R/etc/pve`` (ref cluster-manager.md 4.2,
4.4; pmxcfs's ``cfs-plug-memdb.c``), with pyfuse3 on the daemon's asyncio loop.

pyfuse3 is written for trio; its ``pyfuse3.asyncio`` layer runs the same request loop as an
asyncio task, so the FUSE handlers are coroutines of the daemon's own loop and call the same
:meth:`~pvecluster.cfsd.daemon.CfsDaemon.submit` as the control socket: a write is one DCDB
operation applied in the cluster's total order, and returns once applied here (or
``EACCES`` at once without quorum).

What the kernel asks and what it becomes, as pmxcfs does:

* reads (``lookup``, ``getattr``, ``readdir``, ``read``, ``statfs``) come from the local
  memdb, quorate or not; modes are ``0666``/``0777`` when quorate, ``0444``/``0555`` when
  not (``0600``/``0700`` below ``priv``);
* ``create`` is CREATE, ``write`` a WRITE at its offset, truncation (``O_TRUNC``, ``truncate``)
  a WRITE of size 0 with the new length, ``mkdir`` MKDIR, ``unlink``/``rmdir`` DELETE,
  ``rename`` RENAME (atomic: an editor's temp file moved over the original, ``mv``), a
  changed mtime MTIME (``touch``; ``utime(dir, 0)`` on a lock is an unlock request);
* ``chmod``/``chown`` change nothing and succeed (the modes follow quorum); links, symlinks,
  device nodes and extended attributes are refused (``EPERM``/``ENOTSUP``).

Inodes are memdb's (the same on every node); the root, memdb's inode 0, is FUSE's inode 1.
Entries and attributes are cached by the kernel for :data:`CACHE_TIMEOUT` seconds at most,
so changes from other nodes show within that time. :func:`start_fuse` mounts (clearing a
stale mount of a killed daemon first), :meth:`FuseMount.stop` unmounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import stat as statmod
import subprocess
import time
from typing import TYPE_CHECKING, Any

from pvecluster.cfs.memdb import MAX_FILE_SIZE, MemDb, TreeEntry
from pvecluster.cfs.node import FsOp
from pvecluster.cfs.wire import DcdbOp
from totem.srp.events import LogLevel

if TYPE_CHECKING:
    import pyfuse3

    from pvecluster.cfsd.host import CfsHost

__all__ = ["CACHE_TIMEOUT", "FuseMount", "fuse_available", "start_fuse"]

CACHE_TIMEOUT = 1.0
FUSE_ROOT = 1
_ACTIVE = False
"""pyfuse3 holds one session per process."""


def fuse_available() -> str | None:
    """Why the filesystem cannot be mounted here (None: it can)."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist"
    try:
        import pyfuse3  # noqa: F401
    except ImportError as err:
        return f"pyfuse3 is not installed ({err})"
    return None


def _to_memdb(inode: int) -> int:
    return 0 if inode == FUSE_ROOT else inode


def _to_fuse(inode: int) -> int:
    return FUSE_ROOT if inode == 0 else inode


def entry_path(memdb: MemDb, inode: int) -> str | None:
    """The path of memdb inode ``inode`` ("" for the root), None if it no longer exists."""
    parts: list[str] = []
    seen = 0
    while inode != 0:
        entry = memdb.index.get(inode)
        if entry is None or seen > 4096:
            return None
        parts.append(entry.name)
        inode = entry.parent
        seen += 1
    return "/".join(reversed(parts))


def _private(path: str) -> bool:
    return path == "priv" or path.startswith("priv/") or "/priv/" in f"/{path}/"


def make_operations(daemon: CfsHost) -> Any:
    """The pyfuse3 operations of ``daemon`` (a subclass built once pyfuse3 is imported)."""
    import pyfuse3

    def fail(code: int) -> pyfuse3.FUSEError:
        return pyfuse3.FUSEError(code)

    class Operations(pyfuse3.Operations):
        supports_dot_lookup = True
        enable_writeback_cache = False
        enable_acl = False

        # ------------------------------------------------------------ helpers
        def _memdb(self) -> MemDb:
            memdb = daemon.memdb
            if memdb is None:
                raise fail(errno.EIO)
            return memdb

        def _entry(self, inode: int) -> tuple[str, TreeEntry]:
            memdb = self._memdb()
            number = _to_memdb(inode)
            entry = memdb.root if number == 0 else memdb.index.get(number)
            path = entry_path(memdb, number) if entry is not None else None
            if entry is None or path is None:
                raise fail(errno.ENOENT)
            return path, entry

        def _child_path(self, parent_inode: int, name: bytes) -> str:
            parent, entry = self._entry(parent_inode)
            if not entry.is_dir:
                raise fail(errno.ENOTDIR)
            try:
                text = name.decode()
            except UnicodeDecodeError:
                raise fail(errno.EINVAL) from None
            if text in ("", ".", "..") or "/" in text:
                raise fail(errno.EINVAL)
            return f"{parent}/{text}" if parent else text

        def _attrs(self, path: str, entry: TreeEntry) -> pyfuse3.EntryAttributes:
            node = daemon.node
            quorate = node is not None and node.quorate
            attrs = pyfuse3.EntryAttributes()
            attrs.st_ino = _to_fuse(entry.inode)
            if entry.is_dir:
                mode = 0o777 if quorate else 0o555
                if _private(path):
                    mode &= 0o700
                attrs.st_mode = statmod.S_IFDIR | mode
                attrs.st_nlink = 2 + sum(
                    1 for inode in entry.children.values() if self._memdb().index[inode].is_dir
                )
            else:
                mode = 0o666 if quorate else 0o444
                if _private(path):
                    mode &= 0o600
                attrs.st_mode = statmod.S_IFREG | mode
                attrs.st_nlink = 1
            attrs.st_size = entry.size
            attrs.st_blksize = 4096
            attrs.st_blocks = (entry.size + 511) // 512
            mtime = entry.mtime * 1_000_000_000
            attrs.st_mtime_ns = attrs.st_ctime_ns = attrs.st_atime_ns = mtime
            attrs.st_uid = 0
            attrs.st_gid = 0
            attrs.entry_timeout = CACHE_TIMEOUT
            attrs.attr_timeout = CACHE_TIMEOUT
            return attrs

        def _attrs_of(self, path: str) -> pyfuse3.EntryAttributes:
            entry = self._memdb().lookup(path)
            if entry is None:
                raise fail(errno.ENOENT)
            return self._attrs(path, entry)

        async def _submit(self, op: FsOp) -> int:
            result = await daemon.submit(op)
            if result < 0:
                raise fail(-result)
            return result

        # ------------------------------------------------------------ reading
        async def lookup(
            self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
        ) -> pyfuse3.EntryAttributes:
            if name == b".":
                return await self.getattr(parent_inode, ctx)
            if name == b"..":
                _path, entry = self._entry(parent_inode)
                return await self.getattr(_to_fuse(entry.parent), ctx)
            return self._attrs_of(self._child_path(parent_inode, name))

        async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
            path, entry = self._entry(inode)
            return self._attrs(path, entry)

        async def forget(self, inode_list: Any) -> None:
            return None

        async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
            _path, entry = self._entry(inode)
            if not entry.is_dir:
                raise fail(errno.ENOTDIR)
            return inode

        async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
            path, entry = self._entry(fh)
            names = sorted(entry.children)
            memdb = self._memdb()
            for position in range(start_id, len(names)):
                name = names[position]
                child = memdb.index[entry.children[name]]
                child_path = f"{path}/{name}" if path else name
                if not pyfuse3.readdir_reply(
                    token, name.encode(), self._attrs(child_path, child), position + 1
                ):
                    return

        async def releasedir(self, fh: int) -> None:
            return None

        async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> Any:
            path, entry = self._entry(inode)
            if entry.is_dir:
                raise fail(errno.EISDIR)
            if flags & os.O_TRUNC and flags & (os.O_WRONLY | os.O_RDWR) and entry.size:
                await self._submit(FsOp(DcdbOp.WRITE, path, offset=0, flags=1))
            return pyfuse3.FileInfo(fh=inode, direct_io=True, keep_cache=False)

        async def read(self, fh: int, off: int, size: int) -> bytes:
            _path, entry = self._entry(fh)
            return entry.data[off : off + size]

        async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
            info = self._memdb().statfs()
            data = pyfuse3.StatvfsData()
            data.f_bsize = data.f_frsize = info["bsize"]
            data.f_blocks = info["blocks"]
            data.f_bfree = data.f_bavail = info["bfree"]
            data.f_files = info["files"]
            data.f_ffree = data.f_favail = info["ffree"]
            data.f_namemax = info["namemax"]
            return data

        async def access(self, inode: int, mode: int, ctx: pyfuse3.RequestContext) -> bool:
            self._entry(inode)
            return True

        # ------------------------------------------------------------ writing
        async def create(
            self,
            parent_inode: int,
            name: bytes,
            mode: int,
            flags: int,
            ctx: pyfuse3.RequestContext,
        ) -> tuple[Any, pyfuse3.EntryAttributes]:
            path = self._child_path(parent_inode, name)
            if not statmod.S_ISREG(mode) and statmod.S_IFMT(mode):
                raise fail(errno.EPERM)
            await self._submit(FsOp(DcdbOp.CREATE, path))
            attrs = self._attrs_of(path)
            return pyfuse3.FileInfo(fh=attrs.st_ino, direct_io=True), attrs

        async def write(self, fh: int, off: int, buf: bytes) -> int:
            path, _entry = self._entry(fh)
            if off + len(buf) > MAX_FILE_SIZE:
                raise fail(errno.EFBIG)
            return await self._submit(FsOp(DcdbOp.WRITE, path, data=bytes(buf), offset=off))

        async def setattr(
            self,
            inode: int,
            attr: pyfuse3.EntryAttributes,
            fields: pyfuse3.SetattrFields,
            fh: int | None,
            ctx: pyfuse3.RequestContext,
        ) -> pyfuse3.EntryAttributes:
            path, entry = self._entry(inode)
            if fields.update_size:
                if entry.is_dir:
                    raise fail(errno.EISDIR)
                if attr.st_size != entry.size:
                    await self._submit(FsOp(DcdbOp.WRITE, path, offset=attr.st_size, flags=1))
            if fields.update_mtime:
                mtime = attr.st_mtime_ns // 1_000_000_000
                if mtime < 0 or mtime >= 1 << 32:
                    raise fail(errno.EINVAL)
                await self._submit(FsOp(DcdbOp.MTIME, path, offset=mtime))
            return self._attrs_of(path)

        async def mkdir(
            self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
        ) -> pyfuse3.EntryAttributes:
            path = self._child_path(parent_inode, name)
            await self._submit(FsOp(DcdbOp.MKDIR, path))
            return self._attrs_of(path)

        async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
            path = self._child_path(parent_inode, name)
            entry = self._memdb().lookup(path)
            if entry is not None and entry.is_dir:
                raise fail(errno.EISDIR)
            await self._submit(FsOp(DcdbOp.DELETE, path))

        async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
            path = self._child_path(parent_inode, name)
            entry = self._memdb().lookup(path)
            if entry is not None and not entry.is_dir:
                raise fail(errno.ENOTDIR)
            await self._submit(FsOp(DcdbOp.DELETE, path))

        async def rename(
            self,
            parent_inode_old: int,
            name_old: bytes,
            parent_inode_new: int,
            name_new: bytes,
            flags: int,
            ctx: pyfuse3.RequestContext,
        ) -> None:
            source = self._child_path(parent_inode_old, name_old)
            target = self._child_path(parent_inode_new, name_new)
            if flags & pyfuse3.RENAME_EXCHANGE:
                raise fail(errno.EINVAL)
            if flags & pyfuse3.RENAME_NOREPLACE and self._memdb().lookup(target) is not None:
                raise fail(errno.EEXIST)
            await self._submit(FsOp(DcdbOp.RENAME, source, to=target))

        async def flush(self, fh: int) -> None:
            return None

        async def release(self, fh: int) -> None:
            return None

        async def fsync(self, fh: int, datasync: bool) -> None:
            return None

        async def fsyncdir(self, fh: int, datasync: bool) -> None:
            return None

        async def link(
            self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
        ) -> pyfuse3.EntryAttributes:
            raise fail(errno.EPERM)

        async def symlink(
            self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
        ) -> pyfuse3.EntryAttributes:
            raise fail(errno.EPERM)

        async def mknod(
            self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
        ) -> pyfuse3.EntryAttributes:
            raise fail(errno.EPERM)

    return Operations()


def _clear_stale_mount(path: str) -> bool:
    """A mount left by a killed daemon ("Transport endpoint is not connected")."""
    try:
        os.stat(path)
    except OSError as err:
        if err.errno != errno.ENOTCONN:
            return False
    else:
        if not os.path.ismount(path):
            return False
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool is None:
        return False
    subprocess.run([tool, "-u", "-z", path], capture_output=True, timeout=10, check=False)
    return True


class FuseMount:
    """One mounted filesystem: the pyfuse3 session and its request loop task."""

    def __init__(self, daemon: CfsHost, mountpoint: str, task: asyncio.Task[None]) -> None:
        self.daemon = daemon
        self.mountpoint = mountpoint
        self.task = task
        self.mounted = True

    async def stop(self) -> None:
        """Unmount (pmxcfs's ``teardown filesystem``)."""
        global _ACTIVE
        if not self.mounted:
            return
        import pyfuse3

        self.mounted = False
        with contextlib.suppress(Exception):
            pyfuse3.terminate()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self.task, 5.0)
        with contextlib.suppress(Exception):
            pyfuse3.close(unmount=True)
        _ACTIVE = False
        self.daemon.log(LogLevel.NOTICE, f"unmounted {self.mountpoint}", "fuse")


async def start_fuse(daemon: CfsHost) -> FuseMount | None:
    """Mount at ``R/etc/pve`` when ``/dev/fuse`` and pyfuse3 are available; None otherwise."""
    global _ACTIVE
    why = fuse_available()
    if why is not None:
        daemon.log(LogLevel.NOTICE, f"not mounting {daemon.root.etc_pve}: {why}", "fuse")
        return None
    if _ACTIVE:
        daemon.log(LogLevel.ERROR, "a FUSE session is already active in this process", "fuse")
        return None
    import pyfuse3
    import pyfuse3.asyncio

    mountpoint = daemon.root.etc_pve
    if _clear_stale_mount(mountpoint):
        daemon.log(LogLevel.NOTICE, f"cleared a stale mount at {mountpoint}", "fuse")
    os.makedirs(mountpoint, exist_ok=True)
    pyfuse3.asyncio.enable()
    options = set(pyfuse3.default_options)
    options.discard("default_permissions")  # modes follow quorum; the handlers decide
    options.update({"fsname=pycorosync-cfs", "subtype=pmxcfs"})
    started = time.monotonic()
    try:
        pyfuse3.init(make_operations(daemon), mountpoint, options)
    except (RuntimeError, OSError) as err:
        daemon.log(LogLevel.ERROR, f"unable to mount {mountpoint}: {err}", "fuse")
        return None
    _ACTIVE = True
    task = asyncio.get_running_loop().create_task(pyfuse3.main())
    daemon.log(
        LogLevel.NOTICE,
        f"mounted {mountpoint} ({(time.monotonic() - started) * 1000:.0f} ms)",
        "fuse",
    )
    return FuseMount(daemon, mountpoint, task)
