"""The sans-IO qnetd server core (``struct qnetd_instance``, ref qnetd-protocol.md section 5).

:class:`QnetdServer` owns every connection, the cluster list and all timers, and never touches
a socket or a clock::

    server.accept(conn_id, "127.0.0.1:40000", now)   # False = refuse (max clients)
    server.receive(conn_id, data, now)               # bytes from that connection
    server.tls_established(conn_id, peer_cert, now)  # after a StartTls output
    server.connection_lost(conn_id, now)             # EOF / socket error
    server.next_deadline() -> float | None           # earliest timer (DPD, algorithm timers)
    server.on_deadline(now)
    server.outbox() -> [Send | StartTls | Close]     # per connection, in order
    server.events() -> [ClientInitialized | ClientDisconnected | VoteSent]

Timers: each client has a dead-peer-detection deadline (``dpd_interval_coefficient`` ×
heartbeat; 1.5 × 120 s until INIT sets the heartbeat) re-armed by every complete message, and an
optional algorithm timer (lms). Disconnections are processed at the end of each call, in accept
order, like qnetd's pre-poll callback: the client's algorithm hook runs first (it may push
votes to the others), then the client leaves its cluster. Output still queued for a client
being closed is withdrawn.

It implements :class:`~qnetd.server.client.ConnectionHost` for its connections (which
includes :class:`~qnetd.algorithms.base.AlgorithmContext` for the algorithms).
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from collections.abc import Mapping

from qnetd.algorithms import ALGORITHMS, Algorithm
from qnetd.certnames import PeerCertificate
from qnetd.model import ClusterList, QnetdClient
from qnetd.protocol.constants import MsgType, ReplyErrorCode, Vote, vote_str
from qnetd.protocol.messages import ServerError, encode_vote_frame
from qnetd.protocol.tlv import RingId
from qnetd.server.client import TIMER_LIST_MAX_INTERVAL, ClientConnection
from qnetd.server.events import (
    ClientDisconnected,
    ClientInitialized,
    Close,
    DisconnectReason,
    Event,
    Output,
    Send,
    StartTls,
    VoteSent,
)
from qnetd.server.settings import ServerConfig

__all__ = ["QnetdServer"]

log = logging.getLogger("qnetd")

_DPD = 0
_ALGO = 1


def _accept_order(conn: ClientConnection) -> int:
    return conn.accept_seq


_VOTE_COUNTERS = {vote: "votes_" + vote.name.lower() for vote in Vote}
"""The counter of each vote sent (``pycorosync_qnetd_decisions_total``)."""


class QnetdServer:
    """All clients and clusters of one qnetd, driven by explicit calls with ``now``."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        algorithms: Mapping[int, Algorithm] | None = None,
        *,
        record_events: bool = True,
    ) -> None:
        self.config = config or ServerConfig()
        self.algorithms: Mapping[int, Algorithm] = ALGORITHMS if algorithms is None else algorithms
        self.clusters = ClusterList()
        self.connections: dict[int, ClientConnection] = {}
        self.record_events = record_events
        self._outbox: list[Output] = []
        self._events: list[Event] = []
        self._timers: list[tuple[float, int, int, int]] = []
        self._timer_seq = 0
        self._now = 0.0
        self._pending_disconnect = False
        self._disconnect_queue: list[ClientConnection] = []
        """Connections scheduled for disconnection since the last processing, any order."""
        self._accepted = 0
        self.shut_down = False
        self.counters: Counter[str] = Counter()
        """Messages, malformed input and disconnections, by kind (for ``status json``)."""

    # ------------------------------------------------------------------ driver API

    def accept(self, conn_id: int, addr_str: str, now: float) -> bool:
        """A TCP connection was accepted; False means close it at once (``-m`` reached)."""
        self._now = now
        cfg = self.config
        if self.shut_down:
            return False
        if cfg.max_clients and len(self.connections) >= cfg.max_clients:
            log.error("Maximum clients reached. Not accepting connection")
            self.counters["connections_refused"] += 1
            return False
        adv = cfg.advanced
        record = QnetdClient(conn_id, addr_str, connected_at=now)
        conn = ClientConnection(self, record, adv.max_client_receive_size)
        self._accepted += 1
        conn.accept_seq = self._accepted
        if adv.dpd_enabled:
            interval = int(adv.dpd_interval_coefficient * record.heartbeat_interval)
            if not 1 <= interval <= TIMER_LIST_MAX_INTERVAL:
                log.error("Can't initialize dpd timer for client %s", addr_str)
                return False
            conn.dpd_interval_ms = interval
            self._set_deadline(conn, _DPD, now + interval / 1000.0)
        self.connections[conn_id] = conn
        return True

    def receive(self, conn_id: int, data: bytes, now: float) -> None:
        """Bytes read from ``conn_id`` (decrypted if TLS is active)."""
        self._now = now
        conn = self.connections.get(conn_id)
        if conn is not None:
            conn.data_received(data, now)
        if self._pending_disconnect:
            self._process_disconnects()

    def tls_established(
        self, conn_id: int, peer_certificate: PeerCertificate | None, now: float
    ) -> None:
        """The TLS handshake requested by :class:`StartTls` completed."""
        self._now = now
        conn = self.connections.get(conn_id)
        if conn is not None:
            conn.tls_established(peer_certificate)

    def connection_lost(
        self,
        conn_id: int,
        now: float,
        reason: DisconnectReason = DisconnectReason.CLIENT_CLOSED,
    ) -> None:
        """The connection is gone (EOF, socket or TLS error); the driver already closed it."""
        self._now = now
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        conn.transport_closed = True
        if reason == DisconnectReason.CLIENT_CLOSED:
            log.debug("Client closed connection")
        self.schedule_disconnect(conn, reason)
        self._process_disconnects()

    def disconnect(self, conn_id: int, reason: DisconnectReason, now: float) -> None:
        """Drop a client for a driver-side reason (e.g. its send buffer overflowed)."""
        self._now = now
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        self.schedule_disconnect(conn, reason)
        self._process_disconnects()

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def on_deadline(self, now: float) -> None:
        """Run every timer due at ``now``."""
        self._now = now
        timers = self._timers
        connections = self.connections
        while timers and timers[0][0] <= now:
            when, _, kind, conn_id = timers[0]
            conn = connections.get(conn_id)
            if conn is None:
                heapq.heappop(timers)
                continue
            if kind == _DPD:
                if conn.dpd_heap_time != when:
                    heapq.heappop(timers)
                    continue
                deadline = conn.dpd_deadline
                if deadline is not None and deadline > now:
                    # The client spoke since this entry was pushed (the usual case): move the
                    # entry to its new deadline in one sift (pop and push in one).
                    self._timer_seq += 1
                    conn.dpd_heap_time = deadline
                    heapq.heapreplace(timers, (deadline, self._timer_seq, _DPD, conn_id))
                    continue
                heapq.heappop(timers)
                conn.dpd_heap_time = None
                if deadline is None:
                    continue
                conn.dpd_deadline = None
                self._dpd_expired(conn)
            else:
                heapq.heappop(timers)
                if conn.algo_heap_time != when:
                    continue
                conn.algo_heap_time = None
                deadline = conn.algo_deadline
                if deadline is None:
                    continue
                if deadline > now:
                    self._push(conn, _ALGO, deadline)
                    continue
                conn.algo_deadline = None
                self._algo_timer_expired(conn)
            if self._pending_disconnect:
                self._process_disconnects()

    def shutdown(self, now: float) -> None:
        """Server going down: every client is disconnected (no re-decisions)."""
        self._now = now
        self.shut_down = True
        for conn in list(self.connections.values()):
            self._disconnect(conn, DisconnectReason.SERVER_SHUTDOWN, server_going_down=True)

    def outbox(self) -> list[Output]:
        out = self._outbox
        self._outbox = []
        return out

    def events(self) -> list[Event]:
        ev = self._events
        self._events = []
        return ev

    def client(self, conn_id: int) -> QnetdClient | None:
        conn = self.connections.get(conn_id)
        return None if conn is None else conn.record

    # ------------------------------------------------------------------ AlgorithmContext

    def send_vote_info(self, client: QnetdClient, seq: int, ring_id: RingId, vote: Vote) -> None:
        client.record_sent_vote(vote)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "Sending vote info to client %s (cluster %s, node_id %d) ",
                client.addr_str,
                client.cluster_name_text,
                client.node_id,
            )
            log.debug("  msg seq num = %d", seq)
            log.debug("  vote = %s", vote_str(vote))
        conn = self.connections.get(client.conn_id)
        if conn is None:
            return
        self.send(conn, encode_vote_frame(MsgType.VOTE_INFO, seq, vote, ring_id))
        self.vote_sent(client, MsgType.VOTE_INFO, vote, ring_id)

    def schedule_algo_timer(self, client: QnetdClient, timeout_ms: int) -> None:
        conn = self.connections.get(client.conn_id)
        if conn is None:
            return
        if not 1 <= timeout_ms <= TIMER_LIST_MAX_INTERVAL:
            log.error("Can't schedule algo timer")
            return
        self._set_deadline(conn, _ALGO, self._now + timeout_ms / 1000.0)

    def abort_algo_timer(self, client: QnetdClient) -> None:
        conn = self.connections.get(client.conn_id)
        if conn is not None:
            conn.algo_deadline = None

    # ------------------------------------------------------------------ ConnectionHost

    def algorithm_for(self, client: QnetdClient) -> Algorithm:
        return self.algorithms[client.decision_algorithm]

    def send(self, conn: ClientConnection, data: bytes) -> None:
        if conn.transport_closed or conn.record.schedule_disconnect:
            return
        if len(data) > self.config.advanced.max_client_send_size:
            # the message does not fit the client's send buffer (dynar) in qnetd
            log.error("Can't alloc msg. Disconnecting client connection.")
            self.schedule_disconnect(conn, DisconnectReason.REPLY_TOO_LONG)
            return
        self._outbox.append(Send(conn.record.conn_id, data))

    def start_tls(self, conn: ClientConnection, pending: bytes) -> None:
        self._outbox.append(StartTls(conn.record.conn_id, pending))

    def vote_sent(self, client: QnetdClient, msg_type: MsgType, vote: Vote, ring: RingId) -> None:
        self.counters[_VOTE_COUNTERS.get(vote, "votes_other")] += 1
        if self.record_events:
            self._events.append(
                VoteSent(
                    client.conn_id, client.cluster_name or b"", client.node_id, msg_type, vote, ring
                )
            )

    def client_initialized(self, conn: ClientConnection) -> None:
        rec = conn.record
        if self.record_events:
            self._events.append(
                ClientInitialized(rec.conn_id, rec.cluster_name or b"", rec.node_id)
            )

    def schedule_disconnect(self, conn: ClientConnection, reason: DisconnectReason) -> None:
        if not conn.record.schedule_disconnect:
            conn.record.schedule_disconnect = True
            conn.disconnect_reason = reason
            self._pending_disconnect = True
            self._disconnect_queue.append(conn)

    def reschedule_dpd(self, conn: ClientConnection, now: float) -> None:
        if conn.dpd_deadline is not None:
            conn.dpd_deadline = now + conn.dpd_interval_ms / 1000.0

    def update_dpd_interval(self, conn: ClientConnection, now: float) -> None:
        """New heartbeat: DPD interval = coefficient × heartbeat, counted from ``now``."""
        adv = self.config.advanced
        if conn.dpd_deadline is None:
            return
        conn.dpd_interval_ms = int(adv.dpd_interval_coefficient * conn.record.heartbeat_interval)
        self._set_deadline(conn, _DPD, now + conn.dpd_interval_ms / 1000.0)

    # ------------------------------------------------------------------ internals

    def _set_deadline(self, conn: ClientConnection, kind: int, when: float) -> None:
        if kind == _DPD:
            conn.dpd_deadline = when
            heap_time = conn.dpd_heap_time
        else:
            conn.algo_deadline = when
            heap_time = conn.algo_heap_time
        if heap_time is None or when < heap_time:
            self._push(conn, kind, when)

    def _push(self, conn: ClientConnection, kind: int, when: float) -> None:
        if kind == _DPD:
            conn.dpd_heap_time = when
        else:
            conn.algo_heap_time = when
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, kind, conn.record.conn_id))

    def _dpd_expired(self, conn: ClientConnection) -> None:
        log.warning(
            "Client %s doesn't sent any message during %dms. Disconnecting",
            conn.record.addr_str,
            conn.dpd_interval_ms,
        )
        self.schedule_disconnect(conn, DisconnectReason.DPD_TIMEOUT)

    def _algo_timer_expired(self, conn: ClientConnection) -> None:
        rec = conn.record
        if not rec.init_received or rec.schedule_disconnect:
            return
        result = self.algorithm_for(rec).timer_callback(self, rec)
        if result.error != ReplyErrorCode.NO_ERROR:
            log.error(
                "Algorithm for client %s returned error code. Sending error reply.",
                rec.addr_str,
            )
            self.send(conn, ServerError(result.error).encode())
            return
        log.debug(
            "Algorithm for client %s decided to %s timer and %s vote with value %s",
            rec.addr_str,
            "reschedule" if result.reschedule else "not reschedule",
            "send" if result.send_vote else "not send",
            vote_str(result.vote),
        )
        if result.send_vote:
            rec.algo_timer_vote_info_msg_seq_number = (
                rec.algo_timer_vote_info_msg_seq_number + 1
            ) & 0xFFFFFFFF
            self.send_vote_info(
                rec, rec.algo_timer_vote_info_msg_seq_number, rec.last_ring_id, result.vote
            )
        if result.reschedule and conn.algo_deadline is None:
            self.schedule_algo_timer(rec, rec.heartbeat_interval // 4)

    def _process_disconnects(self) -> None:
        """Disconnect every scheduled client, in accept order, in passes like qnetd's.

        A pass visits the scheduled clients in accept order; one scheduled while a pass runs
        joins it if it was accepted after the client being disconnected, else the next pass
        (as a walk over the client list would find it). Only scheduled clients are visited,
        so a mass disconnection costs in proportion to its size, not to the server's.
        """
        connections = self.connections
        while self._disconnect_queue:
            self._pending_disconnect = False
            batch = sorted(self._disconnect_queue, key=_accept_order)
            self._disconnect_queue = []
            i = 0
            while i < len(batch):
                conn = batch[i]
                i += 1
                if connections.get(conn.record.conn_id) is not conn:
                    continue
                reason = conn.disconnect_reason or DisconnectReason.CLIENT_CLOSED
                self._disconnect(conn, reason, server_going_down=False)
                queue = self._disconnect_queue
                if queue:
                    here = conn.accept_seq
                    later = [c for c in queue if c.accept_seq > here]
                    if later:
                        self._disconnect_queue = [c for c in queue if c.accept_seq <= here]
                        batch = sorted(batch[i:] + later, key=_accept_order)
                        i = 0
        self._pending_disconnect = False

    def _disconnect(
        self, conn: ClientConnection, reason: DisconnectReason, *, server_going_down: bool
    ) -> None:
        rec = conn.record
        self.counters["disconnects_" + reason.name.lower()] += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "Client %s (init_received %d, cluster %s, node_id %d) disconnect%s",
                rec.addr_str,
                int(rec.init_received),
                rec.cluster_name_text,
                rec.node_id,
                " (server is going down)" if server_going_down else "",
            )
        if rec.init_received:
            self.algorithm_for(rec).client_disconnect(self, rec, server_going_down)
        conn.dpd_deadline = None
        conn.algo_deadline = None
        if rec.cluster is not None:
            self.clusters.del_client(rec)
            rec.cluster = None
        del self.connections[rec.conn_id]
        conn_id = rec.conn_id
        if any(isinstance(o, Send | StartTls) and o.conn_id == conn_id for o in self._outbox):
            self._outbox = [
                o
                for o in self._outbox
                if not (isinstance(o, Send | StartTls) and o.conn_id == conn_id)
            ]
        if not conn.transport_closed:
            conn.transport_closed = True
            self._outbox.append(Close(conn_id, reason))
        if self.record_events:
            self._events.append(
                ClientDisconnected(
                    conn_id,
                    rec.addr_str,
                    rec.cluster_name,
                    rec.node_id if rec.init_received else None,
                    reason,
                )
            )
