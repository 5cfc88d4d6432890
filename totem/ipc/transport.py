"""What the server needs of a transport, and the parts both transports share.

A transport carries one connection's three channels (request, response, event) after the
set-up (ref libqb-ipc/README.md sections 2 and 7). The server owns the set-up stream
socket; the transport adds its own objects next to it and reports the set-up response's
three names. Sends never block: a ``False`` from ``send_response``/``send_event`` means
"no room now" and the server keeps the message queued until ``when_writable`` calls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from typing import Protocol

from totem.ipc.setup import Credentials
from totem.ipc.wire import IpcType

__all__ = [
    "OnHangup",
    "OnRequests",
    "Transport",
    "create_owned_file",
    "set_buffer_sizes",
]

OnRequests = Callable[[list[bytes]], None]
"""The requests read in one go, in order."""
OnHangup = Callable[[str], None]
"""The client is gone (or broke the protocol): why, for the log."""


class Transport(Protocol):
    """One connection's channels, SOCKET or SHM."""

    ipc_type: IpcType

    def names(self) -> tuple[str, str, str]:
        """``request``, ``response``, ``event`` of the set-up response."""
        ...

    def start(self, on_requests: OnRequests, on_hangup: OnHangup) -> None: ...

    def send_response(self, message: bytes) -> bool: ...

    def send_event(self, message: bytes) -> bool: ...

    def flush(self) -> None:
        """Push out what ``send_event`` left pending (SHM: the notification bytes)."""
        ...

    def when_writable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when a refused send may succeed."""
        ...

    def set_flow_control(self, value: int) -> None:
        """The value clients read before each send (0 send; 1 refuse all; 2 refuse mcast)."""
        ...

    def close(self) -> None:
        """Release everything the connection created (sockets, mappings, files)."""
        ...


def create_owned_file(path: str, size: int, creds: Credentials, mode: int = 0o600) -> int:
    """Create ``path`` (it must not exist), size it, give it to the client; return the fd.

    As ``qb_sys_mmap_file_open`` with ``O_CREAT|O_EXCL`` then chown and chmod: the client
    opens the file read-write by name, so it must own it.
    """
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, size)
        with contextlib.suppress(OSError):  # tmpfs allocates on write anyway
            os.posix_fallocate(fd, 0, size)
        with contextlib.suppress(OSError):  # not root: the file stays ours
            os.fchown(fd, creds.uid, creds.gid)
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return fd


def set_buffer_sizes(sock: socket.socket, size: int) -> None:
    """``set_sock_size``: socket buffers of at least ``size`` (forced past the sysctl caps
    when we may: a datagram larger than the send buffer could never be sent)."""
    for name, force in (
        (socket.SO_SNDBUF, getattr(socket, "SO_SNDBUFFORCE", None)),
        (socket.SO_RCVBUF, getattr(socket, "SO_RCVBUFFORCE", None)),
    ):
        if sock.getsockopt(socket.SOL_SOCKET, name) > size:
            continue
        if force is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, size)
                continue
            except OSError:
                pass
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, name, size)


def remove_reader_writer(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Forget ``sock`` in the loop (before it is closed)."""
    if sock.fileno() >= 0:
        loop.remove_reader(sock.fileno())
        loop.remove_writer(sock.fileno())
