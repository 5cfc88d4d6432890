"""ffsplit decisions: partition tables, tie-breakers, KAP, heuristics, stability, NACK-then-ACK."""

from __future__ import annotations

import pytest

from qnetd.algorithms.ffsplit import FfsplitClusterData, FfsplitClusterState
from qnetd.model import NodeList
from qnetd.protocol.constants import (
    DecisionAlgorithm,
    Heuristics,
    ReplyErrorCode,
    TieBreakerMode,
    Vote,
)
from qnetd.protocol.tlv import RingId, TieBreaker

from .algo_helpers import ClusterBuilder

ACK, NACK = Vote.ACK, Vote.NACK
P, F, U = Heuristics.PASS, Heuristics.FAIL, Heuristics.UNDEFINED
OLD = RingId(1, 4)


def tb(mode: str, node_id: int = 0) -> TieBreaker:
    return TieBreaker(TieBreakerMode[mode], node_id)


def cluster(
    config: tuple[int, ...],
    partitions: list[tuple[int, ...]],
    connected: tuple[int, ...],
    tie_breaker: TieBreaker | None = None,
    heuristics: dict[int, Heuristics] | None = None,
    kap: tuple[int, ...] = (),
    quorate: tuple[int, ...] = (),
) -> ClusterBuilder:
    """Connected clients already hold their partition's membership (ring = lowest member)."""
    b = ClusterBuilder(DecisionAlgorithm.FFSPLIT, tie_breaker or tb("LOWEST"))
    for node in connected:
        part = next(p for p in partitions if node in p)
        ring = RingId(min(part), 10)
        b.add(node, config, ring, part, (heuristics or {}).get(node, U), node in kap)
    data = next(iter(b.clients.values())).cluster.algorithm_data  # type: ignore[union-attr]
    assert isinstance(data, FfsplitClusterData)
    data.quorate_partition = NodeList.of(*quorate)
    return b


def cluster_data(b: ClusterBuilder) -> FfsplitClusterData:
    cl = next(iter(b.clients.values())).cluster
    assert cl is not None and isinstance(cl.algorithm_data, FfsplitClusterData)
    return cl.algorithm_data


def state(b: ClusterBuilder) -> FfsplitClusterState:
    return cluster_data(b).state


def decide(b: ClusterBuilder, trigger: int) -> tuple[Vote, list[tuple[int, Vote]]]:
    """Re-send ``trigger``'s stored membership and return (reply vote, VOTE_INFO pushed)."""
    c = b.clients[trigger]
    vote = b.membership(
        trigger, c.last_ring_id, tuple(c.last_membership_node_list.node_ids()), c.last_heuristics
    )
    return vote, b.ctx.take_votes()


def ack_all_nacks(b: ClusterBuilder) -> list[tuple[int, Vote]]:
    """Answer every outstanding VOTE_INFO NACK; return the ACKs that follow."""
    for node, seq, _ring, vote in b.ctx.last:
        if vote == NACK:
            b.alg.vote_info_reply_received(b.ctx, b.clients[node], seq)
    return b.ctx.take_votes()


