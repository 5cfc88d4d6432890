"""What qnetd remembers about clients and clusters (ref qnetd-protocol.md sections 5.1, 7).

:class:`QnetdClient` is ``struct qnetd_client`` minus the socket: identity, TLS flags, the
lists and ring id last received, heuristics and the votes last sent. :class:`Cluster` keeps
its clients **sorted by node id** (``qnetd_cluster_list_add_client``), which is the iteration
order of every decision algorithm; :class:`ClusterList` creates a cluster for its first client
and drops it with its last one. Clusters are matched by the exact bytes of the name.

The decision algorithms of :mod:`qnetd.algorithms` read and update these records; they never
see a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from qnetd.protocol.constants import (
    DecisionAlgorithm,
    Heuristics,
    TieBreakerMode,
    Vote,
)
from qnetd.protocol.tlv import NodeInfo, RingId, TieBreaker

__all__ = [
    "DEFAULT_HEARTBEAT_INTERVAL_MAX",
    "EMPTY_NODE_LIST",
    "Cluster",
    "ClusterList",
    "NodeList",
    "QnetdClient",
    "cluster_name_str",
]

DEFAULT_HEARTBEAT_INTERVAL_MAX = 120000
"""A client's heartbeat before INIT (``QNETD_DEFAULT_HEARTBEAT_INTERVAL_MAX``, ms)."""


