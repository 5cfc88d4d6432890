"""asyncio driver of the qnetd server: TCP, STARTTLS and the control socket.

A thin layer around the sans-IO :class:`~qnetd.server.instance.QnetdServer`: every accepted
connection gets an id and a :class:`ClientProtocol` that feeds ``receive``; after each call the
server's outbox is flushed (``Send`` → write, through TLS when active; ``StartTls`` → start the
server handshake on a :class:`~qnetd.tls.TlsSession`, feeding it the bytes already read;
``Close`` → close), and one ``loop.call_at`` is re-armed to ``next_deadline()``. Time is
``loop.time()``.

A client whose unsent output exceeds ``max_client_send_buffers × max_client_send_size`` bytes is
disconnected (qnetd drops a client whose 32-entry send list is full). Accepted sockets use
TCP_NODELAY, which avoids the ~40 ms delayed-ACK stall of the real server (qnetd-capacity.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any, cast

from qnetd.certnames import peer_certificate_from_ssl
from qnetd.server.events import Close, DisconnectReason, Send, StartTls
from qnetd.server.instance import QnetdServer
from qnetd.server.ipc import handle_ipc_command
from qnetd.tls import TlsError, TlsSession

__all__ = ["ClientProtocol", "IpcProtocol", "QnetdDriver", "format_peer_address"]

log = logging.getLogger("qnetd")


def format_peer_address(peername: Any) -> str:
    """``PR_NetAddrToString`` + ``:port``: ``127.0.0.1:40000`` or ``::ffff:10.0.0.1:40000``."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"
    return str(peername)


class QnetdDriver:
    """Connects a :class:`QnetdServer` to an asyncio event loop."""

    def __init__(
        self,
        server: QnetdServer,
        loop: asyncio.AbstractEventLoop,
        tls_context: ssl.SSLContext | None = None,
        on_shutdown_request: Callable[[], None] | None = None,
    ) -> None:
        self.server = server
        self.loop = loop
        self.tls_context = tls_context
        self.on_shutdown_request = on_shutdown_request
        self.protocols: dict[int, ClientProtocol] = {}
        self._next_id = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flushing = False
        adv = server.config.advanced
        self.send_buffer_limit = adv.max_client_send_buffers * adv.max_client_send_size
        self.ipc_clients = 0
        self.servers: list[asyncio.AbstractServer] = []

    def now(self) -> float:
        return self.loop.time()

    # ------------------------------------------------------------------ listening

    async def listen_tcp(self, sock: socket.socket) -> asyncio.AbstractServer:
        """Serve qdevice clients on an already bound and listening socket."""
        srv = await self.loop.create_server(
            lambda: ClientProtocol(self),
            sock=sock,
            backlog=self.server.config.advanced.listen_backlog,
        )
        self.servers.append(srv)
        return srv

    async def listen_ipc(self, path: str) -> asyncio.AbstractServer:
        """Serve the control protocol on a Unix socket (a stale socket file is replaced)."""
        if os.path.exists(path):
            os.unlink(path)
        srv = await self.loop.create_unix_server(
            lambda: IpcProtocol(self),
            path,
            backlog=self.server.config.advanced.local_socket_backlog,
        )
        os.chmod(path, 0o660)
        self.servers.append(srv)
        return srv

    async def close(self) -> None:
        """Stop listening, disconnect every client (server going down)."""
        for srv in self.servers:
            srv.close()
        self.server.shutdown(self.now())
        self.flush()
        for srv in self.servers:
            await srv.wait_closed()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------------ plumbing

    def register(self, proto: ClientProtocol) -> int:
        self._next_id += 1
        self.protocols[self._next_id] = proto
        return self._next_id

    def flush(self) -> None:
        """Carry out the server's outputs, then re-arm the timer.

        A connection's messages of one flush leave in one write (a node that triggers a
        decision gets its VOTE_INFO and its reply in one segment); each connection's output
        keeps its order, and a StartTls or Close first writes what precedes it.
        """
        if self._flushing:
            return
        self._flushing = True
        try:
            server = self.server
            protocols = self.protocols
            while True:
                out = server.outbox()
                if not out:
                    break
                if len(out) == 1:
                    # The usual case: one reply.
                    item = out[0]
                    if item.__class__ is Send:
                        assert isinstance(item, Send)
                        proto = protocols.get(item.conn_id)
                        if proto is not None:
                            proto.write(item.data)
                        continue
                pending: dict[int, list[bytes]] = {}
                for item in out:
                    conn_id = item.conn_id
                    if item.__class__ is Send:
                        assert isinstance(item, Send)
                        chunks = pending.get(conn_id)
                        if chunks is None:
                            pending[conn_id] = [item.data]
                        else:
                            chunks.append(item.data)
                        continue
                    proto = protocols.get(conn_id)
                    if proto is None:
                        continue
                    chunks = pending.pop(conn_id, None)
                    if chunks is not None:
                        proto.write(b"".join(chunks))
                    if isinstance(item, StartTls):
                        proto.start_tls(item.pending)
                    elif isinstance(item, Close):
                        proto.close_by_server(item.reason)
                for conn_id, chunks in pending.items():
                    proto = protocols.get(conn_id)
                    if proto is not None:
                        proto.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            if server.record_events:
                server.events()
        finally:
            self._flushing = False
        self._rearm()

    def _rearm(self) -> None:
        deadline = self.server.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.server.on_deadline(self.loop.time())
        self.flush()