# (config, partitions, connected, tie-breaker, heuristics, kap, previous quorate) -> winners
TABLE = [
    pytest.param((1, 2), [(1,), (2,)], (1, 2), tb("LOWEST"), {}, (), (), {1}, id="50:50 lowest"),
    pytest.param((1, 2), [(1,), (2,)], (1, 2), tb("HIGHEST"), {}, (), (), {2}, id="50:50 highest"),
    pytest.param(
        (1, 2), [(1,), (2,)], (1, 2), tb("NODE_ID", 2), {}, (), (), {2}, id="50:50 node id"
    ),
    pytest.param(
        (1, 2, 3, 4),
        [(1, 2), (3, 4)],
        (1, 2, 3, 4),
        tb("NODE_ID", 9),
        {},
        (),
        (),
        {1, 2},
        id="quirk: the first 50:50 candidate beats an empty best, so with a tie-breaker node "
        "in no partition the lowest client's side wins",
    ),
    pytest.param(
        (1, 2),
        [(1,), (2,)],
        (1, 2),
        tb("LOWEST"),
        {},
        (1, 2),
        (2,),
        {2},
        id="KAP keeps the previously quorate side",
    ),
    pytest.param(
        (1, 2),
        [(1,), (2,)],
        (1, 2),
        tb("LOWEST"),
        {},
        (2,),
        (2,),
        {1},
        id="KAP ignored unless every client enabled it",
    ),
    pytest.param(
        (1, 2),
        [(1,), (2,)],
        (1, 2),
        tb("LOWEST"),
        {},
        (1, 2),
        (1, 2),
        {1},
        id="KAP: both sides were quorate, tie-breaker decides",
    ),
    pytest.param(
        (1, 2),
        [(1,), (2,)],
        (1, 2),
        tb("LOWEST"),
        {2: P},
        (1, 2),
        (1,),
        {2},
        id="heuristics pass beats KAP and tie-breaker",
    ),
    pytest.param(
        (1, 2),
        [(1,), (2,)],
        (1, 2),
        tb("LOWEST"),
        {1: F},
        (),
        (),
        {2},
        id="heuristics fail loses",
    ),
    pytest.param(
        (1, 2),
        [(1,), (2,)],
        (1, 2),
        tb("HIGHEST"),
        {1: P, 2: P},
        (),
        (),
        {2},
        id="equal heuristics fall through to the tie-breaker",
    ),
    pytest.param(
        (1, 2, 3, 4),
        [(1, 2), (3, 4)],
        (1, 3, 4),
        tb("LOWEST"),
        {},
        (),
        (),
        {3, 4},
        id="more active clients win a 2:2 split",
    ),
    pytest.param(
        (1, 2, 3, 4),
        [(1, 2), (3, 4)],
        (1, 2, 3),
        tb("LOWEST"),
        {1: P},
        (),
        (),
        {1, 2},
        id="score = active + pass - fail",
    ),
    pytest.param(
        (1, 2, 3, 4),
        [(1, 2), (3, 4)],
        (1, 2, 3, 4),
        tb("LOWEST"),
        {1: F, 2: F, 3: F},
        (),
        (),
        {3, 4},
        id="PPDD-style scores: 2-2=0 vs 2-1=1",
    ),
    pytest.param(
        (1, 2, 3),
        [(1, 2), (3,)],
        (1, 2, 3),
        tb("LOWEST"),
        {3: P},
        (),
        (),
        {1, 2},
        id="odd cluster: majority wins whatever the heuristics",
    ),
    pytest.param(
        (1, 2, 3),
        [(1,), (2,), (3,)],
        (1, 2, 3),
        tb("LOWEST"),
        {},
        (),
        (),
        set(),
        id="odd cluster without majority: everybody NACK",
    ),
    pytest.param(
        (1, 2, 3, 4),
        [(1,), (2, 3, 4)],
        (1, 2, 3, 4),
        tb("LOWEST"),
        {},
        (),
        (),
        {2, 3, 4},
        id="even cluster: more than half wins outright",
    ),
]


@pytest.mark.parametrize(
    ("config", "partitions", "connected", "tie", "heur", "kap", "quorate", "winners"), TABLE
)
def test_partition_selection(
    config: tuple[int, ...],
    partitions: list[tuple[int, ...]],
    connected: tuple[int, ...],
    tie: TieBreaker,
    heur: dict[int, Heuristics],
    kap: tuple[int, ...],
    quorate: tuple[int, ...],
    winners: set[int],
) -> None:
    b = cluster(config, partitions, connected, tie, heur, kap, quorate)
    trigger = connected[-1]
    vote, pushed = decide(b, trigger)
    assert vote == Vote.NO_CHANGE
    losers = [n for n in connected if n not in winners]
    # NACKs go out first, in node-id order; ACKs only once every NACK is acknowledged
    if losers:
        assert pushed == [(n, NACK) for n in losers]
        assert ack_all_nacks(b) == [(n, ACK) for n in connected if n in winners]
    else:
        assert pushed == [(n, ACK) for n in connected if n in winners]
    data = cluster_data(b)
    expected_partition = next((p for p in partitions if winners and set(p) >= winners), ())
    assert data.quorate_partition.ids == frozenset(expected_partition)


