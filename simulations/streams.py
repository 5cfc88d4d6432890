"""Simulated TCP connections on the virtual network (qdevice tie-breaks).

The qdevice-net clients talk to qnetd over TCP, so the simulator carries their
bytes on *streams*: ordered and reliable, delayed by the network model, and
broken the way TCP breaks. Each segment crosses the link between the two
endpoints (ring 0) when it is sent: :meth:`Network.segment_arrival` says when
it arrives, or that the link dropped it (a cut, or loss on the link's
``other`` kind). What TCP does about it:

* **Handshake.** ``connect`` sends a SYN; at the server host, if a process
  listens, a SYN-ACK comes back and the client is CONNECTED; if nobody listens
  an RST comes back and the client sees the connection REFUSED. A lost SYN or
  SYN-ACK is retried after 1, 2, 4 ... s (``tcp_syn_retries`` = 6: the attempt
  fails after 127 s). The listening process learns of the connection
  (ACCEPTED) when the client's first segment arrives, as ``accept()`` returns
  only once the handshake's last ACK is in.
* **Data.** Segments are numbered; the receiver takes them in order, acks
  cumulatively over the reverse link and drops the rest (no SACK). The sender
  retransmits everything unacked when its timer fires (RTO 200 ms, doubling
  up to 120 s, reset by progress) and gives up after ``tcp_retries2`` = 15
  retransmissions (about 13 minutes here, Linux: about 15): its process gets
  RESET (ETIMEDOUT); the peer is not told. Arrivals keep their order
  whatever the jitter: a stream never overtakes itself. Duplication,
  reordering and the MTU do not reach the processes (TCP hides them).
* **Close.** A process closing its socket sends a FIN after its pending data;
  the peer process reads EOF once everything before it arrived. The kernel
  keeps retransmitting for a closed socket; data arriving at a closed socket
  is answered with an RST and the sender's process gets RESET. A process that
  goes away (crash, stop) has its sockets closed by the kernel the same way.
* **Pauses.** The kernel acknowledges data for a paused process; the process
  reads it when it resumes (the endpoint's business, see
  :meth:`~simulations.cluster.Simulation.process_input`).

So a partition between a node and the qnetd host stalls the stream (the
processes' own heartbeats notice: qdevice's echo timer, qnetd's dead peer
detection), a long one ends in a reset, a crash is an EOF on the other side,
and a restarted qnetd refuses connections until it listens again.

Everything runs on the simulation's event queue (``call_at``) with its ``now``;
nothing here reads a clock or owns randomness (the network's does).
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from simulations.network import Network

__all__ = [
    "RETRIES",
    "RTO_MAX",
    "RTO_MIN",
    "SYN_RETRIES",
    "SYN_RTO",
    "Connection",
    "StreamEndpoint",
    "StreamEvent",
    "StreamNetwork",
]

SYN_RTO = 1.0
"""Initial SYN retransmission timeout (Linux ``TCP_TIMEOUT_INIT``)."""
SYN_RETRIES = 6
"""``net.ipv4.tcp_syn_retries``."""
RTO_MIN = 0.2
"""``TCP_RTO_MIN``: on a LAN the measured RTT is far below it."""
RTO_MAX = 120.0
"""``TCP_RTO_MAX``."""
RETRIES = 15
"""``net.ipv4.tcp_retries2``: retransmissions before the connection is dropped."""

_DATA = 0
_ACCEPT = 1
"""The handshake's last ACK (sequence 0 of the client's direction)."""
_FIN = 2


class StreamEvent(enum.Enum):
    """What a process learns about one of its connections."""

    CONNECTED = "connected"
    """Client: the handshake completed."""
    REFUSED = "refused"
    """Client: nobody listens (RST) or the SYN retries ran out."""
    ACCEPTED = "accepted"
    """Server: a new connection (``accept()`` returned it)."""
    DATA = "data"
    EOF = "eof"
    """The peer closed its side; everything it sent before has been delivered."""
    RESET = "reset"
    """The peer's kernel sent an RST, or retransmissions ran out (ETIMEDOUT)."""


