"""Connection set-up facts: names, credentials, the access rule (ref libqb-ipc/README.md 1, 8).

* **Addresses.** libqb binds and connects *abstract* AF_UNIX names padded with NULs to the
  whole 108-byte ``sun_path`` (``QB_SUN_LEN`` is ``sizeof(struct sockaddr_un)`` for them):
  ``@cmap`` is ``b"\\0cmap" + b"\\0" * 103``, a different name from a plain ``b"\\0cmap"``.
  Abstract names belong to a network namespace.
* **Credentials.** With ``SO_PASSCRED`` on, the kernel attaches ``SCM_CREDENTIALS``
  (``struct ucred {pid, uid, gid}``) to what the client sends, although it sends none.
* **Access** (``cs_ipcs_connection_accept``): effective uid 0 or gid 0, or a cmap key
  ``uidgid.uid.<uid>``, ``uidgid.config.uid.<uid>``, ``uidgid.gid.<gid>`` or
  ``uidgid.config.gid.<gid>`` set to 1; otherwise ``-EACCES``. Before the node is ready,
  ``-EAGAIN``.
* **Per-connection paths** (``handle_new_connection``): a directory
  ``<shm dir>/qb-<server pid>-<client pid>-<server fd>-XXXXXX`` (mode 0770, owned by the
  client) and the *description* ``<dir>/qb`` every file name of the connection starts with.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import socket
import string
import struct
from collections.abc import Callable
from dataclasses import dataclass

from totem.ipc.wire import CONNECTION_REQUEST_SIZE

__all__ = [
    "SHM_DIR",
    "SUN_PATH_MAX",
    "Credentials",
    "abstract_address",
    "corosync_access_allowed",
    "make_connection_dir",
    "recv_with_credentials",
    "remove_connection_dir",
]

SUN_PATH_MAX = 108
SHM_DIR = "/dev/shm"
_UCRED = struct.Struct("iII")
_SUFFIX_CHARS = string.ascii_letters + string.digits
_random = random.SystemRandom()


@dataclass(frozen=True, slots=True)
class Credentials:
    """The client's ``struct ucred`` as the kernel reported it."""

    pid: int
    uid: int
    gid: int


def abstract_address(name: str) -> bytes:
    """The abstract ``sun_path`` libqb uses for ``name`` (NUL, name, NUL padding to 108).

    A name longer than 106 bytes is cut there, as libqb's ``snprintf`` cuts it on both
    sides (``set_sock_addr``).
    """
    raw = name.encode()[: SUN_PATH_MAX - 2]
    return b"\0" + raw + b"\0" * (SUN_PATH_MAX - 1 - len(raw))


def recv_with_credentials(sock: socket.socket) -> tuple[bytes, Credentials | None]:
    """Read what is waiting of the connection request, with its ``SCM_CREDENTIALS``.

    Raises ``BlockingIOError`` when nothing is there yet; returns ``b""`` at end of file.
    """
    data, ancillary, _flags, _address = sock.recvmsg(
        CONNECTION_REQUEST_SIZE, socket.CMSG_SPACE(_UCRED.size)
    )
    creds = None
    for level, kind, payload in ancillary:
        if (
            level == socket.SOL_SOCKET
            and kind == socket.SCM_CREDENTIALS
            and len(payload) >= _UCRED.size
        ):
            creds = Credentials(*_UCRED.unpack_from(payload))
    return data, creds


UidGidLookup = Callable[[str], int | None]
"""``key -> value`` of a cmap u8 key, None if it does not exist (or is not a u8)."""


def corosync_access_allowed(uid: int, gid: int, lookup: UidGidLookup) -> bool:
    """``cs_ipcs_connection_accept``'s rule for a client's effective uid and gid."""
    if uid == 0 or gid == 0:
        return True
    for key in (
        f"uidgid.uid.{uid}",
        f"uidgid.config.uid.{uid}",
        f"uidgid.gid.{gid}",
        f"uidgid.config.gid.{gid}",
    ):
        if lookup(key) == 1:
            return True
    return False


def make_connection_dir(server_pid: int, creds: Credentials, fd: int, base: str = SHM_DIR) -> str:
    """Create the connection's directory; return its *description* (``<dir>/qb``)."""
    prefix = os.path.join(base, f"qb-{server_pid}-{creds.pid}-{fd}-")
    for _ in range(100):
        path = prefix + "".join(_random.choice(_SUFFIX_CHARS) for _ in range(6))
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o770)
        with contextlib.suppress(OSError):  # not root: the directory stays ours
            os.chown(path, creds.uid, creds.gid)
        return os.path.join(path, "qb")
    raise OSError(errno.EEXIST, f"no free connection directory name under {base}")


def remove_connection_dir(description: str) -> None:
    """``remove_tempdir``: remove the directory of a description (must be empty by now)."""
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(description))
