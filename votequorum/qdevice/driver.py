"""The asyncio driver of the qdevice-net client: TCP, TLS, one timer (DESIGN.md).

:class:`ClientDriver` carries out a :class:`~votequorum.qdevice.net_client.QdeviceNetClient`'s
outputs and feeds it what happens, nothing else:

* :class:`Connect` -> ``loop.create_connection`` (every resolved address in turn, the address
  family limited by ``force_ip_version``); ``connected`` or ``connect_failed``;
* :class:`Send` -> the transport, through the :class:`~qnetd.tls.TlsSession` once
  :class:`StartTls` was seen (plaintext queued until the handshake is done);
* :class:`StartTls` -> a client :class:`~qnetd.tls.TlsSession` verifying the server against the
  CA of :class:`~votequorum.qdevice.settings.TlsFiles` under the name ``Qnetd Server``, with the
  cluster certificate when present;
* :class:`Close` -> close the transport or cancel the connection attempt;
* :class:`RunHeuristics` -> :func:`~votequorum.qdevice.heuristics.run_heuristics` in a task;
* :class:`Poll` outputs go to ``execute_polls`` (the votequorum bridge) first.

Input from an abandoned connection is dropped (each connection has a generation number). A
peer that does not read (more than :data:`MAX_WRITE_BUFFER` bytes queued) counts as a send
failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable

from qnetd.certnames import PeerCertificate, certificate_file_names
from qnetd.tls import TlsError, TlsSession, client_context
from totem.srp.events import LogLevel, LogRecord
from votequorum.qdevice.events import (
    Close,
    Connect,
    Output,
    RunHeuristics,
    Send,
    StartTls,
)
from votequorum.qdevice.heuristics import run_heuristics
from votequorum.qdevice.net_client import QdeviceNetClient

__all__ = ["MAX_WRITE_BUFFER", "ClientDriver"]

MAX_WRITE_BUFFER = 1 << 20

ExecutePolls = Callable[[list[Output], float], list[Output]]
EventSink = Callable[[object], None]

_FAMILY = {0: socket.AF_UNSPEC, 4: socket.AF_INET, 6: socket.AF_INET6}


class _Protocol(asyncio.Protocol):
    def __init__(self, driver: ClientDriver, generation: int) -> None:
        self.driver = driver
        self.generation = generation

    def data_received(self, data: bytes) -> None:
        self.driver._data_received(self.generation, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.driver._connection_lost(self.generation, exc)


class ClientDriver:
    """Drives one client on the running loop (see the module docstring)."""

    def __init__(
        self,
        client: QdeviceNetClient,
        loop: asyncio.AbstractEventLoop,
        *,
        execute_polls: ExecutePolls | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        self.client = client
        self.loop = loop
        self.execute_polls = execute_polls
        self.on_event = on_event
        self._generation = 0
        self._connect_task: asyncio.Task[None] | None = None
        self._transport: asyncio.Transport | None = None
        self._tls: TlsSession | None = None
        self._tls_pending: list[bytes] = []
        self._client_cert = False
        self._client_certificate: PeerCertificate | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._flushing = False
        self._again = False
        self.closed = False

    @property
    def now(self) -> float:
        return self.loop.time()

    # ------------------------------------------------------------------ flushing

    def flush(self) -> None:
        """Carry out everything the client has queued; re-arm the timer."""
        if self._flushing:
            self._again = True
            return
        self._flushing = True
        try:
            while True:
                self._again = False
                outputs: list[Output] = self.client.outbox()
                if self.execute_polls is not None and outputs:
                    outputs = self.execute_polls(outputs, self.now)
                for output in outputs:
                    self._carry_out(output)
                for event in self.client.events():
                    if self.on_event is not None:
                        self.on_event(event)
                if not self._again:
                    break
        finally:
            self._flushing = False
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.closed:
            return
        deadline = self.client.next_deadline()
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.client.on_deadline(self.now)
        self.flush()

    def _carry_out(self, output: Output) -> None:
        if isinstance(output, Connect):
            self._connect(output)
        elif isinstance(output, Send):
            self._write(output.data)
        elif isinstance(output, StartTls):
            self._start_tls(output.server_name)
        elif isinstance(output, Close):
            self._close_connection()
        elif isinstance(output, RunHeuristics):
            self._spawn(self._heuristics(output))

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = self.loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ connection

    def _connect(self, output: Connect) -> None:
        self._close_connection()
        generation = self._generation
        family = _FAMILY.get(output.force_ip_version, socket.AF_UNSPEC)

        async def attempt() -> None:
            try:
                transport, _ = await self.loop.create_connection(
                    lambda: _Protocol(self, generation), output.host, output.port, family=family
                )
            except (OSError, ValueError) as err:
                if generation == self._generation:
                    self._log_line(f"connect to {output.host}:{output.port} failed: {err}")
                    self.client.connect_failed(self.now)
                    self.flush()
                return
            if generation != self._generation:
                transport.close()
                return
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._transport = transport  # (uvloop's transports are not asyncio.Transport)
            self.client.connected(self.now)
            self.flush()

        task = self.loop.create_task(attempt())
        self._connect_task = task

    def _close_connection(self) -> None:
        self._generation += 1
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
        self._connect_task = None
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        self._tls = None
        self._tls_pending = []

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._tls is not None:
            if not self._tls.handshake_done:
                self._tls_pending.append(data)
                return
            try:
                data = self._tls.encrypt(data)
            except TlsError as err:
                self.client.tls_failed(self.now, str(err))
                self._again = True
                return
        transport.write(data)
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.client.send_failed(self.now)
            self._again = True

    def _start_tls(self, server_name: str) -> None:
        if self._transport is None:
            return
        files = self.client.settings.tls_files
        try:
            if files.has_client_cert:
                ctx = client_context(files.ca_file, files.cert_file, files.key_file)
                self._client_cert = True
                self._client_certificate = _names_of(files.cert_file)
            else:
                ctx = client_context(files.ca_file)
                self._client_cert = False
        except (OSError, ssl.SSLError, ValueError) as err:
            self.client.tls_failed(
                self.now, f"cannot load certificates from {files.directory}: {err}", local=True
            )
            self._again = True
            return
        self._tls = TlsSession(ctx, server_side=False, server_hostname=server_name)
        self._tls_pending = []
        try:
            hello = self._tls.start()
        except TlsError as err:
            self.client.tls_failed(self.now, str(err))
            self._again = True
            return
        self._transport.write(hello)

    def _data_received(self, generation: int, data: bytes) -> None:
        if generation != self._generation:
            return
        tls = self._tls
        if tls is not None:
            try:
                result = tls.feed(data)
            except TlsError as err:
                self.client.tls_failed(self.now, str(err))
                self.flush()
                return
            if result.to_send and self._transport is not None:
                self._transport.write(result.to_send)
            if result.handshake_completed:
                self.client.tls_established(
                    self.now,
                    self._client_cert and self.client.server_tls_client_cert_required,
                    self._client_certificate,
                )
                pending, self._tls_pending = self._tls_pending, []
                for chunk in pending:
                    self._write(chunk)
            data = result.plaintext
            if result.closed:
                if data:
                    self.client.receive(data, self.now)
                self.client.connection_lost(self.now)
                self.flush()
                return
            if not data:
                self.flush()
                return
        self.client.receive(data, self.now)
        self.flush()

    def _connection_lost(self, generation: int, exc: Exception | None) -> None:
        if generation != self._generation:
            return
        self._transport = None
        self.client.connection_lost(self.now, error=exc is not None)
        self.flush()

    # ------------------------------------------------------------------ heuristics

    async def _heuristics(self, request: RunHeuristics) -> None:
        result, why = await run_heuristics(
            self.client.settings.heuristics.execs, request.timeout_ms
        )
        self._log_line(f"heuristics (seq {request.seq}): {result.value}: {why}")
        if not self.closed:
            self.client.heuristics_result(request.seq, result, self.now)
            self.flush()

    # ------------------------------------------------------------------ shutdown

    def _log_line(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(LogRecord(LogLevel.DEBUG, "QDEVICE", message))

    async def close(self) -> None:
        """Drop the connection, the timer and every task."""
        self.closed = True
        self._close_connection()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _names_of(cert_file: str) -> PeerCertificate | None:
    """The names of our client certificate (None if they cannot be read: TLS will say why)."""
    try:
        return certificate_file_names(cert_file)
    except (OSError, ValueError):
        return None