class StreamEndpoint(Protocol):
    """A host or node as the streams see it."""

    def stream_event(self, incarnation: int, conn_id: int, event: StreamEvent, data: bytes) -> bool:
        """Tell process ``incarnation`` about ``conn_id``; False if that process is gone."""
        ...

    def listening(self) -> int | None:
        """The incarnation of the process accepting connections here, None if none."""
        ...


class _Scheduler(Protocol):
    now: float

    def call_at(self, at: float, action: Callable[[], None]) -> None: ...


@dataclass(frozen=True, slots=True)
class _Segment:
    seq: int
    data: bytes
    flag: int = _DATA


@dataclass(slots=True, eq=False)
class _Side:
    """One end of a connection: its socket and the direction it sends in."""

    endpoint: int
    incarnation: int
    open: bool = True
    """The process still holds the socket."""
    alive: bool = True
    """Not reset and not timed out."""
    next_seq: int = 0
    unacked: deque[_Segment] = field(default_factory=deque)
    rto: float = RTO_MIN
    retries: int = 0
    timer: int = 0
    """Generation of the pending retransmission timer; 0 when none is pending."""
    last_arrival: float = 0.0
    recv_next: int = 0
    fin_sent: bool = False


@dataclass(slots=True, eq=False)
class Connection:
    """One TCP connection from a client endpoint to a listening host."""

    conn_id: int
    client: _Side
    server: _Side
    state: str = "syn"
    """``syn`` (handshake under way), ``open``, ``aborted`` (the handshake failed or was
    abandoned)."""

    def side(self, endpoint: int) -> _Side:
        return self.client if self.client.endpoint == endpoint else self.server

    def peer(self, side: _Side) -> _Side:
        return self.server if side is self.client else self.client

    @property
    def finished(self) -> bool:
        """Nothing left to do for either kernel."""
        return all(
            not side.open and (not side.alive or not side.unacked)
            for side in (self.client, self.server)
        )


