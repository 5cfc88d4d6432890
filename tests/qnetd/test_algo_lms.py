"""lms and 2nodelms decisions, and the test algorithm."""

from __future__ import annotations

import pytest

from qnetd.algorithms.lms import LmsClientData, create_partitions
from qnetd.algorithms.twonodelms import TwoNodeLmsClientData
from qnetd.model import NodeList
from qnetd.protocol.constants import (
    DecisionAlgorithm,
    Heuristics,
    Quorate,
    ReplyErrorCode,
    TieBreakerMode,
    Vote,
)
from qnetd.protocol.tlv import RingId, TieBreaker

from .algo_helpers import ClusterBuilder

ACK, NACK, WAIT = Vote.ACK, Vote.NACK, Vote.WAIT_FOR_REPLY
P, F, U = Heuristics.PASS, Heuristics.FAIL, Heuristics.UNDEFINED
LMS = DecisionAlgorithm.LMS


def tb(mode: str, node_id: int = 0) -> TieBreaker:
    return TieBreaker(TieBreakerMode[mode], node_id)


def lms_cluster(
    partitions: list[tuple[int, ...]],
    tie_breaker: TieBreaker | None = None,
    heuristics: dict[int, Heuristics] | None = None,
    voted: bool = True,
) -> ClusterBuilder:
    """Every client connected, stored ring id = (lowest member, 10) of its partition."""
    b = ClusterBuilder(LMS, tie_breaker or tb("LOWEST"))
    nodes = sorted(n for p in partitions for n in p)
    for node in nodes:
        part = next(p for p in partitions if node in p)
        c = b.add(node, tuple(nodes), RingId(min(part), 10), part, (heuristics or {}).get(node, U))
        if voted:
            assert isinstance(c.algorithm_data, LmsClientData)
            c.algorithm_data.last_result = ACK
    return b


def quorum_votes(b: ClusterBuilder) -> dict[int, Vote]:
    """Run the quorum-list hook (stored ring id) for every client."""
    return {
        node: b.alg.quorum_node_list_received(b.ctx, c, 1, Quorate.QUORATE, NodeList.of(node)).vote
        for node, c in b.clients.items()
    }


LMS_TABLE = [
    pytest.param([(1, 2, 3)], tb("LOWEST"), {}, {1: ACK, 2: ACK, 3: ACK}, id="one partition"),
    pytest.param(
        [(1, 2), (3,)], tb("LOWEST"), {}, {1: ACK, 2: ACK, 3: NACK}, id="higher score (size)"
    ),
    pytest.param(
        [(1,), (2, 3)],
        tb("LOWEST"),
        {1: P},
        {1: NACK, 2: ACK, 3: ACK},
        id="equal score 2:2, larger partition wins",
    ),
    pytest.param(
        [(1,), (2,)], tb("LOWEST"), {2: P}, {1: NACK, 2: ACK}, id="heuristics pass raises score"
    ),
    pytest.param(
        [(1, 2), (3, 4)],
        tb("LOWEST"),
        {},
        {1: ACK, 2: ACK, 3: NACK, 4: NACK},
        id="full tie, lowest",
    ),
    pytest.param(
        [(1, 2), (3, 4)],
        tb("HIGHEST"),
        {},
        {1: NACK, 2: NACK, 3: ACK, 4: ACK},
        id="full tie, highest",
    ),
    pytest.param(
        [(1, 2), (3, 4)],
        tb("NODE_ID", 2),
        {},
        {1: NACK, 2: ACK, 3: NACK, 4: NACK},
        id="quirk: node-id tie-breaker votes for the nominated node only",
    ),
    pytest.param(
        [(1, 2), (3, 4)],
        tb("NODE_ID", 9),
        {},
        {1: NACK, 2: NACK, 3: NACK, 4: NACK},
        id="node-id tie-breaker naming an absent node",
    ),
    pytest.param(
        [(0x80000001,), (0x80000002,)],
        tb("LOWEST"),
        {},
        {0x80000001: NACK, 0x80000002: NACK},
        id="quirk: lowest starts at INT_MAX, node ids >= 2^31 never chosen",
    ),
]


