"""libqb's SHM transport, server side (``lib/ipc_shm.c``; ref libqb-ipc/README.md section 7).

The server creates three ring buffers per connection, each a pair of files in the
connection's directory, owned by the client (mode 0600), every one with 4 bytes of shared
user data: ``<description>-request-<service>``, ``-response-`` and ``-event-`` (the names
the set-up response carries; the files are ``<name>-header`` and ``<name>-data``). The
request ring's user data is the flow-control word clients read before each send.

Signalling (``needs_sock_for_poll``): after each request the client writes one byte on
the set-up stream, and after each event the server does the same; the client waits for a
response on the response ring's semaphore. So the set-up socket is at once the request
doorbell, the event doorbell (it is the fd ``cpg_fd_get`` returns in SHM mode, which is
why Pacemaker's ``SO_PEERCRED`` check passes) and the liveness channel.

When the client leaves, the rings are closed and their six files and the directory
removed. A client can truncate the files it owns; reading a truncated mapping would raise
SIGBUS in the daemon, as in any libqb server -- the files live in the client's directory
and only a root or ``uidgid``-allowed client ever gets one.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import socket
from collections.abc import Callable

from totem.ipc.ringbuffer import SEM_OFFSET, SHARED_HEADER_SIZE, RingBuffer, ring_sizes
from totem.ipc.sem import Semaphore
from totem.ipc.setup import Credentials
from totem.ipc.transport import OnHangup, OnRequests, create_owned_file, remove_reader_writer
from totem.ipc.wire import IpcType

__all__ = ["ShmRing", "ShmTransport"]

_USER_DATA_SIZE = 4
_RETRY_DELAY = 0.001
_RETRY_DELAY_MAX = 0.05
_MAX_REQUESTS_PER_TURN = 256


class ShmRing:
    """A ring buffer this server created in two files (``qb_rb_open`` with CREATE)."""

    def __init__(self, name: str, max_msg_size: int, creds: Credentials) -> None:
        self.name = name
        self.header_path = f"{name}-header"
        self.data_path = f"{name}-data"
        real_size, word_size = ring_sizes(max_msg_size)
        header_size = SHARED_HEADER_SIZE + _USER_DATA_SIZE
        self._maps: list[mmap.mmap] = []
        self._paths: list[str] = []
        self._sem: Semaphore | None = None
        self.ring: RingBuffer | None = None
        try:
            header = self._map(self.header_path, header_size, creds)
            data = self._map(self.data_path, real_size, creds)
            RingBuffer.format(header, data, word_size, self.header_path, self.data_path)
            self._sem = Semaphore(header, SEM_OFFSET)
            self._sem.init(0)
            self.ring = RingBuffer(header, data, self._sem)
        except BaseException:
            self.close()
            raise

    def _map(self, path: str, size: int, creds: Credentials) -> mmap.mmap:
        fd = create_owned_file(path, size, creds)
        self._paths.append(path)
        try:
            mapping = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._maps.append(mapping)
        return mapping

    def close(self) -> None:
        """``qb_rb_close`` by the creator: drop our reference, destroy, unmap, unlink."""
        if self.ring is not None:
            with contextlib.suppress(Exception):
                self.ring.decrement_ref_count()
            self.ring.release()
            self.ring = None
        if self._sem is not None:
            self._sem.destroy()
            self._sem.release()
            self._sem = None
        for mapping in self._maps:
            with contextlib.suppress(BufferError):
                mapping.close()
        self._maps.clear()
        for path in self._paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._paths.clear()


class ShmTransport:
    """The SHM channels of one connection."""

    ipc_type = IpcType.SHM

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
        self._names = (
            f"{description}-request-{service}",
            f"{description}-response-{service}",
            f"{description}-event-{service}",
        )
        self._rings: list[ShmRing] = []
        self._closed = False
        try:
            for name in self._names:
                self._rings.append(ShmRing(name, max_msg_size, creds))
        except BaseException:
            self.close()
            raise
        request, response, event = (r.ring for r in self._rings)
        assert request is not None and response is not None and event is not None
        self._request = request
        self._response = response
        self._event = event
        self._doorbells = 0
        """Event notification bytes not yet written on the set-up socket."""
        self._waiters: list[Callable[[], None]] = []
        self._retry: asyncio.TimerHandle | None = None
        self._retry_delay = _RETRY_DELAY
        self._writer_armed = False

    def names(self) -> tuple[str, str, str]:
        return self._names

    # ------------------------------------------------------------------------------------
    def start(self, on_requests: OnRequests, on_hangup: OnHangup) -> None:
        self._on_requests = on_requests
        self._on_hangup = on_hangup
        self._loop.add_reader(self._setup.fileno(), self._read_setup)

    def _read_setup(self) -> None:
        """Doorbells: one byte per request committed to the request ring (EOF: gone)."""
        try:
            data = self._setup.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._on_hangup(f"set-up socket: {err.strerror}")
            return
        if not data:
            self._on_hangup("client closed its set-up socket")
            return
        self._read_requests()

    def _read_requests(self) -> None:
        """Every committed request, at most a batch per loop turn (the ring is the truth;
        the doorbell bytes only wake us)."""
        if self._closed:
            return
        batch: list[bytes] = []
        read = self._request.read
        for _ in range(_MAX_REQUESTS_PER_TURN):
            message = read()
            if message is None:
                break
            batch.append(message)
        else:
            self._loop.call_soon(self._read_requests)
        if batch:
            self._on_requests(batch)

    # ------------------------------------------------------------------------------------
    def send_response(self, message: bytes) -> bool:
        return self._response.write(message)

    def send_event(self, message: bytes) -> bool:
        if not self._event.write(message):
            return False
        self._doorbells += 1
        return True

    def flush(self) -> None:
        """Ring the client's doorbell once per event written (non-blocking)."""
        if not self._doorbells or self._closed:
            return
        try:
            sent = self._setup.send(b"\1" * self._doorbells)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as err:
            self._loop.call_soon(self._on_hangup, f"set-up socket: {err.strerror}")
            return
        self._doorbells -= sent
        if self._doorbells and not self._writer_armed:
            self._writer_armed = True
            self._loop.add_writer(self._setup.fileno(), self._writable)

    def _writable(self) -> None:
        self._writer_armed = False
        self._loop.remove_writer(self._setup.fileno())
        self.flush()

    def when_writable(self, callback: Callable[[], None]) -> None:
        """The client frees ring space by reading and tells nobody: poll with a backoff."""
        if self._closed:
            return
        self._waiters.append(callback)
        if self._retry is None:
            self._retry = self._loop.call_later(self._retry_delay, self._wake)

    def _wake(self) -> None:
        self._retry = None
        waiters, self._waiters = self._waiters, []
        self._retry_delay = min(self._retry_delay * 2, _RETRY_DELAY_MAX)
        for callback in waiters:
            callback()
        if not self._waiters:
            self._retry_delay = _RETRY_DELAY

    def set_flow_control(self, value: int) -> None:
        if not self._closed:
            self._request.user_word = value

    def close(self) -> None:
        """``qb_ipcs_shm_disconnect``: close the rings (their files go too)."""
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._waiters.clear()
        with contextlib.suppress(OSError, ValueError):
            remove_reader_writer(self._loop, self._setup)
        for ring in self._rings:
            ring.close()
        self._rings.clear()