class StreamNetwork:
    """Every TCP connection of a simulation (see the module docstring)."""

    def __init__(self, network: Network, scheduler: _Scheduler) -> None:
        self.network = network
        self.scheduler = scheduler
        self.endpoints: dict[int, StreamEndpoint] = {}
        self.connections: dict[int, Connection] = {}
        self.counters: Counter[str] = Counter()
        """``connects``, ``established``, ``refused``, ``resets``, ``timeouts``,
        ``retransmissions``, ``bytes``."""
        self._ids = itertools.count(1)
        self._timers = itertools.count(1)

    def register(self, endpoint: int, handler: StreamEndpoint) -> None:
        """``endpoint``'s processes get their stream events through ``handler``."""
        self.endpoints[endpoint] = handler

    # ------------------------------------------------------------------------------------
    # the socket API
    # ------------------------------------------------------------------------------------
    def connect(self, client: int, incarnation: int, server: int) -> int:
        """Process ``incarnation`` of ``client`` connects to ``server``; returns the id."""
        conn = Connection(next(self._ids), _Side(client, incarnation), _Side(server, 0))
        self.connections[conn.conn_id] = conn
        self.counters["connects"] += 1
        self._syn(conn, 0)
        return conn.conn_id

    def send(self, conn_id: int, endpoint: int, data: bytes) -> bool:
        """Write ``data``; False if the socket cannot take it (closed, reset, no connection)."""
        conn = self.connections.get(conn_id)
        if conn is None or conn.state != "open" or not data:
            return False
        side = conn.side(endpoint)
        if not side.open or not side.alive or side.fin_sent:
            return False
        self.counters["bytes"] += len(data)
        self._queue(conn, side, data, _DATA)
        return True

    def close(self, conn_id: int, endpoint: int) -> None:
        """The process at ``endpoint`` closes its socket (FIN after the pending data)."""
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        side = conn.side(endpoint)
        if not side.open:
            return
        side.open = False
        if conn.state == "syn" and side is conn.client:
            conn.state = "aborted"
        elif conn.state == "open" and side.alive and not side.fin_sent:
            side.fin_sent = True
            self._queue(conn, side, b"", _FIN)
        self._forget_if_finished(conn)

    def endpoint_down(self, endpoint: int, incarnation: int) -> None:
        """Process ``incarnation`` of ``endpoint`` went away: its kernel closes its sockets."""
        for conn in list(self.connections.values()):
            for side in (conn.client, conn.server):
                if side.endpoint == endpoint and side.incarnation == incarnation and side.open:
                    self.close(conn.conn_id, endpoint)

    def is_open(self, conn_id: int) -> bool:
        """Whether the connection is established and neither side closed or reset it."""
        conn = self.connections.get(conn_id)
        return (
            conn is not None
            and conn.state == "open"
            and all(s.open and s.alive for s in (conn.client, conn.server))
        )

    # ------------------------------------------------------------------------------------
    # handshake
    # ------------------------------------------------------------------------------------
    def _syn(self, conn: Connection, attempt: int) -> None:
        if conn.state != "syn":
            return
        scheduler = self.scheduler
        now = scheduler.now
        client, server = conn.client, conn.server
        at = self.network.segment_arrival(client.endpoint, server.endpoint, now)
        if at is not None:
            scheduler.call_at(at, lambda: self._syn_arrives(conn))
        wait = SYN_RTO * 2**attempt
        if attempt < SYN_RETRIES:
            scheduler.call_at(now + wait, lambda: self._syn(conn, attempt + 1))
        else:
            scheduler.call_at(now + wait, lambda: self._refused(conn, "timeouts"))

    def _syn_arrives(self, conn: Connection) -> None:
        if conn.state != "syn":
            return
        client, server = conn.client, conn.server
        handler = self.endpoints.get(server.endpoint)
        listener = handler.listening() if handler is not None else None
        at = self.network.segment_arrival(server.endpoint, client.endpoint, self.scheduler.now)
        if at is None:
            return
        if listener is None:
            self.scheduler.call_at(at, lambda: self._refused(conn, "refused"))
        else:
            self.scheduler.call_at(at, lambda: self._established(conn, listener))

    def _refused(self, conn: Connection, why: str) -> None:
        if conn.state != "syn":
            return
        conn.state = "aborted"
        conn.client.alive = False
        self.counters[why] += 1
        self._deliver(conn, conn.client, StreamEvent.REFUSED)
        self._forget_if_finished(conn)

    def _established(self, conn: Connection, listener: int) -> None:
        if conn.state != "syn":
            return
        conn.state = "open"
        conn.server.incarnation = listener
        self.counters["established"] += 1
        # the handshake's last ACK goes first; the process may write at once
        self._queue(conn, conn.client, b"", _ACCEPT)
        self._deliver(conn, conn.client, StreamEvent.CONNECTED)

    # ------------------------------------------------------------------------------------
    # segments
    # ------------------------------------------------------------------------------------
    def _queue(self, conn: Connection, side: _Side, data: bytes, flag: int) -> None:
        segment = _Segment(side.next_seq, data, flag)
        side.next_seq += 1
        side.unacked.append(segment)
        self._transmit(conn, side, segment)
        if not side.timer:
            self._arm(conn, side)

    def _transmit(self, conn: Connection, side: _Side, segment: _Segment) -> None:
        self._deliver_in_order(conn, side, lambda: self._arrive(conn, side, segment))

    def _deliver_in_order(self, conn: Connection, side: _Side, arrive: Callable[[], None]) -> None:
        """Schedule ``arrive`` when the network delivers a segment from ``side`` to its peer,
        never before an earlier one (TCP hands data over in order); a cut drops it."""
        peer = conn.peer(side)
        at = self.network.segment_arrival(side.endpoint, peer.endpoint, self.scheduler.now)
        if at is None:
            return
        if at < side.last_arrival:
            at = side.last_arrival
        side.last_arrival = at
        self.scheduler.call_at(at, arrive)

    def _arm(self, conn: Connection, side: _Side) -> None:
        generation = next(self._timers)
        side.timer = generation
        at = self.scheduler.now + side.rto
        self.scheduler.call_at(at, lambda: self._retransmit(conn, side, generation))

    def _retransmit(self, conn: Connection, side: _Side, generation: int) -> None:
        if side.timer != generation or not side.alive:
            return
        side.timer = 0
        if not side.unacked:
            return
        side.retries += 1
        if side.retries > RETRIES:
            self.counters["timeouts"] += 1
            self._reset(conn, side)
            return
        side.rto = min(side.rto * 2, RTO_MAX)
        for segment in side.unacked:
            self.counters["retransmissions"] += 1
            self._transmit(conn, side, segment)
        self._arm(conn, side)

    def _arrive(self, conn: Connection, sender: _Side, segment: _Segment) -> None:
        receiver = conn.peer(sender)
        if not receiver.alive:
            self._send_rst(conn, receiver)  # no socket any more
            return
        if segment.seq == receiver.recv_next:
            if not receiver.open and segment.flag != _FIN:
                # data for a socket its process closed: the kernel answers with an RST
                # and forgets the connection
                receiver.alive = False
                receiver.unacked.clear()
                receiver.timer = 0
                self._send_rst(conn, receiver)
                self._forget_if_finished(conn)
                return
            receiver.recv_next += 1
            if receiver.open:
                if segment.flag == _ACCEPT:
                    event = StreamEvent.ACCEPTED
                elif segment.flag == _FIN:
                    event = StreamEvent.EOF
                else:
                    event = StreamEvent.DATA
                self._deliver(conn, receiver, event, segment.data)
        self._send_ack(conn, receiver, sender)

    def _send_ack(self, conn: Connection, receiver: _Side, sender: _Side) -> None:
        upto = receiver.recv_next
        at = self.network.segment_arrival(receiver.endpoint, sender.endpoint, self.scheduler.now)
        if at is not None:
            self.scheduler.call_at(at, lambda: self._acked(conn, sender, upto))

    def _acked(self, conn: Connection, side: _Side, upto: int) -> None:
        if not side.alive:
            return
        unacked = side.unacked
        progress = False
        while unacked and unacked[0].seq < upto:
            unacked.popleft()
            progress = True
        if not progress:
            return
        side.retries = 0
        side.rto = RTO_MIN
        if unacked:
            self._arm(conn, side)
        else:
            side.timer = 0
            self._forget_if_finished(conn)

    def _send_rst(self, conn: Connection, side: _Side) -> None:
        peer = conn.peer(side)
        self._deliver_in_order(conn, side, lambda: self._rst_arrives(conn, peer))

    def _rst_arrives(self, conn: Connection, side: _Side) -> None:
        if side.alive:
            self.counters["resets"] += 1
            self._reset(conn, side)

    def _reset(self, conn: Connection, side: _Side) -> None:
        side.alive = False
        side.unacked.clear()
        side.timer = 0
        if side.open:
            self._deliver(conn, side, StreamEvent.RESET)
        self._forget_if_finished(conn)

    # ------------------------------------------------------------------------------------
    def _deliver(
        self, conn: Connection, side: _Side, event: StreamEvent, data: bytes = b""
    ) -> None:
        handler = self.endpoints.get(side.endpoint)
        if handler is None or not handler.stream_event(side.incarnation, conn.conn_id, event, data):
            side.open = False
            self._forget_if_finished(conn)

    def _forget_if_finished(self, conn: Connection) -> None:
        aborted = conn.state == "aborted" and not conn.client.open
        if aborted or (conn.state == "open" and conn.finished):
            self.connections.pop(conn.conn_id, None)