class NodeList:
    """A received node list (``struct node_list``): entries in wire order, duplicates kept.

    Immutable; equal when the entries are. ``ids`` is the set of node ids, for membership
    tests. (A hand-written class rather than a frozen dataclass: one is built per received
    list, and this costs a fraction of the dataclass's construction.)
    """

    __slots__ = ("ids", "nodes")

    nodes: tuple[NodeInfo, ...]
    ids: frozenset[int]

    def __init__(self, nodes: tuple[NodeInfo, ...] = ()) -> None:
        _set_nodes(self, nodes)
        _set_ids(self, frozenset([n.node_id for n in nodes]))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not NodeList:
            return NotImplemented
        assert isinstance(other, NodeList)
        return self.nodes == other.nodes

    def __hash__(self) -> int:
        return hash((self.nodes,))

    def __repr__(self) -> str:
        return f"NodeList(nodes={self.nodes!r})"

    @classmethod
    def of(cls, *node_ids: int) -> NodeList:
        """A list of plain node ids (no data center, no state)."""
        return cls(tuple(NodeInfo(n) for n in node_ids))

    def __len__(self) -> int:
        return len(self.nodes)

    def __bool__(self) -> bool:
        return bool(self.nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.ids

    def node_ids(self) -> list[int]:
        return [n.node_id for n in self.nodes]


# The slots' own setters, which bypass the class's refusing __setattr__.
_set_nodes: Callable[[NodeList, tuple[NodeInfo, ...]], None] = NodeList.__dict__["nodes"].__set__
_set_ids: Callable[[NodeList, frozenset[int]], None] = NodeList.__dict__["ids"].__set__

EMPTY_NODE_LIST = NodeList()
_NO_RING_ID = RingId(0, 0)
_DEFAULT_TIE_BREAKER = TieBreaker(TieBreakerMode.LOWEST)


def cluster_name_str(name: bytes | None) -> str:
    """The cluster name as C prints it (``%s``: up to the first NUL byte)."""
    if name is None:
        return "(null)"
    return name.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


@dataclass(slots=True, eq=False)
class QnetdClient:
    """Server-side state of one connected qdevice (``struct qnetd_client``)."""

    conn_id: int
    addr_str: str
    connected_at: float = 0.0
    cluster_name: bytes | None = None
    preinit_received: bool = False
    init_received: bool = False
    tls_started: bool = False
    tls_peer_certificate_verified: bool = False
    node_id: int = 0
    heartbeat_interval: int = DEFAULT_HEARTBEAT_INTERVAL_MAX
    decision_algorithm: int = DecisionAlgorithm.TEST
    tie_breaker: TieBreaker = _DEFAULT_TIE_BREAKER
    keep_active_partition_tie_breaker: bool = False
    last_ring_id: RingId = _NO_RING_ID
    configuration_node_list: NodeList = EMPTY_NODE_LIST
    config_version: int | None = None
    last_membership_node_list: NodeList = EMPTY_NODE_LIST
    last_quorum_node_list: NodeList = EMPTY_NODE_LIST
    last_membership_heuristics: Heuristics = Heuristics.UNDEFINED
    last_regular_heuristics: Heuristics = Heuristics.UNDEFINED
    last_heuristics: Heuristics = Heuristics.UNDEFINED
    last_sent_vote: Vote = Vote.UNDEFINED
    last_sent_ack_nack_vote: Vote = Vote.UNDEFINED
    cluster: Cluster | None = None
    algorithm_data: object = None
    """Per-client state owned by the client's decision algorithm."""
    algo_timer_vote_info_msg_seq_number: int = 0
    """Sequence counter of VOTE_INFO sent from the algorithm timer (lms)."""
    schedule_disconnect: bool = False

    def record_sent_vote(self, vote: Vote) -> None:
        """Remember a vote for the status tool (``last_sent_vote``/``last_sent_ack_nack_vote``)."""
        self.last_sent_vote = vote
        if vote in (Vote.ACK, Vote.NACK):
            self.last_sent_ack_nack_vote = vote

    @property
    def cluster_name_text(self) -> str:
        return cluster_name_str(self.cluster_name)


class Cluster:
    """``struct qnetd_cluster``: clients sharing a cluster name, sorted by node id."""

    __slots__ = ("_by_node_id", "algorithm_data", "clients", "name")

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.clients: list[QnetdClient] = []
        self._by_node_id: dict[int, QnetdClient] = {}
        self.algorithm_data: object = None
        """Per-cluster state owned by the cluster's decision algorithm."""

    def __len__(self) -> int:
        return len(self.clients)

    @property
    def name_text(self) -> str:
        return cluster_name_str(self.name)

    def find_client_by_node_id(self, node_id: int) -> QnetdClient | None:
        """``qnetd_cluster_find_client_by_node_id``."""
        return self._by_node_id.get(node_id)

    def _insert(self, client: QnetdClient) -> None:
        clients = self.clients
        idx = len(clients)
        for i, entry in enumerate(clients):
            if entry.node_id > client.node_id:
                idx = i
                break
        clients.insert(idx, client)
        self._by_node_id.setdefault(client.node_id, client)

    def _remove(self, client: QnetdClient) -> None:
        self.clients.remove(client)
        if self._by_node_id.get(client.node_id) is client:
            del self._by_node_id[client.node_id]
            for other in self.clients:
                if other.node_id == client.node_id:
                    self._by_node_id[client.node_id] = other
                    break


class ClusterList:
    """``struct qnetd_cluster_list``: clusters in creation order, found by exact name bytes."""

    __slots__ = ("_clusters",)

    def __init__(self) -> None:
        self._clusters: dict[bytes, Cluster] = {}

    def __len__(self) -> int:
        return len(self._clusters)

    def __iter__(self) -> Iterator[Cluster]:
        return iter(list(self._clusters.values()))

    def find_by_name(self, name: bytes) -> Cluster | None:
        return self._clusters.get(name)

    def add_client(self, client: QnetdClient) -> Cluster:
        """Put ``client`` (with its cluster name and node id set) into its cluster."""
        assert client.cluster_name is not None
        cluster = self._clusters.get(client.cluster_name)
        if cluster is None:
            cluster = Cluster(client.cluster_name)
            self._clusters[client.cluster_name] = cluster
        cluster._insert(client)
        client.cluster = cluster
        return cluster

    def del_client(self, client: QnetdClient) -> None:
        """Remove ``client`` from its cluster; an empty cluster is dropped."""
        cluster = client.cluster
        if cluster is None:
            return
        cluster._remove(client)
        if not cluster.clients:
            self._clusters.pop(cluster.name, None)
