"""The libqb IPC server on an asyncio loop (``qb_ipcs_*`` plus corosync's ``ipc_glue.c``).

One listening stream socket per IPC service, on the abstract name the client libraries
connect to (``@cmap``, ``@cfg``, ...). A connection goes through (ref libqb-ipc/README.md):

1. ``accept``; ``SO_PASSCRED`` on; the 24-byte connection request is read with the
   client's ``SCM_CREDENTIALS``; ``SO_PASSCRED`` off.
2. The node's verdict: ``-EAGAIN`` before it is ready, ``-EACCES`` if the access rule
   refuses the credentials (logged as corosync logs it), else the transport the node is
   configured for (``system.qb_ipc_type``: SOCKET, or SHM for ``native``/``shm``) creates
   its objects in a fresh directory owned by the client.
3. The 12328-byte set-up response; then the service's ``lib_init``.
4. Requests go through the service's :class:`~totem.ipc.dispatch.LibDispatcher`; responses
   and events go back through the transport, each connection with its own event queue.
5. The client closing its set-up socket (or dying) ends the connection: ``lib_exit``,
   then every socket, mapping and file of the connection goes, and the directory.

**Event queues and back-pressure.** Events are never dropped: a client whose queue backs
up gets the flow-control value 2 (its CPG multicasts are refused with
``CS_ERR_TRY_AGAIN`` by its own library, the others still run) from ``queue_high`` bytes
until the queue is back under ``queue_low``; a client that lets ``queue_limit`` bytes pile
up is disconnected with an error in the log (it would otherwise hold the daemon's memory
hostage) -- its lib_exit runs like any other leave. The node's own flow control
(synchronisation, a full send queue: ``set_flow_control``) is combined with it.

A second server on the same names in one network namespace cannot bind: :class:`IpcAddressInUse`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import socket
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from totem.ipc.dispatch import ConnectionStats, LibDispatcher, SendingAllowed
from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.setup import (
    SHM_DIR,
    Credentials,
    abstract_address,
    make_connection_dir,
    recv_with_credentials,
    remove_connection_dir,
)
from totem.ipc.shm import ShmTransport
from totem.ipc.sock import SocketTransport
from totem.ipc.transport import Transport
from totem.ipc.wire import (
    CONNECTION_REQUEST_SIZE,
    QB_IPC_MSG_AUTHENTICATE,
    ConnectionRequest,
    IpcType,
    encode_connection_response,
)
from totem.srp.events import LogLevel

__all__ = [
    "AccessCheck",
    "IpcAddressInUse",
    "IpcConnection",
    "IpcServer",
    "IpcService",
    "ServerLimits",
]

LogFn = Callable[[LogLevel, str], None]
AccessCheck = Callable[[Credentials], bool]
_LISTEN_BACKLOG = 128
_SETUP_TIMEOUT = 10.0


class IpcAddressInUse(OSError):
    """Another server (a corosync, another pycorosync) already holds a service name here."""


@dataclass(frozen=True, slots=True)
class IpcService:
    """One IPC service as the server sees it: a name, an id, a library table, two hooks."""

    name: str
    service_id: int
    handlers: Sequence[LibHandler]
    lib_init: Callable[[LibConnection], None]
    lib_exit: Callable[[LibConnection], None]
    flow_controlled: bool = True
    """False for a service the node's flow control spares (votequorum during sync)."""


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Sizes of the server (bytes)."""

    max_msg_size: int = 1 << 20
    """Upper bound of a connection's message size (clients ask for 1 MiB)."""
    queue_high: int = 8 << 20
    queue_low: int = 2 << 20
    queue_limit: int = 256 << 20


@dataclass(eq=False)
class _Pending:
    """A stream socket between ``accept`` and its connection request."""

    sock: socket.socket
    service: IpcService
    data: bytearray = field(default_factory=bytearray)
    creds: Credentials | None = None
    timer: asyncio.TimerHandle | None = None