class ClientProtocol(asyncio.Protocol):
    """One qdevice connection."""

    def __init__(self, driver: QnetdDriver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.conn_id = 0
        self.tls: TlsSession | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        driver = self.driver
        self.conn_id = driver.register(self)
        addr = format_peer_address(transport.get_extra_info("peername"))
        if not driver.server.accept(self.conn_id, addr, driver.now()):
            self.closed = True
            driver.protocols.pop(self.conn_id, None)
            transport.abort()
        driver.flush()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        driver = self.driver
        if self.tls is not None:
            self._tls_input(data)
        else:
            driver.server.receive(self.conn_id, data, driver.loop.time())
        driver.flush()

    def _tls_input(self, data: bytes) -> None:
        assert self.tls is not None and self.transport is not None
        server = self.driver.server
        try:
            out = self.tls.feed(data)
        except TlsError as exc:
            log.error("Can't complete TLS handshake with client (%s). Disconnecting client", exc)
            alert = self.tls.pending_output()
            if alert:
                self.transport.write(alert)
            server.disconnect(
                self.conn_id, DisconnectReason.TLS_HANDSHAKE_FAILED, self.driver.now()
            )
            return
        if out.to_send:
            self.transport.write(out.to_send)
        now = self.driver.now()
        if out.handshake_completed:
            peer = peer_certificate_from_ssl(self.tls.getpeercert())
            server.tls_established(self.conn_id, peer, now)
        if out.plaintext:
            server.receive(self.conn_id, out.plaintext, now)
        if out.closed:
            server.disconnect(self.conn_id, DisconnectReason.CLIENT_CLOSED, now)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        driver = self.driver
        driver.protocols.pop(self.conn_id, None)
        reason = DisconnectReason.CLIENT_CLOSED if exc is None else DisconnectReason.IO_ERROR
        if exc is not None:
            log.error("Unhandled error when reading from client. Disconnecting client (%s)", exc)
        driver.server.connection_lost(self.conn_id, driver.now(), reason)
        driver.flush()

    # -- called by the driver

    def write(self, data: bytes) -> None:
        transport = self.transport
        if self.closed or transport is None:
            return
        if self.tls is not None:
            try:
                data = self.tls.encrypt(data)
            except TlsError as exc:
                log.error("Unhandled error when sending message to client (%s)", exc)
                self.driver.server.disconnect(
                    self.conn_id, DisconnectReason.IO_ERROR, self.driver.now()
                )
                return
        transport.write(data)
        if transport.get_write_buffer_size() > self.driver.send_buffer_limit:
            log.error("Can't alloc msg from list. Disconnecting client connection.")
            self.driver.server.disconnect(
                self.conn_id, DisconnectReason.SEND_BUFFER_FULL, self.driver.now()
            )

    def start_tls(self, pending: bytes) -> None:
        ctx = self.driver.tls_context
        if ctx is None:
            self.driver.server.disconnect(
                self.conn_id, DisconnectReason.TLS_UNAVAILABLE, self.driver.now()
            )
            return
        self.tls = TlsSession(ctx, server_side=True)
        self._tls_input(pending)

    def close_by_server(self, reason: DisconnectReason) -> None:
        if self.closed:
            return
        self.closed = True
        self.driver.protocols.pop(self.conn_id, None)
        if self.transport is not None:
            self.transport.close()


class IpcProtocol(asyncio.Protocol):
    """One control connection: read a command line, answer, close."""

    def __init__(self, driver: QnetdDriver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.done = False
        self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        adv = self.driver.server.config.advanced
        if adv.ipc_max_clients and self.driver.ipc_clients >= adv.ipc_max_clients:
            log.error("Maximum IPC clients reached. Not accepting connection")
            self.done = True
            transport.abort()
            return
        self.driver.ipc_clients += 1
        self.counted = True

    def data_received(self, data: bytes) -> None:
        if self.done or self.transport is None:
            return
        self.buf += data
        limit = self.driver.server.config.advanced.ipc_max_receive_size
        nl = self.buf.find(b"\n")
        if nl < 0:
            if len(self.buf) > limit:
                self._reply(b"Error\nCommand too long\n")
            return
        line = bytes(self.buf[:nl]).decode("utf-8", "replace")
        reply = handle_ipc_command(self.driver.server, line)
        payload = reply.encode()
        if len(payload) > self.driver.server.config.advanced.ipc_max_send_size:
            payload = b"Error\nInternal IPC buffer too small\n"
        self._reply(payload)
        if reply.shutdown and self.driver.on_shutdown_request is not None:
            log.debug("IPC client requested shutdown")
            self.driver.loop.call_soon(self.driver.on_shutdown_request)

    def _reply(self, payload: bytes) -> None:
        assert self.transport is not None
        self.done = True
        self.transport.write(payload)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted:
            self.driver.ipc_clients -= 1
            self.counted = False