def test_acks_wait_for_every_nack_reply() -> None:
    b = cluster((1, 2, 3, 4), [(1, 2), (3, 4)], (1, 2, 3, 4))
    _, pushed = decide(b, 4)
    assert pushed == [(3, NACK), (4, NACK)]
    seqs = {node: seq for node, seq, _, _ in b.ctx.last}
    # a stale reply is ignored
    b.alg.vote_info_reply_received(b.ctx, b.clients[3], seqs[3] - 1)
    assert b.ctx.votes == [] and state(b) == FfsplitClusterState.SENDING_NACKS
    b.alg.vote_info_reply_received(b.ctx, b.clients[3], seqs[3])
    assert b.ctx.votes == []
    b.alg.vote_info_reply_received(b.ctx, b.clients[4], seqs[4])
    assert b.ctx.take_votes() == [(1, ACK), (2, ACK)]
    assert state(b) == FfsplitClusterState.SENDING_ACKS
    for node, seq, _, _ in b.ctx.last:
        b.alg.vote_info_reply_received(b.ctx, b.clients[node], seq)
    assert state(b) == FfsplitClusterState.WAITING_FOR_CHANGE


def test_vote_info_carries_each_clients_ring_and_the_triggers_new_ring() -> None:
    b = cluster((1, 2), [(1,), (2,)], (1, 2))
    b.membership(2, RingId(2, 11), (2,), store=False)
    b.ctx.take_votes()
    ring_of = {node: ring for node, _, ring, _ in b.ctx.last}
    assert ring_of == {2: RingId(2, 11)}  # trigger: new ring id, before it is stored


def test_unstable_membership_waits() -> None:
    b = ClusterBuilder(DecisionAlgorithm.FFSPLIT)
    b.add(1, (1, 2), OLD, (1, 2))
    b.add(2, (1, 2), OLD, (1, 2))
    # node 1 sees a new ring without node 2; node 2 still lists node 1 in the old ring
    assert b.membership(1, RingId(1, 5), (1,)) == Vote.WAIT_FOR_REPLY
    assert b.ctx.votes == []
    assert state(b) == FfsplitClusterState.WAITING_FOR_STABLE_MEMBERSHIP
    assert b.membership(2, RingId(2, 5), (2,)) == Vote.NO_CHANGE
    assert b.ctx.take_votes() == [(2, NACK)]


def test_different_config_lists_are_unstable() -> None:
    b = ClusterBuilder(DecisionAlgorithm.FFSPLIT)
    b.add(1, (1, 2), OLD, (1, 2))
    b.add(2, (1, 2, 3), OLD, (1, 2))
    assert b.membership(1, OLD, (1, 2)) == Vote.WAIT_FOR_REPLY
    # the config change of node 2 makes it stable again (the CHANGED_CONFIG path decides)
    result = b.alg.config_node_list_received(b.ctx, b.clients[2], 1, None, NodeList.of(1, 2), False)
    assert result.vote == Vote.NO_CHANGE
    assert b.ctx.take_votes() == [(1, ACK), (2, ACK)]


def test_first_lists_ask_later() -> None:
    b = ClusterBuilder(DecisionAlgorithm.FFSPLIT)
    c = b.add(1)
    r = b.alg.config_node_list_received(b.ctx, c, 1, None, NodeList.of(1, 2), True)
    assert r.vote == Vote.ASK_LATER
    c2 = b.add(2)
    r = b.alg.membership_node_list_received(b.ctx, c2, 1, OLD, NodeList.of(1, 2), U)
    assert r.vote == Vote.ASK_LATER
    assert b.alg.heuristics_change_received(b.ctx, c2, 1, P).vote == Vote.ASK_LATER