class IpcConnection:
    """One client of one service (implements :class:`~totem.ipc.engine.LibConnection`)."""

    def __init__(
        self,
        server: IpcServer,
        conn_id: int,
        service: IpcService,
        creds: Credentials,
        setup: socket.socket,
        description: str,
        transport: Transport,
    ) -> None:
        self.server = server
        self.id = conn_id
        self.service = service
        self.creds = creds
        self.setup = setup
        self.description = description
        self.transport = transport
        self.stats = ConnectionStats()
        self.private: Any = None
        self.closed = False
        self.procname = _process_name(creds.pid)
        self._responses: deque[bytes] = deque()
        self._events: deque[bytes] = deque()
        self._queued_bytes = 0
        self._dirty = False
        self._waiting = False
        self._backpressure = 0
        self._node_fc = 0

    # --- LibConnection ----------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self.creds.pid

    @property
    def uid(self) -> int:
        return self.creds.uid

    @property
    def gid(self) -> int:
        return self.creds.gid

    def respond(self, message: bytes) -> None:
        if self.closed:
            return
        self.stats.responses += 1
        if self._responses or not self.transport.send_response(message):
            self._responses.append(message)
            self.stats.send_retries += 1
            self._wait()

    def dispatch(self, message: bytes) -> None:
        if self.closed:
            return
        if not self._events:
            self.stats.queueing = False
            self.stats.sent = 0
        self._events.append(message)
        self._queued_bytes += len(message)
        if not self._dirty:
            self._dirty = True
            self.server._schedule_flush(self)

    def disconnect(self) -> None:
        self.server.close_connection(self, "closed by the service")

    # --- queues -----------------------------------------------------------------------------
    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def flush(self) -> None:
        """Send what the client has room for; keep the rest, in order."""
        self._dirty = False
        if self.closed:
            return
        transport = self.transport
        responses = self._responses
        while responses and transport.send_response(responses[0]):
            responses.popleft()
        events = self._events
        stats = self.stats
        send = transport.send_event
        sent = 0
        while events:
            message = events[0]
            if not send(message):
                stats.send_retries += 1
                break
            events.popleft()
            self._queued_bytes -= len(message)
            sent += 1
        transport.flush()
        stats.dispatched += sent
        stats.sent += sent
        stats.queued = len(events)
        if events:
            stats.queueing = True
        if events or responses:
            self._wait()
        self.server._after_flush(self)

    def _wait(self) -> None:
        if not self._waiting and not self.closed:
            self._waiting = True
            self.transport.when_writable(self._writable)

    def _writable(self) -> None:
        self._waiting = False
        self.flush()

    def set_backpressure(self, value: int) -> None:
        self._backpressure = value
        self._apply_fc()

    def set_node_flow_control(self, value: int) -> None:
        self._node_fc = value
        self._apply_fc()

    def _apply_fc(self) -> None:
        value = max(self._node_fc, self._backpressure)
        if value != self.stats.flow_control and not self.closed:
            self.stats.flow_control = value
            self.stats.flow_control_count += 1
            self.transport.set_flow_control(value)


