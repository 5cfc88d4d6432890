"""Sans-IO qdevice-net clients and the in-process QnetdServer on a virtual clock.

No sockets: a client's :class:`Connect` is an ``accept`` on the server, bytes travel with a
fixed latency in send order, STARTTLS is completed in place (the cryptography is the drivers'
business and is tested with sockets). Tests can stop the server from answering (``silent``),
refuse connections (``down``), inject bytes, and read every output and event.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qnetd.certnames import PeerCertificate
from qnetd.protocol import parse_message
from qnetd.protocol.constants import TieBreakerMode, TlsSupported
from qnetd.protocol.tlv import NodeInfo, RingId, TieBreaker
from qnetd.server.events import Close as ServerClose
from qnetd.server.events import Send as ServerSend
from qnetd.server.events import StartTls as ServerStartTls
from qnetd.server.instance import QnetdServer
from qnetd.server.settings import ServerConfig
from votequorum.qdevice.events import (
    Close,
    Connect,
    HeuristicsResult,
    Output,
    Poll,
    RunHeuristics,
    Send,
    StartTls,
)
from votequorum.qdevice.net_client import QdeviceNetClient
from votequorum.qdevice.requests import QuorumNode
from votequorum.qdevice.settings import QdeviceNetSettings

CLUSTER = "pycluster"


def settings(node_id: int, nodes: tuple[int, ...] = (1, 2), **kw: Any) -> QdeviceNetSettings:
    base: dict[str, Any] = {
        "cluster_name": CLUSTER,
        "node_id": node_id,
        "host": "qnetd.example",
        "tls": TlsSupported.UNSUPPORTED,
        "tie_breaker": TieBreaker(TieBreakerMode.LOWEST),
        "config_nodes": tuple(NodeInfo(n) for n in nodes),
    }
    base.update(kw)
    return QdeviceNetSettings(**base)


def plain_server(**kw: Any) -> QnetdServer:
    cfg = ServerConfig(tls_supported=TlsSupported.UNSUPPORTED, tls_available=False, **kw)
    return QnetdServer(cfg)


@dataclass
class Node:
    """One client and everything it did."""

    client: QdeviceNetClient
    conn_id: int | None = None
    polls: list[Poll] = field(default_factory=list)
    sent: list[Any] = field(default_factory=list)
    """Decoded messages the client sent (in order, across connections)."""
    received: list[Any] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    heuristics: Callable[[RunHeuristics], HeuristicsResult | None] = lambda _r: (
        HeuristicsResult.PASS
    )
    """Answer to RunHeuristics (None: never answer)."""
    tls: bool = False
    bridge: Any = None
    """A VotequorumBridge that carries out the polls (full-stack worlds)."""

    def last_cast(self) -> bool | None:
        return self.polls[-1].cast_vote if self.polls else None


class World:
    """Clients by node id, one server, a clock and an in-flight queue."""

    def __init__(self, server: QnetdServer | None = None, latency: float = 0.001) -> None:
        self.server = server or plain_server()
        self.now = 100.0
        self.latency = latency
        self.nodes: dict[int, Node] = {}
        self.down = False
        """Connections are refused."""
        self.silent = False
        """The server reads but its output is lost (a stalled qnetd)."""
        self.server_cert = PeerCertificate(common_names=(CLUSTER,))
        self._conn_ids = itertools.count(1)
        self._conn_owner: dict[int, int] = {}
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    # ------------------------------------------------------------------ setup

    def add(self, node_id: int, **kw: Any) -> Node:
        nodes = kw.pop("nodes", (1, 2))
        rng = random.Random(node_id)
        node = Node(QdeviceNetClient(settings(node_id, nodes, **kw), rng=rng))
        self.nodes[node_id] = node
        return node

    def start(
        self,
        node_id: int,
        ring: RingId,
        members: tuple[int, ...],
        quorate: bool = False,
    ) -> None:
        """As votequorum would: node list, quorum, then the registered device starts."""
        client = self.nodes[node_id].client
        client.node_list_notify(ring, members, self.now)
        client.quorum_notify(quorate, [QuorumNode(m, 1) for m in members], self.now)
        client.start(self.now)
        self.pump(node_id)

    # ------------------------------------------------------------------ running

    def at(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.now + delay, next(self._seq), action))

    def pump(self, node_id: int) -> None:
        node = self.nodes[node_id]
        client = node.client
        outputs = client.outbox()
        if node.bridge is not None and outputs:
            polls = [o for o in outputs if isinstance(o, Poll)]
            outputs = node.bridge.execute(outputs, self.now)
            node.polls.extend(polls)
            node.outputs.extend(polls)
            if polls:
                self.after_polls(node_id)
        for out in outputs:
            node.outputs.append(out)
            if isinstance(out, Connect):
                self.at(self.latency, lambda n=node_id: self._connect(n))
            elif isinstance(out, Send):
                node.sent.append(parse_message(out.data))
                conn = node.conn_id
                if conn is not None:
                    self.at(self.latency, lambda c=conn, d=out.data: self._to_server(c, d))
            elif isinstance(out, StartTls):
                node.tls = True
            elif isinstance(out, Close):
                conn = node.conn_id
                node.conn_id = None
                node.tls = False
                if conn is not None:
                    self.at(self.latency, lambda c=conn: self._server_lost(c))
            elif isinstance(out, Poll):
                node.polls.append(out)
            elif isinstance(out, RunHeuristics):
                answer = node.heuristics(out)
                if answer is not None:
                    self.at(
                        0.0005,
                        lambda n=node_id, s=out.seq, a=answer: self._heuristics(n, s, a),
                    )
        node.events.extend(client.events())

    def after_polls(self, node_id: int) -> None:
        """votequorum was polled on ``node_id`` (full-stack worlds pump the node)."""

    def _heuristics(self, node_id: int, seq: int, result: HeuristicsResult) -> None:
        self.nodes[node_id].client.heuristics_result(seq, result, self.now)
        self.pump(node_id)

    def _connect(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if self.down:
            node.client.connect_failed(self.now)
        else:
            conn = next(self._conn_ids)
            assert self.server.accept(conn, f"127.0.0.1:{40000 + conn}", self.now)
            node.conn_id = conn
            self._conn_owner[conn] = node_id
            node.client.connected(self.now)
        self.pump(node_id)

    def _to_server(self, conn: int, data: bytes) -> None:
        if conn not in self.server.connections:
            return
        self.server.receive(conn, data, self.now)
        self._pump_server()

    def _server_lost(self, conn: int) -> None:
        self.server.connection_lost(conn, self.now)
        self._pump_server()

    def _pump_server(self) -> None:
        for out in self.server.outbox():
            owner = self._conn_owner.get(out.conn_id)
            if owner is None:
                continue
            if isinstance(out, ServerSend):
                if self.silent:
                    continue
                self.at(self.latency, lambda c=out.conn_id, d=out.data: self.to_client(c, d))
            elif isinstance(out, ServerStartTls):
                cert = self.server_cert if self.nodes[owner].tls else None
                self.server.tls_established(out.conn_id, cert, self.now)
                self.nodes[owner].client.tls_established(self.now, cert is not None, cert)
                if out.pending:
                    self.server.receive(out.conn_id, out.pending, self.now)
                self._pump_server()
                self.pump(owner)
            elif isinstance(out, ServerClose):
                self.at(self.latency, lambda c=out.conn_id: self._client_lost(c))
        self.server.events()

    def to_client(self, conn: int, data: bytes) -> None:
        """Deliver server bytes on connection ``conn`` (tests inject garbage with this)."""
        owner = self._conn_owner.get(conn)
        if owner is None:
            return
        node = self.nodes[owner]
        if node.conn_id != conn:
            return
        node.client.receive(data, self.now)
        self.pump(owner)

    def _client_lost(self, conn: int) -> None:
        owner = self._conn_owner.get(conn)
        if owner is None:
            return
        node = self.nodes[owner]
        if node.conn_id != conn:
            return
        node.conn_id = None
        node.client.connection_lost(self.now)
        self.pump(owner)

    def kill_connection(self, node_id: int) -> None:
        """The TCP connection of ``node_id`` breaks (both ends see it)."""
        node = self.nodes[node_id]
        conn = node.conn_id
        assert conn is not None
        node.conn_id = None
        self.server.connection_lost(conn, self.now)
        self._pump_server()
        node.client.connection_lost(self.now, error=True)
        self.pump(node_id)

    def deadlines(self) -> list[tuple[float, Callable[[], None]]]:
        """Timers due some time: the server's and every client's."""
        out: list[tuple[float, Callable[[], None]]] = []
        d = self.server.next_deadline()
        if d is not None:
            out.append((d, self._server_deadline))
        for node_id, node in self.nodes.items():
            d = node.client.next_deadline()
            if d is not None:
                out.append((d, lambda n=node_id: self._client_deadline(n)))
        return out

    def step(self) -> bool:
        """Run the earliest thing that happens (timers before deliveries at equal times)."""
        timers = self.deadlines()
        timer = min(timers, key=lambda t: t[0]) if timers else None
        packet = self._queue[0] if self._queue else None
        if timer is None and packet is None:
            return False
        if timer is not None and (packet is None or timer[0] <= packet[0]):
            self.now = max(self.now, timer[0])
            timer[1]()
            return True
        assert packet is not None
        heapq.heappop(self._queue)
        self.now = max(self.now, packet[0])
        packet[2]()
        return True

    def _server_deadline(self) -> None:
        self.server.on_deadline(self.now)
        self._pump_server()

    def _client_deadline(self, node_id: int) -> None:
        self.nodes[node_id].client.on_deadline(self.now)
        self.pump(node_id)

    def _next_time(self) -> float | None:
        times = [t for t, _ in self.deadlines()]
        if self._queue:
            times.append(self._queue[0][0])
        return min(times) if times else None

    def run_for(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            nxt = self._next_time()
            if nxt is None or nxt > end:
                break
            self.step()
        self.now = end

    def run_until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> float:
        start = self.now
        while not predicate():
            nxt = self._next_time()
            if nxt is None or nxt - start > timeout:
                raise AssertionError(f"not reached within {timeout}s of virtual time")
            self.step()
        return self.now - start
