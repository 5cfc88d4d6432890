"""Status snapshots of votequorum: every figure ``corosync-quorumtool`` prints (ref 11.4).

``corosync-quorumtool -s`` combines two sources: the quorum service's view
(``Nodes``, ``Ring ID``, ``Quorate`` and the membership list) and votequorum's
``getinfo`` for each node (votes, expected votes, flags). A
:class:`VotequorumStatus` carries both, so :mod:`votequorum.render` can print it
without asking anything else.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from totem.ringid import RingId
from votequorum.calc import NodeState, NodeVotes, QuorumOptions
from votequorum.wire import NodeFlags

__all__ = [
    "FLAG_WORDS",
    "InfoFlags",
    "NodeStatus",
    "VotequorumStatus",
    "info_flags",
    "node_status",
    "status_dict",
]


class InfoFlags(enum.IntFlag):
    """``VOTEQUORUM_INFO_*`` flags of ``votequorum_getinfo``."""

    TWONODE = 1
    QUORATE = 2
    WAIT_FOR_ALL = 4
    LAST_MAN_STANDING = 8
    AUTO_TIE_BREAKER = 16
    ALLOW_DOWNSCALE = 32
    QDEVICE_REGISTERED = 64
    QDEVICE_ALIVE = 128
    QDEVICE_CAST_VOTE = 256
    QDEVICE_MASTER_WINS = 512


FLAG_WORDS: tuple[tuple[InfoFlags, str], ...] = (
    (InfoFlags.TWONODE, "2Node"),
    (InfoFlags.QUORATE, "Quorate"),
    (InfoFlags.WAIT_FOR_ALL, "WaitForAll"),
    (InfoFlags.LAST_MAN_STANDING, "LastManStanding"),
    (InfoFlags.AUTO_TIE_BREAKER, "AutoTieBreaker"),
    (InfoFlags.ALLOW_DOWNSCALE, "AllowDownscale"),
    (InfoFlags.QDEVICE_REGISTERED, "Qdevice"),
)
"""The words of quorumtool's ``Flags:`` line, in its order."""


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """``votequorum_getinfo(nodeid)`` for one known node."""

    node_id: int
    state: NodeState
    votes: int
    expected_votes: int
    flags: InfoFlags
    """Cluster-wide flags plus this node's qdevice flags, as getinfo reports them."""
    highest_expected: int
    total_votes: int


@dataclass(frozen=True, slots=True)
class VotequorumStatus:
    """A snapshot of one node's quorum state."""

    node_id: int
    ring_id: RingId
    """Ring of the quorum view (the last synchronised ring)."""
    quorate: bool
    """The quorum service's view: may this node provide service?"""
    members: tuple[int, ...]
    """The quorum view's member list, in ring order."""
    expected_votes: int
    highest_expected: int
    total_votes: int
    quorum: int
    flags: InfoFlags
    qdevice_name: str
    qdevice_votes: int
    nodes: tuple[NodeStatus, ...]
    """Every node votequorum knows (members and dead nodes), by node id."""
    provider: str = "corosync_votequorum"

    def node(self, node_id: int) -> NodeStatus | None:
        for entry in self.nodes:
            if entry.node_id == node_id:
                return entry
        return None

    @property
    def flag_words(self) -> tuple[str, ...]:
        return tuple(word for flag, word in FLAG_WORDS if self.flags & flag)


_QDEVICE_INFO_FLAGS = (
    (NodeFlags.QDEVICE_REGISTERED, InfoFlags.QDEVICE_REGISTERED),
    (NodeFlags.QDEVICE_ALIVE, InfoFlags.QDEVICE_ALIVE),
    (NodeFlags.QDEVICE_CAST_VOTE, InfoFlags.QDEVICE_CAST_VOTE),
    (NodeFlags.QDEVICE_MASTER_WINS, InfoFlags.QDEVICE_MASTER_WINS),
)
# getinfo runs on every quorum-device poll: plain ints here, one flag object per value
_QDEVICE_NODE_MASK = 0
for _node_flag, _ in _QDEVICE_INFO_FLAGS:
    _QDEVICE_NODE_MASK |= int(_node_flag)