@pytest.mark.parametrize(
    ("config", "membership", "error"),
    [
        ((), None, ReplyErrorCode.INVALID_CONFIG_NODE_LIST),
        ((2, 3), None, ReplyErrorCode.INVALID_CONFIG_NODE_LIST),
        (None, (), ReplyErrorCode.INVALID_MEMBERSHIP_NODE_LIST),
        (None, (2,), ReplyErrorCode.INVALID_MEMBERSHIP_NODE_LIST),
    ],
)
def test_list_validation(
    config: tuple[int, ...] | None, membership: tuple[int, ...] | None, error: ReplyErrorCode
) -> None:
    b = ClusterBuilder(DecisionAlgorithm.FFSPLIT)
    c = b.add(1, (1, 2))
    if config is not None:
        r = b.alg.config_node_list_received(b.ctx, c, 1, None, NodeList.of(*config), True)
    else:
        assert membership is not None
        r = b.alg.membership_node_list_received(b.ctx, c, 1, OLD, NodeList.of(*membership), U)
    assert r.error == error


def test_heuristics_change_redecides() -> None:
    b = cluster((1, 2), [(1,), (2,)], (1, 2))
    decide(b, 2)
    ack_all_nacks(b)
    r = b.alg.heuristics_change_received(b.ctx, b.clients[2], 1, P)
    assert r.vote == Vote.NO_CHANGE
    assert b.ctx.take_votes() == [(1, NACK)]


def test_disconnect_redecides_and_going_down_does_not() -> None:
    b = cluster((1, 2), [(1,), (2,)], (1, 2))
    decide(b, 2)
    ack_all_nacks(b)
    b.disconnect(1)
    assert b.ctx.take_votes() == [(2, ACK)]
    b2 = cluster((1, 2), [(1,), (2,)], (1, 2))
    b2.disconnect(1, going_down=True)
    assert b2.ctx.votes == []


def test_quirk_leaving_client_still_counts_as_active() -> None:
    # 2:2 split, highest tie-breaker; node 4 is not connected. When node 2 leaves, partition
    # {1,2} still counts 2 active clients (node 2 is in the cluster during its disconnect hook)
    # against 1 for {3,4}, so node 1 gets the vote instead of node 3 (which the highest
    # tie-breaker would pick on an equal count).
    b = cluster((1, 2, 3, 4), [(1, 2), (3, 4)], (1, 2, 3), tb("HIGHEST"))
    b.disconnect(2)
    assert b.ctx.take_votes() == [(3, NACK)]
    assert ack_all_nacks(b) == [(1, ACK)]


def test_quorum_list_and_ask_for_vote() -> None:
    b = cluster((1, 2), [(1, 2)], (1,))
    c = b.clients[1]
    r = b.alg.quorum_node_list_received(b.ctx, c, 1, 1, NodeList.of(1))  # type: ignore[arg-type]
    assert r.vote == Vote.NO_CHANGE and b.ctx.votes == []
    assert b.alg.ask_for_vote_received(b.ctx, c, 1).error == (
        ReplyErrorCode.UNSUPPORTED_DECISION_ALGORITHM_MESSAGE
    )


def test_deviation_empty_config_is_not_preferred() -> None:
    # A fully set-up client leaves while another has only sent INIT: the C code would
    # dereference an empty config list in the tie-breaker; here the newcomer just gets NACK.
    b = ClusterBuilder(DecisionAlgorithm.FFSPLIT)
    b.add(1, (1, 2), OLD, (1, 2))
    b.add(2)
    b.disconnect(1)
    assert b.ctx.take_votes() == [(2, NACK)]