@pytest.mark.parametrize(("partitions", "tie", "heur", "expected"), LMS_TABLE)
def test_lms_partitions(
    partitions: list[tuple[int, ...]],
    tie: TieBreaker,
    heur: dict[int, Heuristics],
    expected: dict[int, Vote],
) -> None:
    b = lms_cluster(partitions, tie, heur)
    assert quorum_votes(b) == expected
    assert b.ctx.timers == {}


def test_lms_waits_for_ring_ids_of_its_partition() -> None:
    b = lms_cluster([(1, 2)])
    # node 1 reports a new ring; node 2 (in node 1's stored membership) still has the old one
    vote = b.membership(1, RingId(1, 11), (1, 2), store=False)
    assert vote == WAIT
    assert b.ctx.timers == {1: 2000}  # heartbeat 8000 / 4
    data = b.clients[1].algorithm_data
    assert isinstance(data, LmsClientData) and data.last_result == WAIT
    # timer: still waiting -> reschedule; once node 2 caught up -> ACK pushed
    b.store_membership(1, RingId(1, 11), (1, 2))
    r = b.alg.timer_callback(b.ctx, b.clients[1])
    assert (r.vote, r.send_vote, r.reschedule) == (WAIT, False, True)
    b.store_membership(2, RingId(1, 11), (1, 2))
    r = b.alg.timer_callback(b.ctx, b.clients[1])
    assert (r.vote, r.send_vote, r.reschedule) == (ACK, True, False)
    assert b.ctx.timers == {}


def test_lms_no_partition_yet() -> None:
    b = ClusterBuilder(LMS)
    c = b.add(1)
    r = b.alg.quorum_node_list_received(b.ctx, c, 1, Quorate.INQUORATE, NodeList.of(1))
    assert r.vote == WAIT and b.ctx.timers == {1: 2000}


def test_lms_newcomer_gets_nack_not_remembered() -> None:
    b = lms_cluster([(1,), (2,)], voted=False)
    d1 = b.clients[1].algorithm_data
    assert isinstance(d1, LmsClientData)
    d1.last_result = ACK
    # node 2 never voted and node 1 holds ACK on another ring: NACK, not stored
    assert quorum_votes(b)[2] == NACK
    d2 = b.clients[2].algorithm_data
    assert isinstance(d2, LmsClientData) and d2.last_result == Vote.UNDEFINED


def test_lms_partitions_use_stored_ring_ids() -> None:
    b = lms_cluster([(1, 2), (3,)], heuristics={3: P})
    parts = create_partitions(b.clients[1])
    assert [(p.ring_id, p.num_nodes, p.score) for p in parts] == [
        (RingId(1, 10), 2, 2),
        (RingId(3, 10), 1, 2),
    ]
    b.clients[3].last_ring_id = RingId(3, 0)
    assert len(create_partitions(b.clients[1])) == 1  # seq 0 = not known yet


def test_lms_other_hooks() -> None:
    b = lms_cluster([(1, 2)])
    c = b.clients[1]
    assert b.alg.ask_for_vote_received(b.ctx, c, 1).vote == ACK
    assert b.alg.heuristics_change_received(b.ctx, c, 1, P).vote == Vote.NO_CHANGE
    r = b.alg.config_node_list_received(b.ctx, c, 1, None, NodeList.of(1, 2, 3), False)
    assert r.vote == Vote.NO_CHANGE
    b.disconnect(2)
    assert b.ctx.votes == []


# --------------------------------------------------------------------------------- 2nodelms


def two_node(
    tie: TieBreaker | None = None, heur: dict[int, Heuristics] | None = None
) -> ClusterBuilder:
    b = ClusterBuilder(DecisionAlgorithm.TWO_NODE_LMS, tie or tb("LOWEST"))
    for node in (1, 2):
        c = b.add(node, (1, 2), RingId(1, 10), (1, 2), (heur or {}).get(node, U))
        assert isinstance(c.algorithm_data, TwoNodeLmsClientData)
        c.algorithm_data.last_result = ACK
    return b