_QDEVICE_INFO_BITS: dict[int, int] = {}
"""The qdevice node flags (masked) -> their ``InfoFlags`` bits."""
for _bits in range(_QDEVICE_NODE_MASK + 1):
    if _bits & ~_QDEVICE_NODE_MASK:
        continue
    _QDEVICE_INFO_BITS[_bits] = sum(
        int(info) for node, info in _QDEVICE_INFO_FLAGS if _bits & int(node)
    )
_CAST_VOTE = int(NodeFlags.QDEVICE_CAST_VOTE)
_QUORATE = int(InfoFlags.QUORATE)
_MEMBER = NodeState.MEMBER
_INFO_FLAGS: dict[int, InfoFlags] = {}
"""Each ``InfoFlags`` value made so far, by its int."""


def _option_bits(options: QuorumOptions) -> int:
    bits = 0
    if options.two_node:
        bits |= InfoFlags.TWONODE.value
    if options.wait_for_all:
        bits |= InfoFlags.WAIT_FOR_ALL.value
    if options.last_man_standing:
        bits |= InfoFlags.LAST_MAN_STANDING.value
    if options.auto_tie_breaker.enabled:
        bits |= InfoFlags.AUTO_TIE_BREAKER.value
    if options.allow_downscale:
        bits |= InfoFlags.ALLOW_DOWNSCALE.value
    return bits


def info_flags(options: QuorumOptions, quorate: bool, node_flags: int) -> InfoFlags:
    """getinfo's flags: the cluster-wide options, quorate, and the node's qdevice flags."""
    value = (
        _option_bits(options)
        | (_QUORATE if quorate else 0)
        | _QDEVICE_INFO_BITS[int(node_flags) & _QDEVICE_NODE_MASK]
    )
    flags = _INFO_FLAGS.get(value)
    if flags is None:
        flags = _INFO_FLAGS[value] = InfoFlags(value)
    return flags


def node_status(
    node: NodeVotes,
    nodes: Iterable[NodeVotes],
    options: QuorumOptions,
    quorate: bool,
    qdevice_votes: int,
) -> NodeStatus:
    """``votequorum_getinfo`` for ``node`` among ``nodes``.

    As corosync's getinfo library handler computes it: the highest expected votes and
    the total votes count the members only; the quorum device's votes are added when
    ``node``'s device casts its vote.
    """
    highest = 0
    total = 0
    for other in nodes:
        if other.state is _MEMBER:
            if other.expected_votes > highest:
                highest = other.expected_votes
            total += other.votes
    if int(node.flags) & _CAST_VOTE:
        total += qdevice_votes
    return NodeStatus(
        node.node_id,
        node.state,
        node.votes,
        node.expected_votes,
        info_flags(options, quorate, node.flags),
        highest,
        total,
    )


def status_dict(snap: VotequorumStatus, counters: dict[str, int]) -> dict[str, Any]:
    """The JSON form of a snapshot (``pycorosync-quorumtool --json``, the control socket)."""
    return {
        "node_id": snap.node_id,
        "ring_id": str(snap.ring_id),
        "quorate": snap.quorate,
        "expected_votes": snap.expected_votes,
        "highest_expected": snap.highest_expected,
        "total_votes": snap.total_votes,
        "quorum": snap.quorum,
        "flags": list(snap.flag_words),
        "members": list(snap.members),
        "nodes": [
            {
                "node_id": n.node_id,
                "state": n.state.name,
                "votes": n.votes,
                "expected_votes": n.expected_votes,
                "flags": int(n.flags),
            }
            for n in snap.nodes
        ],
        "qdevice": {"name": snap.qdevice_name, "votes": snap.qdevice_votes},
        "counters": dict(counters),
    }
