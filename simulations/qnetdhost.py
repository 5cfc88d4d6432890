"""The qnetd arbiter as a host of the simulated network (qdevice tie-breaks).

:class:`QnetdHost` runs one sans-IO :class:`~qnetd.server.instance.QnetdServer`
(the core ``pycorosync-qnetd`` drives) on the simulation's clock, at endpoint
:data:`~simulations.network.QNETD_ID`. It listens for the qdevice clients'
TCP streams (:mod:`simulations.streams`), feeds the server what they carry and
carries out the server's outputs; one wake-up on the simulation's queue
follows ``next_deadline()`` (dead peer detection, lms's timer).

Life cycle, as a scenario drives it: ``start`` (a new process, no state from a
previous one), ``crash`` (SIGKILL: the kernel closes every connection, the
clients read EOF), ``stop`` (qnetd's shutdown: every client is disconnected,
then the process exits), ``pause`` (a stall: the kernel keeps accepting and
buffering; timers and input wait for the resume).

The server's events (clients initialised, votes sent, disconnections) and its
log lines (warnings and errors, as ``[QNETD] ...``) go to the trace under the
endpoint ``qnetd``; :meth:`QnetdHost.status` gives the figures ``expect stat
... on qnetd`` reads.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from qnetd.protocol.constants import TlsSupported
from qnetd.server.events import Close as ServerClose
from qnetd.server.events import DisconnectReason as ServerDisconnectReason
from qnetd.server.events import Send as ServerSend
from qnetd.server.events import StartTls as ServerStartTls
from qnetd.server.instance import QnetdServer
from qnetd.server.settings import ServerConfig
from simulations.config import node_address
from simulations.network import QNETD_ID
from simulations.streams import StreamEvent, StreamNetwork
from simulations.trace import SimAction
from totem.srp.events import LogLevel, LogRecord

if TYPE_CHECKING:
    from simulations.cluster import Simulation

__all__ = ["QnetdHost", "plain_server_config"]

_QNETD_LOGGER = logging.getLogger("qnetd")
_LEVELS = {logging.ERROR: LogLevel.ERROR, logging.WARNING: LogLevel.WARNING}


def plain_server_config(**kwargs: Any) -> ServerConfig:
    """qnetd without TLS (``-s off``), as the simulated clients connect in plaintext."""
    return ServerConfig(
        tls_supported=TlsSupported.UNSUPPORTED,
        tls_client_cert_required=False,
        tls_available=False,
        **kwargs,
    )


class _TraceHandler(logging.Handler):
    """The qnetd logger's lines, into the trace, while the host runs its server."""

    def __init__(self, host: QnetdHost) -> None:
        super().__init__()
        self.host = host

    def emit(self, record: logging.LogRecord) -> None:
        fallback = LogLevel.ERROR if record.levelno > logging.WARNING else LogLevel.INFO
        level = _LEVELS.get(record.levelno, fallback)
        host = self.host
        host.sim.recorder.record(
            host.sim.now, QNETD_ID, host.incarnation, LogRecord(level, "QNETD", record.getMessage())
        )


