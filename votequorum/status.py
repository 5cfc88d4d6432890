"""Status snapshots of votequorum: every figure ``corosync-quorumtool`` prints (ref 11.4).

``corosync-quorumtool -s`` combines two sources: the quorum service's view
(``Nodes``, ``Ring ID``, ``Quorate`` and the membership list) and votequorum's
``getinfo`` for each node (votes, expected votes, flags). A
:class:`VotequorumStatus` carries both, so :mod:`votequorum.render` can print it
without asking anything else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from totem.ringid import RingId
from votequorum.calc import NodeState

__all__ = ["FLAG_WORDS", "InfoFlags", "NodeStatus", "VotequorumStatus"]


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
