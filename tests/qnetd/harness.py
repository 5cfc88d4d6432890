"""Drive the sans-IO qnetd server directly: connections, messages in, decoded outputs out."""

from __future__ import annotations

from dataclasses import dataclass, field

from qnetd.protocol import (
    Init,
    KeepActivePartitionTieBreaker,
    Message,
    NodeInfo,
    NodeList,
    NodeListType,
    NodeState,
    Preinit,
    Quorate,
    RingId,
    SetOption,
    TieBreaker,
    TieBreakerMode,
    parse_message,
)
from qnetd.protocol.constants import DecisionAlgorithm, Heuristics, TlsSupported
from qnetd.server.events import Close, Send, StartTls
from qnetd.server.instance import QnetdServer
from qnetd.server.settings import AdvancedSettings, ServerConfig

Out = tuple[int, object]

LOWEST = TieBreaker(TieBreakerMode.LOWEST)


@dataclass
class Harness:
    server: QnetdServer = field(default_factory=lambda: QnetdServer(ServerConfig()))
    now: float = 100.0
    seqs: dict[int, int] = field(default_factory=dict)

    @classmethod
    def plain(cls, max_clients: int = 0, advanced: AdvancedSettings | None = None) -> Harness:
        """A server like ``corosync-qnetd -s off``."""
        cfg = ServerConfig(
            tls_supported=TlsSupported.UNSUPPORTED,
            tls_available=False,
            max_clients=max_clients,
            advanced=advanced or AdvancedSettings(),
        )
        return cls(QnetdServer(cfg))

    def connect(self, conn_id: int) -> bool:
        return self.server.accept(conn_id, f"127.0.0.1:{40000 + conn_id}", self.now)

    def raw(self, conn_id: int, data: bytes) -> list[Out]:
        self.server.receive(conn_id, data, self.now)
        return self.drain()

    def send(self, conn_id: int, *msgs: Message) -> list[Out]:
        return self.raw(conn_id, b"".join(m.encode() for m in msgs))

    def drain(self) -> list[Out]:
        out: list[Out] = []
        for o in self.server.outbox():
            if isinstance(o, Send):
                out.append((o.conn_id, parse_message(o.data)))
            elif isinstance(o, StartTls | Close):
                out.append((o.conn_id, o))
        return out

    def advance(self, seconds: float) -> list[Out]:
        self.now += seconds
        d = self.server.next_deadline()
        while d is not None and d <= self.now:
            self.server.on_deadline(self.now)
            d = self.server.next_deadline()
            if d is not None and d <= self.now:
                continue
        return self.drain()

    def next_seq(self, conn_id: int) -> int:
        self.seqs[conn_id] = self.seqs.get(conn_id, 1) + 1
        return self.seqs[conn_id]

    def join(
        self,
        conn_id: int,
        cluster: bytes,
        node_id: int,
        *,
        algorithm: int = DecisionAlgorithm.FFSPLIT,
        tie_breaker: TieBreaker = LOWEST,
        ring: RingId | None = None,
        heartbeat: int = 8000,
        kap: bool | None = True,
    ) -> list[Out]:
        """Connect, PREINIT, INIT (and SET_OPTION KAP) like a real qdevice."""
        assert self.connect(conn_id)
        self.seqs[conn_id] = 1
        out = self.send(conn_id, Preinit(cluster, 1))
        ring = ring or RingId(1, 5)
        out += self.send(
            conn_id, Init(node_id, algorithm, heartbeat, tie_breaker, ring, self.next_seq(conn_id))
        )
        if kap is not None:
            value = KeepActivePartitionTieBreaker(int(kap))
            out += self.send(conn_id, SetOption(self.next_seq(conn_id), None, value))
        return out

    def config(self, conn_id: int, *node_ids: int, initial: bool = True) -> list[Out]:
        t = NodeListType.INITIAL_CONFIG if initial else NodeListType.CHANGED_CONFIG
        return self.send(
            conn_id, NodeList(self.next_seq(conn_id), t, tuple(NodeInfo(n) for n in node_ids))
        )

    def membership(
        self,
        conn_id: int,
        ring: RingId,
        *node_ids: int,
        heuristics: Heuristics = Heuristics.UNDEFINED,
    ) -> list[Out]:
        return self.send(
            conn_id,
            NodeList(
                self.next_seq(conn_id),
                NodeListType.MEMBERSHIP,
                tuple(NodeInfo(n) for n in node_ids),
                ring_id=ring,
                heuristics=heuristics,
            ),
        )

    def quorum(self, conn_id: int, quorate: bool, *node_ids: int) -> list[Out]:
        return self.send(
            conn_id,
            NodeList(
                self.next_seq(conn_id),
                NodeListType.QUORUM,
                tuple(NodeInfo(n, node_state=NodeState.MEMBER) for n in node_ids),
                quorate=Quorate(int(quorate)),
            ),
        )