class QnetdHost:
    """The qnetd arbiter's host: one server core on the simulation's clock."""

    def __init__(
        self, sim: Simulation, streams: StreamNetwork, config: ServerConfig | None = None
    ) -> None:
        self.sim = sim
        self.streams = streams
        self.config = config or plain_server_config()
        self.server: QnetdServer | None = None
        self.incarnation = 0
        self.paused = False
        self.counters: Counter[str] = Counter()
        """``starts``, ``crashes``, ``stops``, ``refused`` (accept said no)."""
        self._pause_generation = 0
        self._deferred: list[tuple[int, StreamEvent, bytes]] = []
        self._armed: float | None = None
        self._log_handler = _TraceHandler(self)
        streams.register(QNETD_ID, self)

    @contextmanager
    def _logging(self) -> Iterator[None]:
        """The server's log lines go to the trace (never to the terminal) meanwhile."""
        _QNETD_LOGGER.addHandler(self._log_handler)
        try:
            yield
        finally:
            _QNETD_LOGGER.removeHandler(self._log_handler)

    @property
    def running(self) -> bool:
        return self.server is not None

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start a qnetd process (a first start or a restart: no state survives)."""
        if self.server is not None:
            return
        self.incarnation += 1
        self.server = QnetdServer(self.config)
        self.counters["starts"] += 1
        self._note("qnetd started")

    def crash(self) -> None:
        """SIGKILL: the kernel closes every connection (the clients read EOF)."""
        if self.server is None:
            return
        self.counters["crashes"] += 1
        self._note("qnetd crashed")
        self._gone()

    def stop(self) -> None:
        """Graceful shutdown: qnetd disconnects every client, then exits."""
        server = self.server
        if server is None:
            return
        self.counters["stops"] += 1
        self._note("qnetd stopped")
        with self._logging():
            server.shutdown(self.sim.now)
            self._flush()
        self._gone()

    def _gone(self) -> None:
        self.server = None
        self.paused = False
        self._deferred.clear()
        self._armed = None
        self.streams.endpoint_down(QNETD_ID, self.incarnation)

    def pause(self, duration: float) -> None:
        """Freeze the process; the kernel keeps accepting and buffering meanwhile."""
        if self.server is None:
            return
        self.paused = True
        self._pause_generation += 1
        generation, incarnation = self._pause_generation, self.incarnation

        def resume() -> None:
            if self._pause_generation == generation and self.incarnation == incarnation:
                self._resume()

        self.sim.call_at(self.sim.now + duration, resume)

    def _resume(self) -> None:
        self.paused = False
        if self.server is None:
            return
        self._note("qnetd resumes")
        self._timers()
        while self._deferred and self.server is not None and not self.paused:
            conn_id, event, data = self._deferred.pop(0)
            self._handle(conn_id, event, data)

    # -- the streams' endpoint ------------------------------------------------------------
    def listening(self) -> int | None:
        return self.incarnation if self.server is not None else None

    def stream_event(self, incarnation: int, conn_id: int, event: StreamEvent, data: bytes) -> bool:
        if self.server is None or incarnation != self.incarnation:
            return False
        if self.paused:
            self._deferred.append((conn_id, event, data))
        else:
            self._handle(conn_id, event, data)
        return True

    def _handle(self, conn_id: int, event: StreamEvent, data: bytes) -> None:
        with self._logging():
            self._carry_in(conn_id, event, data)

    def _carry_in(self, conn_id: int, event: StreamEvent, data: bytes) -> None:
        server = self.server
        assert server is not None
        now = self.sim.now
        if event is StreamEvent.ACCEPTED:
            if not server.accept(conn_id, self._address(conn_id), now):
                self.counters["refused"] += 1
                self.streams.close(conn_id, QNETD_ID)
        elif event is StreamEvent.DATA:
            server.receive(conn_id, data, now)
        elif event in (StreamEvent.EOF, StreamEvent.RESET):
            self.streams.close(conn_id, QNETD_ID)
            reason = (
                ServerDisconnectReason.IO_ERROR
                if event is StreamEvent.RESET
                else ServerDisconnectReason.CLIENT_CLOSED
            )
            server.connection_lost(conn_id, now, reason)
        self._flush()

    def _address(self, conn_id: int) -> str:
        conn = self.streams.connections.get(conn_id)
        node = conn.client.endpoint if conn is not None else 0
        return f"{node_address(node) if node > 0 else '0.0.0.0'}:{32768 + conn_id % 28000}"

    # -- output and timers ----------------------------------------------------------------
    def _flush(self) -> None:
        server = self.server
        if server is None:
            return
        now = self.sim.now
        streams = self.streams
        while True:
            outputs = server.outbox()
            if not outputs:
                break
            for output in outputs:
                if isinstance(output, ServerSend):
                    streams.send(output.conn_id, QNETD_ID, output.data)
                elif isinstance(output, ServerClose):
                    streams.close(output.conn_id, QNETD_ID)
                elif isinstance(output, ServerStartTls):  # pragma: no cover - tls_available off
                    server.disconnect(
                        output.conn_id, ServerDisconnectReason.TLS_HANDSHAKE_FAILED, now
                    )
        record = self.sim.recorder.record
        for event in server.events():
            record(now, QNETD_ID, self.incarnation, event)
        self._arm()

    def _arm(self) -> None:
        server = self.server
        if server is None:
            return
        deadline = server.next_deadline()
        if deadline is None or (self._armed is not None and self._armed <= deadline):
            return
        self._armed = deadline
        incarnation = self.incarnation

        def fire() -> None:
            if self.incarnation != incarnation or self.server is None:
                return
            if self._armed == deadline:
                self._armed = None
            if not self.paused:
                self._timers()

        self.sim.call_at(deadline, fire)

    def _timers(self) -> None:
        server = self.server
        if server is None:
            return
        deadline = server.next_deadline()
        if deadline is not None and deadline <= self.sim.now:
            with self._logging():
                server.on_deadline(self.sim.now)
                self._flush()
        else:
            self._arm()

    def _note(self, text: str) -> None:
        self.sim.recorder.record(self.sim.now, QNETD_ID, self.incarnation, SimAction(text))

    # -- inspection -----------------------------------------------------------------------
    def status(self) -> Mapping[str, int | float]:
        """The host's figures: ``running``, ``clients`` (connections), ``clusters`` and the
        server's counters (messages, disconnections by reason)."""
        out: dict[str, int | float] = {"running": int(self.server is not None)}
        out.update(self.counters)
        server = self.server
        if server is not None:
            out["clients"] = len(server.connections)
            out["clusters"] = len(list(server.clusters))
            out.update(server.counters)
        return out
