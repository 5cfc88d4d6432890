"""The votequorum quorum calculation as pure functions (ref totem-wire.md section 11.3).

``exec/votequorum.c`` keeps its figures in globals and recomputes them in
``recalculate_quorum`` -> ``calculate_quorum`` -> ``are_we_quorate``. Here the same
rules are functions over plain values, and :func:`recalculate` composes them over
a frozen :class:`QuorumState`, returning the next state. The service
(:mod:`votequorum.service`) drives exactly these functions, so the table tests
of this module test the running service's arithmetic.

The rules, in the order they apply:

* ``total_votes`` is the sum of the votes of MEMBER nodes, plus the quorum
  device's votes when *this* node's QDEVICE_CAST_VOTE flag is set. (When
  raising expected votes, corosync counts the device whenever it has votes at
  all: :func:`get_total_votes`.)
* If the device-inclusive total exceeds this node's expected votes, expected
  votes are raised to it.
* ``highest_expected`` is the highest expected_votes among MEMBER nodes, or an
  explicit ``max_expected`` (last_man_standing, ``-e``); with allow_downscale
  the explicit value never goes below the ``ev_barrier``.
* ``quorum = max((highest_expected + 2) // 2, (total_votes + 2) // 2)``, never
  lower than the previous quorum unless the path allows a decrease; two_node
  forces 1 while at most two nodes (device included) count.
* wait_for_all: while the WFA status is set the node stays inquorate until
  ``total_votes == expected_votes``.
* quorate iff ``quorum <= total_votes``; auto_tie_breaker grants quorum on an
  exact half split (``total_votes == expected_votes // 2``) to the half holding
  the lowest / highest node id of the last quorate membership, or the first
  listed node; a qdevice "master wins" partition is quorate too.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from votequorum.wire import NodeFlags

# The calculation runs on every NODEINFO a node delivers (N^2 of them when N nodes form a
# ring): plain ints for the flags, as ``IntFlag`` arithmetic would compute them.
_KNOWN_NODE_FLAGS = sum(int(flag) for flag in NodeFlags)
"""``~NodeFlags.X`` is the complement within the known flags."""
_QUORATE_FLAG = int(NodeFlags.QUORATE)
_WFASTATUS_FLAG = int(NodeFlags.WFASTATUS)
_CAST_VOTE_FLAG = int(NodeFlags.QDEVICE_CAST_VOTE)
_MASTER_FLAGS = int(NodeFlags.QDEVICE_MASTER_WINS | NodeFlags.QDEVICE_CAST_VOTE)

__all__ = [
    "AtbMode",
    "AutoTieBreaker",
    "NodeState",
    "NodeVotes",
    "QuorateDecision",
    "QuorumFigures",
    "QuorumOptions",
    "QuorumState",
    "Recalculation",
    "auto_tie_breaker_grants",
    "calculate_quorum",
    "decide_quorate",
    "get_total_votes",
    "lms_timer_should_start",
    "member_extremes",
    "parse_auto_tie_breaker_node",
    "recalculate",
    "validate_expected_votes",
    "validate_node_votes",
]


class NodeState(enum.IntEnum):
    """``nodestate_t`` (the numbers are the ``VOTEQUORUM_NODESTATE_*`` of the API)."""

    MEMBER = 1
    DEAD = 2
    LEAVING = 3


@dataclass(frozen=True, slots=True)
class NodeVotes:
    """One node as votequorum knows it (``struct cluster_node``, the device excluded)."""

    node_id: int
    votes: int
    expected_votes: int
    state: NodeState = NodeState.MEMBER
    flags: int = 0


class AtbMode(enum.IntEnum):
    """auto_tie_breaker type (``runtime.votequorum.atb_type``)."""

    NONE = 0
    LOWEST = 1
    HIGHEST = 2
    LIST = 3


@dataclass(frozen=True, slots=True)
class AutoTieBreaker:
    mode: AtbMode = AtbMode.NONE
    nodes: tuple[int, ...] = ()
    """The ``auto_tie_breaker_node`` list, in priority order (mode LIST)."""

    @property
    def enabled(self) -> bool:
        return self.mode is not AtbMode.NONE


_STRTOL = re.compile(r"\s*([+-]?\d+)")


def parse_auto_tie_breaker_node(text: str | None) -> AutoTieBreaker | None:
    """Parse ``quorum.auto_tie_breaker_node``; None means "not valid" (corosync disables ATB).

    ``lowest`` and ``highest`` select the mode; otherwise the text is read as
    whitespace-separated node ids until the first 0 or non-number, as
    ``parse_atb_string`` does with ``strtol``.
    """
    if text is None or text == "lowest":
        return AutoTieBreaker(AtbMode.LOWEST)
    if text == "highest":
        return AutoTieBreaker(AtbMode.HIGHEST)
    nodes: list[int] = []
    pos = 0
    while True:
        m = _STRTOL.match(text, pos)
        if m is None or int(m.group(1)) == 0:
            break
        nodes.append(int(m.group(1)))
        pos = m.end()
    if not nodes:
        return None
    return AutoTieBreaker(AtbMode.LIST, tuple(nodes))


@dataclass(frozen=True, slots=True)
class QuorumOptions:
    """The resolved runtime options the calculation depends on."""

    two_node: bool = False
    wait_for_all: bool = False
    last_man_standing: bool = False
    auto_tie_breaker: AutoTieBreaker = AutoTieBreaker()
    allow_downscale: bool = False
    ev_tracking: bool = False
    qdevice_master_wins: bool = False
    """Set on this node by its qdevice client (``votequorum_qdevice_master_wins``)."""


@dataclass(frozen=True, slots=True)
class QuorumFigures:
    """What ``calculate_quorum`` computes."""

    quorum: int
    total_votes: int
    highest_expected: int
    total_nodes: int


def get_total_votes(nodes: Iterable[NodeVotes], qdevice_votes: int) -> tuple[int, int]:
    """(votes, members) of MEMBER nodes plus the device if it has votes (``get_total_votes``)."""
    total = 0
    members = 0
    member = NodeState.MEMBER
    for node in nodes:
        if node.state is member:
            total += node.votes
            members += 1
    if qdevice_votes:
        total += qdevice_votes
        members += 1
    return total, members


def calculate_quorum(
    nodes: Iterable[NodeVotes],
    *,
    previous_quorum: int,
    allow_decrease: bool,
    max_expected: int = 0,
    two_node: bool = False,
    allow_downscale: bool = False,
    ev_barrier: int = 0,
    qdevice_votes: int = 0,
    qdevice_cast_vote: bool = False,
) -> QuorumFigures:
    """``calculate_quorum``: the quorum for the given nodes (ref 11.3)."""
    if allow_downscale and allow_decrease and max_expected:
        max_expected = max(ev_barrier, max_expected)
    total_votes = 0
    highest_expected = 0
    total_nodes = 0
    member = NodeState.MEMBER
    for node in nodes:
        if node.state is member:
            if node.expected_votes > highest_expected:
                highest_expected = node.expected_votes
            total_votes += node.votes
            total_nodes += 1
    if qdevice_cast_vote:
        total_votes += qdevice_votes
        total_nodes += 1
    if max_expected > 0:
        highest_expected = max_expected
    quorum = max((highest_expected + 2) // 2, (total_votes + 2) // 2)
    if not allow_decrease:
        quorum = max(previous_quorum, quorum)
    if two_node and total_nodes <= 2:
        quorum = 1
    return QuorumFigures(quorum, total_votes, highest_expected, total_nodes)


def member_extremes(nodes: Iterable[NodeVotes], us: int) -> tuple[int, int]:
    """(lowest, highest) node id among MEMBER nodes and us (``get_lowest/highest_node_id``)."""
    lowest = highest = us
    member = NodeState.MEMBER
    for node in nodes:
        if node.state is member:
            node_id = node.node_id
            if node_id < lowest:
                lowest = node_id
            elif node_id > highest:
                highest = node_id
    return lowest, highest


def auto_tie_breaker_grants(
    atb: AutoTieBreaker,
    *,
    member_ids: Iterable[int],
    lowest_node_id: int,
    highest_node_id: int,
    quorum_members: Sequence[int],
    previous_quorum_members: Sequence[int],
) -> bool:
    """``check_auto_tie_breaker``: does this partition win the tie?

    ``member_ids`` are the MEMBER nodes; ``lowest``/``highest_node_id`` are those
    of the last quorate membership (-1 if never quorate).
    """
    if atb.mode is AtbMode.LOWEST:
        return lowest_node_id in set(member_ids)
    if atb.mode is AtbMode.HIGHEST:
        return highest_node_id in set(member_ids)
    if atb.mode is AtbMode.NONE:
        return False
    current = set(quorum_members)
    previous = set(previous_quorum_members)
    for i, node in enumerate(atb.nodes):
        if node in current:
            # An earlier-listed node that was with us and is gone may be in the other half.
            return not any(earlier in previous for earlier in atb.nodes[:i])
    return False


@dataclass(frozen=True, slots=True)
class QuorateDecision:
    """The outcome of ``are_we_quorate``."""

    quorate: bool
    wait_for_all_status: bool
    lowest_node_id: int
    highest_node_id: int
    waiting_for_all: bool
    """True if wait_for_all held the decision back (nothing else changed)."""


def decide_quorate(
    nodes: Sequence[NodeVotes],
    options: QuorumOptions,
    *,
    us: int,
    expected_votes: int,
    total_votes: int,
    quorum: int,
    was_quorate: bool,
    wait_for_all_status: bool,
    lowest_node_id: int,
    highest_node_id: int,
    quorum_members: Sequence[int],
    previous_quorum_members: Sequence[int],
) -> QuorateDecision:
    """``are_we_quorate``: is this partition quorate? (ref 11.3)."""
    if options.wait_for_all and wait_for_all_status:
        if total_votes != expected_votes:
            return QuorateDecision(
                was_quorate, wait_for_all_status, lowest_node_id, highest_node_id, True
            )
        wait_for_all_status = False
    if quorum > total_votes:
        quorate = False
    else:
        quorate = True
        lowest_node_id, highest_node_id = member_extremes(nodes, us)
    if (
        options.auto_tie_breaker.enabled
        and total_votes == expected_votes // 2
        and len(previous_quorum_members) - len(quorum_members) < quorum
        and auto_tie_breaker_grants(
            options.auto_tie_breaker,
            member_ids=[n.node_id for n in nodes if n.state is NodeState.MEMBER],
            lowest_node_id=lowest_node_id,
            highest_node_id=highest_node_id,
            quorum_members=quorum_members,
            previous_quorum_members=previous_quorum_members,
        )
    ):
        quorate = True
    master = _MASTER_FLAGS
    if (
        options.qdevice_master_wins
        and not quorate
        and any(n.state is NodeState.MEMBER and int(n.flags) & master == master for n in nodes)
    ):
        quorate = True
    if options.wait_for_all:
        wait_for_all_status = not quorate
    return QuorateDecision(quorate, wait_for_all_status, lowest_node_id, highest_node_id, False)


@dataclass(frozen=True, slots=True)
class QuorumState:
    """Everything ``recalculate_quorum`` reads and writes, for one node."""

    us: int
    nodes: tuple[NodeVotes, ...]
    """Every known node including us, without the quorum device."""
    quorum: int = 0
    quorate: bool = False
    wait_for_all_status: bool = False
    qdevice_votes: int = 0
    ev_barrier: int = 0
    ev_tracking_barrier: int = 0
    lowest_node_id: int = -1
    highest_node_id: int = -1
    quorum_members: tuple[int, ...] = ()
    previous_quorum_members: tuple[int, ...] = ()

    @property
    def me(self) -> NodeVotes:
        for node in self.nodes:
            if node.node_id == self.us:
                return node
        raise KeyError(self.us)

    @property
    def expected_votes(self) -> int:
        return self.me.expected_votes


@dataclass(frozen=True, slots=True)
class Recalculation:
    """The result of :func:`recalculate`."""

    state: QuorumState
    figures: QuorumFigures
    expected_votes_raised: bool
    """Expected votes were raised to the total (an expected-votes notification)."""
    ev_tracking_barrier_changed: bool
    """expected_votes_tracking: the barrier grew and must be persisted."""
    waiting_for_all: bool
    quorum_changed: bool


def _index_of(nodes: tuple[NodeVotes, ...], us: int) -> int:
    """Where ``us`` is in ``nodes`` (KeyError if absent, as ``QuorumState.me``)."""
    for index, node in enumerate(nodes):
        if node.node_id == us:
            return index
    raise KeyError(us)


def recalculate(
    state: QuorumState,
    options: QuorumOptions,
    *,
    allow_decrease: bool,
    by_current_nodes: bool,
) -> Recalculation:
    """``recalculate_quorum``: recompute quorum and quorate state (ref 11.3)."""
    nodes = state.nodes
    us = state.us
    mine = _index_of(nodes, us)
    total, members = get_total_votes(nodes, state.qdevice_votes)
    if not by_current_nodes:
        members = 0
    raised = False
    me = nodes[mine]
    if total > me.expected_votes:
        me = replace(me, expected_votes=total)
        nodes = (*nodes[:mine], me, *nodes[mine + 1 :])
        raised = True
    ev_tracking_barrier = state.ev_tracking_barrier
    barrier_changed = False
    if options.ev_tracking and me.expected_votes > ev_tracking_barrier:
        ev_tracking_barrier = me.expected_votes
        barrier_changed = True
    figures = calculate_quorum(
        nodes,
        previous_quorum=state.quorum,
        allow_decrease=allow_decrease,
        max_expected=members,
        two_node=options.two_node,
        allow_downscale=options.allow_downscale,
        ev_barrier=state.ev_barrier,
        qdevice_votes=state.qdevice_votes,
        qdevice_cast_vote=bool(int(me.flags) & _CAST_VOTE_FLAG),
    )
    if members:
        member = NodeState.MEMBER
        nodes = tuple(
            replace(n, expected_votes=members)
            if n.state is member and n.expected_votes != members
            else n
            for n in nodes
        )
        me = nodes[mine]
    decision = decide_quorate(
        nodes,
        options,
        us=state.us,
        expected_votes=me.expected_votes,
        total_votes=figures.total_votes,
        quorum=figures.quorum,
        was_quorate=state.quorate,
        wait_for_all_status=state.wait_for_all_status,
        lowest_node_id=state.lowest_node_id,
        highest_node_id=state.highest_node_id,
        quorum_members=state.quorum_members,
        previous_quorum_members=state.previous_quorum_members,
    )
    flags = int(me.flags)
    if not decision.waiting_for_all:
        if decision.quorate:
            flags |= _QUORATE_FLAG
        else:
            flags &= _KNOWN_NODE_FLAGS & ~_QUORATE_FLAG
    if decision.wait_for_all_status:
        flags |= _WFASTATUS_FLAG
    else:
        flags &= _KNOWN_NODE_FLAGS & ~_WFASTATUS_FLAG
    # Built directly, not with ``replace``: this runs once per NODEINFO, N times per sync.
    me = NodeVotes(me.node_id, me.votes, me.expected_votes, me.state, flags)
    nodes = (*nodes[:mine], me, *nodes[mine + 1 :])
    new_state = QuorumState(
        us=state.us,
        nodes=nodes,
        quorum=figures.quorum,
        quorate=decision.quorate,
        wait_for_all_status=decision.wait_for_all_status,
        qdevice_votes=state.qdevice_votes,
        ev_barrier=state.ev_barrier,
        ev_tracking_barrier=ev_tracking_barrier,
        lowest_node_id=decision.lowest_node_id,
        highest_node_id=decision.highest_node_id,
        quorum_members=state.quorum_members,
        previous_quorum_members=state.previous_quorum_members,
    )
    return Recalculation(
        new_state,
        figures,
        raised,
        barrier_changed,
        decision.waiting_for_all,
        decision.quorate != state.quorate,
    )


def lms_timer_should_start(
    *,
    member_count: int,
    quorum: int,
    nodes_left: bool,
    atb: AutoTieBreaker,
    lowest_node_in_partition: bool,
) -> bool:
    """``votequorum_sync_init``: (re)start the last_man_standing window?"""
    return (member_count >= quorum and nodes_left) or (
        member_count <= quorum and atb.enabled and lowest_node_in_partition
    )


def validate_expected_votes(
    nodes: Sequence[NodeVotes],
    *,
    new_expected: int,
    quorate: bool,
    two_node: bool,
    qdevice_votes: int,
    qdevice_cast_vote: bool,
) -> tuple[bool, QuorumFigures]:
    """``setexpected``'s check: (accepted, figures with the new expected votes).

    Refused when the value is below the current total votes, or when it would
    make a quorate cluster inquorate. (allow_downscale is ignored here, as in corosync.)
    """
    figures = calculate_quorum(
        nodes,
        previous_quorum=0,
        allow_decrease=True,
        max_expected=new_expected,
        two_node=two_node,
        qdevice_votes=qdevice_votes,
        qdevice_cast_vote=qdevice_cast_vote,
    )
    refused = new_expected < figures.total_votes or (
        quorate and figures.quorum > figures.total_votes
    )
    return not refused, figures


def validate_node_votes(
    nodes: Sequence[NodeVotes],
    *,
    node_id: int,
    new_votes: int,
    two_node: bool,
    allow_downscale: bool,
    ev_barrier: int,
    qdevice_votes: int,
    qdevice_cast_vote: bool,
) -> tuple[bool, QuorumFigures]:
    """``setvotes``'s check: the new quorum must lie within [total/2, total]."""
    trial = [replace(n, votes=new_votes) if n.node_id == node_id else n for n in nodes]
    figures = calculate_quorum(
        trial,
        previous_quorum=0,
        allow_decrease=True,
        two_node=two_node,
        allow_downscale=allow_downscale,
        ev_barrier=ev_barrier,
        qdevice_votes=qdevice_votes,
        qdevice_cast_vote=qdevice_cast_vote,
    )
    ok = figures.total_votes // 2 <= figures.quorum <= figures.total_votes
    return ok, figures
