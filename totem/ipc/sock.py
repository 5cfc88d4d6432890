"""libqb's SOCKET transport, server side (``lib/ipc_socket.c``; ref libqb-ipc/README.md 2).

Per connection, besides the set-up stream (kept open only to notice the client leaving):

* a *control file* ``<description>-control-<service>`` of 24 bytes, owned by the client
  (mode 0600): three ``struct ipc_us_control {i32 sent; i32 flow_control}`` for the
  request, response and event channels. Clients read the request slot's ``flow_control``
  before every send; ``sent`` is statistics only.
* a datagram socket bound to the abstract ``<base>-request``: requests arrive there, and on
  the first answer it connects to the client's ``<base>-response`` and carries responses;
* a datagram socket bound to ``<base>-event-tx`` that connects to ``<base>-event`` on the
  first event.

``<base>`` is ``<description>-<service>``; the set-up response carries the control file's
path as *request* and ``<base>`` as *response*. One datagram is one message. A full client
queue (``EAGAIN``) or a client that has not bound its sockets yet leaves the message queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import mmap
import os
import socket
import threading
from collections.abc import Callable

from totem.ipc.setup import Credentials, abstract_address
from totem.ipc.transport import (
    OnHangup,
    OnRequests,
    create_owned_file,
    remove_reader_writer,
    set_buffer_sizes,
)
from totem.ipc.wire import IpcType

__all__ = ["CONTROL_SIZE", "SocketTransport"]

CONTROL_SIZE = 24
_FLOW_CONTROL = 4
"""Offset of the request slot's ``flow_control`` in the control file."""
_MAX_REQUESTS_PER_TURN = 64


_SHARED = threading.local()


def _receive_buffer(size: int) -> bytearray:
    """One receive buffer for every connection of a loop's thread (a datagram is read and
    copied out at once): grown to the largest message size asked for."""
    buffer: bytearray | None = getattr(_SHARED, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _SHARED.buffer = bytearray(size)
    return buffer


class SocketTransport:
    """The SOCKET channels of one connection."""

    ipc_type = IpcType.SOCKET

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        setup: socket.socket,
        description: str,
        service: str,
        max_msg_size: int,
        creds: Credentials,
    ) -> None:
        self._loop = loop
        self._setup = setup
        self._max = max_msg_size
        self.control_path = f"{description}-control-{service}"
        self.base = f"{description}-{service}"
        self._buffer = _receive_buffer(max_msg_size)
        self._closed = False
        self._sockets: list[socket.socket] = []
        fd = create_owned_file(self.control_path, CONTROL_SIZE, creds)
        try:
            self._control: mmap.mmap | None = mmap.mmap(fd, CONTROL_SIZE)
        except BaseException:
            os.unlink(self.control_path)
            raise
        finally:
            os.close(fd)
        self._fc = ctypes.c_int32.from_buffer(self._control, _FLOW_CONTROL)
        try:
            self._request = self._bind("request")
            self._event = self._bind("event-tx")
        except BaseException:
            self.close()
            raise
        self._response_connected = False
        self._event_connected = False

    def _bind(self, suffix: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sockets.append(sock)
        sock.setblocking(False)
        sock.bind(abstract_address(f"{self.base}-{suffix}"))
        set_buffer_sizes(sock, self._max)
        return sock

    def names(self) -> tuple[str, str, str]:
        return self.control_path, self.base, ""

    # ------------------------------------------------------------------------------------
    def start(self, on_requests: OnRequests, on_hangup: OnHangup) -> None:
        self._on_requests = on_requests
        self._on_hangup = on_hangup
        self._loop.add_reader(self._request.fileno(), self._read_requests)
        self._loop.add_reader(self._setup.fileno(), self._read_setup)

    def _read_requests(self) -> None:
        buffer = self._buffer = _receive_buffer(self._max)
        recv_into = self._request.recv_into
        batch: list[bytes] = []
        for _ in range(_MAX_REQUESTS_PER_TURN):
            try:
                size = recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as err:
                self._on_hangup(f"request socket: {err.strerror}")
                return
            batch.append(bytes(buffer[:size]))
        if batch:
            self._on_requests(batch)

    def _read_setup(self) -> None:
        """Only liveness travels here: EOF (or an error) means the client is gone."""
        try:
            data = self._setup.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._on_hangup(f"set-up socket: {err.strerror}")
            return
        if not data:
            self._on_hangup("client closed its set-up socket")

    # ------------------------------------------------------------------------------------
    def send_response(self, message: bytes) -> bool:
        if not self._response_connected:
            if not self._connect(self._request, "response"):
                return False
            self._response_connected = True
        return self._send(self._request, message)

    def send_event(self, message: bytes) -> bool:
        if not self._event_connected:
            if not self._connect(self._event, "event"):
                return False
            self._event_connected = True
        return self._send(self._event, message)

    def _connect(self, sock: socket.socket, suffix: str) -> bool:
        """``_finish_connecting``: the client binds its sockets after the set-up response."""
        try:
            sock.connect(abstract_address(f"{self.base}-{suffix}"))
        except (ConnectionRefusedError, FileNotFoundError, BlockingIOError, InterruptedError):
            return False
        return True

    def _send(self, sock: socket.socket, message: bytes) -> bool:
        try:
            sock.send(message)
        except (BlockingIOError, InterruptedError):
            return False
        except (ConnectionRefusedError, BrokenPipeError, ConnectionResetError):
            self._loop.call_soon(self._on_hangup, "client's datagram socket is gone")
            return False
        return True

    def flush(self) -> None:
        """Nothing is held back: each datagram went out in ``send_*``."""

    def when_writable(self, callback: Callable[[], None]) -> None:
        if self._closed:
            return
        if not (self._response_connected and self._event_connected):
            # not connected yet: the client has not bound; try again shortly
            self._loop.call_later(0.01, callback)
            return
        fds = (self._request.fileno(), self._event.fileno())

        def ready() -> None:
            for fd in fds:
                self._loop.remove_writer(fd)
            callback()

        for fd in fds:
            self._loop.add_writer(fd, ready)

    def set_flow_control(self, value: int) -> None:
        if self._control is not None:
            self._fc.value = value

    def close(self) -> None:
        """``qb_ipcs_us_disconnect``: close the sockets, unmap and unlink the control file."""
        if self._closed:
            return
        self._closed = True
        for sock in self._sockets:
            with contextlib.suppress(OSError, ValueError):
                remove_reader_writer(self._loop, sock)
            sock.close()
        with contextlib.suppress(OSError, ValueError):
            remove_reader_writer(self._loop, self._setup)
        if self._control is not None:
            del self._fc
            self._control.close()
            self._control = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.control_path)
