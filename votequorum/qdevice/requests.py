"""The node lists the client sends, as corosync-qdevice 3.0.3 builds them (ref section 3).

``qdevice-net-send.c``: the config list carries node id and data center id (plus
CONFIG_VERSION when ``totem.config_version`` is set); the membership list carries the ring id,
the node ids and the heuristics result when defined; the quorum list carries the quorate flag
and every node with its votequorum state, without the qdevice pseudo-node (id 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qnetd.protocol.constants import Heuristics, NodeListType, NodeState, Quorate
from qnetd.protocol.messages import NodeList
from qnetd.protocol.tlv import NodeInfo, RingId

__all__ = ["QuorumNode", "config_node_list", "membership_node_list", "quorum_node_list"]


@dataclass(frozen=True, slots=True)
class QuorumNode:
    """One entry of votequorum's quorum notification (node id, votequorum node state)."""

    node_id: int
    state: int
    """1 member, 2 dead, 3 leaving (``VOTEQUORUM_NODESTATE_*``, sent 1:1 as NODE_STATE)."""


def config_node_list(
    seq: int, nodes: Sequence[NodeInfo], config_version: int | None, *, initial: bool
) -> NodeList:
    kind = NodeListType.INITIAL_CONFIG if initial else NodeListType.CHANGED_CONFIG
    return NodeList(seq, kind, tuple(nodes), config_version=config_version)


def membership_node_list(
    seq: int, ring_id: RingId, members: Sequence[int], heuristics: Heuristics
) -> NodeList:
    return NodeList(
        seq,
        NodeListType.MEMBERSHIP,
        tuple(NodeInfo(n) for n in members),
        ring_id=ring_id,
        heuristics=heuristics,
    )


def quorum_node_list(seq: int, quorate: bool, nodes: Sequence[QuorumNode]) -> NodeList:
    return NodeList(
        seq,
        NodeListType.QUORUM,
        tuple(
            NodeInfo(n.node_id, node_state=NodeState(n.state))
            for n in nodes
            if n.node_id != 0 and n.state in (1, 2, 3)
        ),
        quorate=Quorate.QUORATE if quorate else Quorate.INQUORATE,
    )