@pytest.mark.parametrize(
    ("tie", "heur", "expected"),
    [
        (tb("LOWEST"), {}, {1: ACK, 2: NACK}),
        (tb("HIGHEST"), {}, {1: NACK, 2: ACK}),
        (tb("NODE_ID", 2), {}, {1: NACK, 2: ACK}),
        (tb("LOWEST"), {2: P}, {1: NACK, 2: ACK}),
        (tb("LOWEST"), {1: F}, {1: NACK, 2: ACK}),
        (tb("HIGHEST"), {1: P, 2: P}, {1: NACK, 2: ACK}),
    ],
    ids=["lowest", "highest", "node id", "pass wins", "fail loses", "equal heuristics"],
)
def test_two_node_lms_split(
    tie: TieBreaker, heur: dict[int, Heuristics], expected: dict[int, Vote]
) -> None:
    b = two_node(tie, heur)
    votes = {}
    for node in (1, 2):
        votes[node] = b.membership(node, RingId(node, 11), (node,), heur.get(node, U), store=False)
    assert votes == expected


def test_two_node_lms_rules() -> None:
    b = ClusterBuilder(DecisionAlgorithm.TWO_NODE_LMS)
    c1 = b.add(1)
    r = b.alg.config_node_list_received(b.ctx, c1, 1, None, NodeList.of(1, 2, 3), True)
    assert r.error == ReplyErrorCode.UNSUPPORTED_DECISION_ALGORITHM
    r = b.alg.config_node_list_received(b.ctx, c1, 1, None, NodeList.of(1, 2), True)
    assert (r.error, r.vote) == (0, Vote.NO_CHANGE)
    assert b.alg.ask_for_vote_received(b.ctx, c1, 1).vote == Vote.ASK_LATER
    # alone: last man standing
    assert b.membership(1, RingId(1, 10), (1,)) == ACK
    assert b.alg.ask_for_vote_received(b.ctx, c1, 1).vote == ACK
    # a newcomer on another ring while node 1 holds ACK: NACK, not remembered
    c2 = b.add(2)
    assert b.membership(2, RingId(2, 10), (2,), store=False) == NACK
    assert isinstance(c2.algorithm_data, TwoNodeLmsClientData)
    assert c2.algorithm_data.last_result == Vote.UNDEFINED
    # both in the membership, same ring as the voting peer: ACK
    assert b.membership(2, RingId(1, 10), (1, 2), store=False) == ACK
    assert b.alg.heuristics_change_received(b.ctx, c2, 1, P).vote == Vote.NO_CHANGE
    r = b.alg.quorum_node_list_received(b.ctx, c2, 1, Quorate.QUORATE, NodeList.of(1, 2))
    assert r.vote == Vote.NO_CHANGE
    b.disconnect(1)
    assert b.ctx.votes == []


# --------------------------------------------------------------------------------- test


def test_test_algorithm_acks_memberships() -> None:
    b = ClusterBuilder(DecisionAlgorithm.TEST)
    c = b.add(1)
    assert b.membership(1, RingId(1, 1), (1,)) == ACK
    assert b.alg.ask_for_vote_received(b.ctx, c, 1).vote == ACK
    r = b.alg.config_node_list_received(b.ctx, c, 1, None, NodeList.of(1), True)
    assert r.vote == Vote.NO_CHANGE
    r = b.alg.quorum_node_list_received(b.ctx, c, 1, Quorate.QUORATE, NodeList.of(1))
    assert r.vote == Vote.NO_CHANGE
    assert b.alg.heuristics_change_received(b.ctx, c, 1, P).vote == Vote.NO_CHANGE
    assert b.alg.vote_info_reply_received(b.ctx, c, 1) == 0
