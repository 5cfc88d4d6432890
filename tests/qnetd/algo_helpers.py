"""Build clusters of client records and run algorithm hooks with a recording context."""

from __future__ import annotations

from dataclasses import dataclass, field

from qnetd.algorithms import ALGORITHMS, Algorithm
from qnetd.model import ClusterList, NodeList, QnetdClient
from qnetd.protocol.constants import DecisionAlgorithm, Heuristics, TieBreakerMode, Vote
from qnetd.protocol.tlv import RingId, TieBreaker


@dataclass
class RecordingContext:
    """An AlgorithmContext that records what the algorithm asked for."""

    votes: list[tuple[int, int, RingId, Vote]] = field(default_factory=list)
    last: list[tuple[int, int, RingId, Vote]] = field(default_factory=list)
    """What the last :meth:`take_votes` returned, with sequence numbers and ring ids."""
    timers: dict[int, int] = field(default_factory=dict)

    def send_vote_info(self, client: QnetdClient, seq: int, ring_id: RingId, vote: Vote) -> None:
        client.record_sent_vote(vote)
        self.votes.append((client.node_id, seq, ring_id, vote))

    def schedule_algo_timer(self, client: QnetdClient, timeout_ms: int) -> None:
        self.timers[client.node_id] = timeout_ms

    def abort_algo_timer(self, client: QnetdClient) -> None:
        self.timers.pop(client.node_id, None)

    def take_votes(self) -> list[tuple[int, Vote]]:
        out = [(node, vote) for node, _, _, vote in self.votes]
        self.last = list(self.votes)
        self.votes.clear()
        return out


@dataclass
class ClusterBuilder:
    algorithm: DecisionAlgorithm
    tie_breaker: TieBreaker = field(default_factory=lambda: TieBreaker(TieBreakerMode.LOWEST))
    clusters: ClusterList = field(default_factory=ClusterList)
    ctx: RecordingContext = field(default_factory=RecordingContext)
    clients: dict[int, QnetdClient] = field(default_factory=dict)

    @property
    def alg(self) -> Algorithm:
        return ALGORITHMS[self.algorithm]

    def add(
        self,
        node_id: int,
        config: tuple[int, ...] = (),
        ring: RingId | None = None,
        membership: tuple[int, ...] = (),
        heuristics: Heuristics = Heuristics.UNDEFINED,
        kap: bool = False,
        heartbeat: int = 8000,
    ) -> QnetdClient:
        c = QnetdClient(
            conn_id=node_id,
            addr_str=f"10.0.0.{node_id}:5000",
            cluster_name=b"test",
            init_received=True,
            node_id=node_id,
            heartbeat_interval=heartbeat,
            decision_algorithm=self.algorithm,
            tie_breaker=self.tie_breaker,
            keep_active_partition_tie_breaker=kap,
            last_ring_id=ring or RingId(0, 0),
            configuration_node_list=NodeList.of(*config),
            last_membership_node_list=NodeList.of(*membership),
            last_membership_heuristics=heuristics,
            last_heuristics=heuristics,
        )
        self.clusters.add_client(c)
        assert self.alg.client_init(self.ctx, c) == 0
        self.clients[node_id] = c
        return c

    def store_membership(self, node_id: int, ring: RingId, membership: tuple[int, ...]) -> None:
        """What the server does after the hook returned without error."""
        c = self.clients[node_id]
        c.last_ring_id = ring
        c.last_membership_node_list = NodeList.of(*membership)

    def membership(
        self,
        node_id: int,
        ring: RingId,
        membership: tuple[int, ...],
        heuristics: Heuristics = Heuristics.UNDEFINED,
        store: bool = True,
    ) -> Vote:
        c = self.clients[node_id]
        result = self.alg.membership_node_list_received(
            self.ctx, c, 1, ring, NodeList.of(*membership), heuristics
        )
        assert result.error == 0, result
        if store:
            self.store_membership(node_id, ring, membership)
            c.last_heuristics = c.last_membership_heuristics = heuristics
        return result.vote

    def disconnect(self, node_id: int, going_down: bool = False) -> None:
        c = self.clients.pop(node_id)
        self.alg.client_disconnect(self.ctx, c, going_down)
        self.clusters.del_client(c)