class IpcServer:
    """Serves ``services`` on their abstract names (see the module docstring)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        services: Iterable[IpcService],
        *,
        ipc_type: IpcType,
        sending_allowed: Callable[[int, int], bool],
        access: AccessCheck | None = None,
        ready: Callable[[], bool] = lambda: True,
        after_input: Callable[[], None] = lambda: None,
        log: LogFn | None = None,
        shm_dir: str = SHM_DIR,
        limits: ServerLimits | None = None,
    ) -> None:
        self.loop = loop
        self.services = {service.name: service for service in services}
        self.ipc_type = ipc_type
        self._sending_allowed = sending_allowed
        self._access = access
        self._ready = ready
        self._after_input = after_input
        self._log = log
        self.shm_dir = shm_dir
        self.limits = limits or ServerLimits()
        self._listeners: dict[str, socket.socket] = {}
        self._pending: set[_Pending] = set()
        self.connections: dict[int, IpcConnection] = {}
        self._ids = itertools.count(1)
        self._dispatchers = {
            name: LibDispatcher(name, s.handlers, self._gate(s), log, loop.time)
            for name, s in self.services.items()
        }
        self._to_flush: list[IpcConnection] = []
        self._flush_scheduled = False
        self._node_fc: dict[str, int] = {}
        self.stats = {"active": 0, "closed": 0, "refused": 0}

    def _gate(self, service: IpcService) -> SendingAllowed:
        def allowed(size: int) -> bool:
            return self._sending_allowed(service.service_id, size)

        return allowed

    def _emit(self, level: LogLevel, message: str) -> None:
        if self._log is not None:
            self._log(level, message)

    # ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Bind and listen on every service name; IpcAddressInUse if one is taken."""
        try:
            for name in self.services:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                try:
                    sock.bind(abstract_address(name))
                except OSError as err:
                    sock.close()
                    if err.errno == errno.EADDRINUSE:
                        raise IpcAddressInUse(
                            errno.EADDRINUSE,
                            f"libqb IPC service '{name}' is already served in this network "
                            "namespace (a corosync or another pycorosync runs here)",
                        ) from None
                    raise
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
                sock.listen(_LISTEN_BACKLOG)
                sock.setblocking(False)
                self._listeners[name] = sock
                self.loop.add_reader(sock.fileno(), self._accept, name)
                self._emit(LogLevel.INFO, f"server name: {name}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Withdraw the names and close every connection (lib_exit for each)."""
        for sock in self._listeners.values():
            with contextlib.suppress(OSError, ValueError):
                self.loop.remove_reader(sock.fileno())
            sock.close()
        self._listeners.clear()
        for pending in list(self._pending):
            self._drop_pending(pending)
        for conn in list(self.connections.values()):
            self._close_now(conn, "server shutting down")

    # --- set-up -----------------------------------------------------------------------------
    def _accept(self, name: str) -> None:
        listener = self._listeners.get(name)
        if listener is None:
            return
        for _ in range(32):
            try:
                sock, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                self._emit(LogLevel.ERROR, f"Could not accept client connection: {err.strerror}")
                return
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            pending = _Pending(sock, self.services[name])
            pending.timer = self.loop.call_later(_SETUP_TIMEOUT, self._drop_pending, pending)
            self._pending.add(pending)
            self.loop.add_reader(sock.fileno(), self._read_request, pending)

    def _drop_pending(self, pending: _Pending) -> None:
        if pending not in self._pending:
            return
        self._pending.discard(pending)
        if pending.timer is not None:
            pending.timer.cancel()
        with contextlib.suppress(OSError, ValueError):
            self.loop.remove_reader(pending.sock.fileno())
        pending.sock.close()

    def _read_request(self, pending: _Pending) -> None:
        try:
            data, creds = recv_with_credentials(pending.sock)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop_pending(pending)
            return
        if not data:
            self._drop_pending(pending)
            return
        pending.data += data
        pending.creds = pending.creds or creds
        if len(pending.data) < CONNECTION_REQUEST_SIZE:
            return
        self._pending.discard(pending)
        if pending.timer is not None:
            pending.timer.cancel()
        sock = pending.sock
        self.loop.remove_reader(sock.fileno())
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 0)
        request = ConnectionRequest.decode(bytes(pending.data))
        if request.message_id != QB_IPC_MSG_AUTHENTICATE or pending.creds is None:
            sock.close()
            return
        self._new_connection(pending.service, sock, request, pending.creds)

    def _new_connection(
        self,
        service: IpcService,
        sock: socket.socket,
        request: ConnectionRequest,
        creds: Credentials,
    ) -> None:
        """``handle_new_connection``: decide, build the transport, answer."""
        error = 0
        if not self._ready():
            error = -errno.EAGAIN
            self._emit(LogLevel.DEBUG, "Denied connection, corosync is not ready")
        elif self._access is not None and not self._access(creds):
            error = -errno.EACCES
            self._emit(LogLevel.ERROR, f"Denied connection attempt from {creds.uid}:{creds.gid}")
        if error:
            self.stats["refused"] += 1
            self._answer(sock, encode_connection_response(error))
            sock.close()
            return
        max_msg_size = min(max(request.max_msg_size, 8192), self.limits.max_msg_size)
        conn_id = next(self._ids)
        description = ""
        try:
            description = make_connection_dir(os.getpid(), creds, sock.fileno(), self.shm_dir)
            factory = SocketTransport if self.ipc_type is IpcType.SOCKET else ShmTransport
            transport: Transport = factory(
                self.loop, sock, description, service.name, max_msg_size, creds
            )
        except Exception as err:
            if description:
                remove_connection_dir(description)
            code = err.errno if isinstance(err, OSError) and err.errno else errno.EIO
            self._emit(
                LogLevel.ERROR,
                f"Error in connection setup ({description or service.name}): {err}",
            )
            self.stats["refused"] += 1
            self._answer(sock, encode_connection_response(-code))
            sock.close()
            return
        req_name, resp_name, event_name = transport.names()
        conn = IpcConnection(self, conn_id, service, creds, sock, description, transport)
        self.connections[conn_id] = conn
        sent = self._answer(
            sock,
            encode_connection_response(
                0,
                transport.ipc_type,
                max_msg_size,
                conn_id,
                req_name,
                resp_name,
                event_name,
            ),
        )
        if not sent:
            del self.connections[conn_id]
            transport.close()
            sock.close()
            remove_connection_dir(description)
            return
        self.stats["active"] += 1
        self._emit(LogLevel.DEBUG, f"IPC credentials authenticated ({description})")
        fc = self._node_fc.get(service.name, 0)
        if fc:
            conn.set_node_flow_control(fc)
        try:
            service.lib_init(conn)
        except Exception as err:
            self._emit(LogLevel.ERROR, f"lib_init_fn failed, disconnecting: {err!r}")
            self._close_now(conn, "lib_init failed")
            return
        transport.start(
            lambda batch: self._requests(conn, batch),
            lambda why: self.close_connection(conn, why),
        )

    @staticmethod
    def _answer(sock: socket.socket, response: bytes) -> bool:
        """The set-up response, in full (12 KiB: one write on a fresh stream socket)."""
        try:
            sock.settimeout(1.0)
            sock.sendall(response)
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                sock.setblocking(False)
        return True

    # --- requests, events ---------------------------------------------------------------------
    def _requests(self, conn: IpcConnection, batch: list[bytes]) -> None:
        dispatcher = self._dispatchers[conn.service.name]
        try:
            for message in batch:
                if conn.closed:
                    break
                if not dispatcher.dispatch(conn, message):
                    self.close_connection(conn, "client requesting a disconnect")
                    break
        finally:
            self._after_input()

    def _schedule_flush(self, conn: IpcConnection) -> None:
        self._to_flush.append(conn)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_all)

    def _flush_all(self) -> None:
        self._flush_scheduled = False
        todo, self._to_flush = self._to_flush, []
        for conn in todo:
            conn.flush()

    def _after_flush(self, conn: IpcConnection) -> None:
        """Back-pressure on a connection whose event queue backs up (module docstring)."""
        queued = conn.queued_bytes
        limits = self.limits
        if queued > limits.queue_limit:
            self._emit(
                LogLevel.ERROR,
                f"{conn.service.name}: client pid {conn.pid} ({conn.procname}) does not read "
                f"its events ({queued} bytes queued): disconnecting it",
            )
            self.close_connection(conn, "event queue over its limit")
        elif queued > limits.queue_high:
            conn.set_backpressure(2)
        elif queued < limits.queue_low:
            conn.set_backpressure(0)

    # --- flow control -----------------------------------------------------------------------
    def set_flow_control(self, value: int, services: Iterable[str] | None = None) -> None:
        """The node's flow-control value for the clients of ``services`` (all if None)."""
        names = list(self.services) if services is None else list(services)
        for name in names:
            if self._node_fc.get(name, 0) == value:
                continue
            self._node_fc[name] = value
            for conn in self.connections.values():
                if conn.service.name == name:
                    conn.set_node_flow_control(value)

    # --- teardown -----------------------------------------------------------------------------
    def close_connection(self, conn: IpcConnection, why: str) -> None:
        """End ``conn`` on the next loop turn (never inside a service's own call)."""
        if not conn.closed and conn.id in self.connections:
            self.loop.call_soon(self._close_now, conn, why)

    def _close_now(self, conn: IpcConnection, why: str) -> None:
        if conn.closed:
            return
        self._emit(LogLevel.DEBUG, f"qb_ipcs_disconnect({conn.description}): {why}")
        try:
            conn.service.lib_exit(conn)
        except Exception as err:
            self._emit(LogLevel.ERROR, f"{conn.service.name}: lib_exit_fn failed: {err!r}")
        conn.closed = True
        self.connections.pop(conn.id, None)
        conn.transport.close()
        conn.setup.close()
        remove_connection_dir(conn.description)
        self.stats["active"] -= 1
        self.stats["closed"] += 1
        self._after_input()


def _process_name(pid: int) -> str:
    """The client's command name (``pid_to_name``: the comm field of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read(512).decode(errors="replace")
    except OSError:
        return ""
    start, end = text.find("("), text.rfind(")")
    return text[start + 1 : end] if 0 <= start < end else ""
