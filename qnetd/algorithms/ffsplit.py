"""The ``ffsplit`` (fifty-fifty split) algorithm (1) of qnetd (ref qnetd-protocol.md section 7.2).

Each decision (:func:`_decide`, ``qnetd_algo_ffsplit_do``) runs with the triggering client's
*new* data substituted for what is stored:

1. Stability: all clients have the same configured node-id set, and every client that appears
   in a client's membership shares its ring id and contains that whole membership. Otherwise the
   answer is WAIT_FOR_REPLY and nothing is sent (a vanished node whose TCP connection is still
   open keeps the view unstable until DPD drops it, issue #21).
2. Partition selection over the clients in node-id order (:func:`_partition_cmp`): an odd
   config size wins on a strict majority only; an even one on > half, loses on < half, and
   on exactly half compares score (active clients + heuristics pass − fail), then active
   clients (an absent best counts as 0), then -- only if **every** client enabled it -- the
   keep-active-partition tie-breaker (whose *representative node* was in the last quorate
   partition), and finally the tie-breaker node (lowest/highest configured id, or a fixed id).
3. NACKs are pushed first as VOTE_INFO; ACKs only once every NACK was acknowledged with
   VOTE_INFO_REPLY, so two partitions never hold the vote at once. The triggering request's
   reply carries NO_CHANGE.

Quirks reproduced: a leaving client is still counted as *active* in partitions that list it
(it is still in the cluster during its disconnect hook); members other than the candidate are
counted with their *stored* heuristics. Deliberate deviation: with an empty config list the C
code dereferences NULL in the lowest/highest tie-breaker; here such a partition simply is not
preferred.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import IntEnum

from qnetd.algorithms.base import (
    NO_ERROR,
    Algorithm,
    AlgorithmContext,
    AlgorithmResult,
    TimerResult,
)
from qnetd.model import EMPTY_NODE_LIST, Cluster, NodeList, QnetdClient
from qnetd.protocol.constants import (
    Heuristics,
    Quorate,
    ReplyErrorCode,
    TieBreakerMode,
    Vote,
    node_state_str,
)
from qnetd.protocol.tlv import RingId

__all__ = [
    "FfsplitAlgorithm",
    "FfsplitClientData",
    "FfsplitClientState",
    "FfsplitClusterData",
    "FfsplitClusterState",
]

log = logging.getLogger("qnetd")


class FfsplitClusterState(IntEnum):
    WAITING_FOR_CHANGE = 0
    WAITING_FOR_STABLE_MEMBERSHIP = 1
    SENDING_NACKS = 2
    SENDING_ACKS = 3


class FfsplitClientState(IntEnum):
    WAITING_FOR_CHANGE = 0
    SENDING_NACK = 1
    SENDING_ACK = 2


@dataclass(slots=True)
class FfsplitClusterData:
    state: FfsplitClusterState = FfsplitClusterState.WAITING_FOR_CHANGE
    quorate_partition: NodeList = field(default=EMPTY_NODE_LIST)
    """Membership list of the partition that got the vote last time (KAP tie-breaker)."""


@dataclass(slots=True)
class FfsplitClientData:
    state: FfsplitClientState = FfsplitClientState.WAITING_FOR_CHANGE
    vote_info_expected_seq_num: int = 0
    """Sequence of the last VOTE_INFO sent; the first one carries 1."""


def _cluster_data(cluster: Cluster) -> FfsplitClusterData:
    data = cluster.algorithm_data
    assert isinstance(data, FfsplitClusterData)
    return data


def _client_data(client: QnetdClient) -> FfsplitClientData:
    data = client.algorithm_data
    assert isinstance(data, FfsplitClientData)
    return data


_ASK_LATER = AlgorithmResult.ok(Vote.ASK_LATER)
_WAIT_FOR_REPLY = AlgorithmResult.ok(Vote.WAIT_FOR_REPLY)
_NO_CHANGE = AlgorithmResult.ok(Vote.NO_CHANGE)


def _cluster(client: QnetdClient) -> Cluster:
    assert client.cluster is not None
    return client.cluster


class _Change:
    """The triggering client and the data it brings (``client_leaving``, ring id, lists).

    A plain slotted record (built once per decision, read many times in its loops).
    """

    __slots__ = ("client", "config", "heuristics", "leaving", "membership", "ring_id")

    def __init__(
        self,
        client: QnetdClient,
        leaving: bool,
        ring_id: RingId,
        config: NodeList,
        membership: NodeList,
        heuristics: Heuristics,
    ) -> None:
        self.client = client
        self.leaving = leaving
        self.ring_id = ring_id
        self.config = config
        self.membership = membership
        self.heuristics = heuristics


def _is_membership_stable(change: _Change) -> bool:
    cluster = _cluster(change.client)
    clients = cluster.clients
    trigger_id = change.client.node_id
    leaving = change.leaving
    # Every pair of config lists must contain each other's node ids.
    first: frozenset[int] | None = None
    for c in clients:
        if c.node_id == trigger_id:
            if leaving:
                continue
            ids = change.config.ids
        else:
            ids = c.configuration_node_list.ids
        if first is None:
            first = ids
        elif ids != first:
            return False

    find = cluster.find_client_by_node_id
    for c1 in clients:
        if c1.node_id == trigger_id:
            if leaving:
                continue
            membership1, ring1 = change.membership, change.ring_id
        else:
            membership1, ring1 = c1.last_membership_node_list, c1.last_ring_id
        ids1 = membership1.ids
        for node in membership1.nodes:
            c2 = find(node.node_id)
            if c2 is None:
                continue
            if c2.node_id == trigger_id:
                if leaving:
                    continue
                membership2, ring2 = change.membership, change.ring_id
            else:
                membership2, ring2 = c2.last_membership_node_list, c2.last_ring_id
            if ring1 is not ring2 and ring1 != ring2:
                return False
            if not ids1 <= membership2.ids:
                return False
    return True


def _active_clients_stats(
    candidate: QnetdClient | None, membership: NodeList | None, heuristics: Heuristics
) -> tuple[int, int, int]:
    """(active clients, heuristics pass, heuristics fail) of a candidate partition."""
    if candidate is None or membership is None:
        return 0, 0, 0
    cluster = _cluster(candidate)
    active = passed = failed = 0
    for node in membership.nodes:
        member = cluster.find_client_by_node_id(node.node_id)
        if member is None:
            continue
        active += 1
        h = heuristics if member is candidate else member.last_heuristics
        if h == Heuristics.PASS:
            passed += 1
        elif h == Heuristics.FAIL:
            failed += 1
    return active, passed, failed


def _is_preferred_partition(client: QnetdClient, config: NodeList, membership: NodeList) -> bool:
    mode = client.tie_breaker.mode
    if mode == TieBreakerMode.NODE_ID:
        preferred = client.tie_breaker.node_id
    elif not config.nodes:
        return False  # the C code dereferences NULL here
    elif mode == TieBreakerMode.LOWEST:
        preferred = min(config.ids)
    else:
        preferred = max(config.ids)
    return preferred in membership.ids


class _Candidate:
    """One client's partition as the selection sees it (a plain slotted record)."""

    __slots__ = ("client", "config", "heuristics", "membership")

    def __init__(
        self, client: QnetdClient, config: NodeList, membership: NodeList, heuristics: Heuristics
    ) -> None:
        self.client = client
        self.config = config
        self.membership = membership
        self.heuristics = heuristics


def _partition_cmp(
    cand: _Candidate, best: _Candidate | None, quorate_partition: NodeList, kap: bool
) -> bool:
    """True when ``cand`` is better than ``best`` (``qnetd_algo_ffsplit_partition_cmp`` > 0)."""
    n_config = len(cand.config.nodes)
    n_membership = len(cand.membership.nodes)
    half = n_config // 2
    if n_config % 2 != 0:
        # Odd clusters never split 50:50.
        return n_membership > half
    if n_membership > half:
        return True
    if n_membership < half:
        return False
    # 50:50 split
    a1, p1, f1 = _active_clients_stats(cand.client, cand.membership, cand.heuristics)
    if best is None:
        a2 = p2 = f2 = 0
    else:
        a2, p2, f2 = _active_clients_stats(best.client, best.membership, best.heuristics)
    score1 = a1 + p1 - f1
    score2 = a2 + p2 - f2
    if score1 != score2:
        return score1 > score2
    if a1 != a2:
        return a1 > a2
    if kap and best is not None:
        in1 = cand.client.node_id in quorate_partition.ids
        in2 = best.client.node_id in quorate_partition.ids
        if in1 != in2:
            return in1
    return _is_preferred_partition(cand.client, cand.config, cand.membership)


def _select_partition(change: _Change, quorate_partition: NodeList) -> NodeList | None:
    cluster = _cluster(change.client)
    kap = all(c.keep_active_partition_tie_breaker for c in cluster.clients)
    best: _Candidate | None = None
    trigger_id = change.client.node_id
    for c in cluster.clients:
        if c.node_id == trigger_id:
            if change.leaving:
                continue
            cand = _Candidate(c, change.config, change.membership, change.heuristics)
        else:
            cand = _Candidate(
                c, c.configuration_node_list, c.last_membership_node_list, c.last_heuristics
            )
        if _partition_cmp(cand, best, quorate_partition, kap):
            best = cand
    return None if best is None else best.membership


def _update_nodes_state(change: _Change, quorate_partition: NodeList | None) -> None:
    trigger_id = change.client.node_id
    leaving = change.leaving
    for c in _cluster(change.client).clients:
        data = c.algorithm_data
        assert isinstance(data, FfsplitClientData)
        if leaving and c.node_id == trigger_id:
            data.state = FfsplitClientState.WAITING_FOR_CHANGE
        elif quorate_partition is None or c.node_id not in quorate_partition.ids:
            data.state = FfsplitClientState.SENDING_NACK
        else:
            data.state = FfsplitClientState.SENDING_ACK


def _send_votes(
    ctx: AlgorithmContext, client: QnetdClient, leaving: bool, ring_id: RingId, acks: bool
) -> int:
    """Push ACK (``acks``) or NACK VOTE_INFO to every client in the matching state."""
    wanted = FfsplitClientState.SENDING_ACK if acks else FfsplitClientState.SENDING_NACK
    vote = Vote.ACK if acks else Vote.NACK
    sent = 0
    for c in list(_cluster(client).clients):
        if c.node_id == client.node_id:
            if leaving:
                continue
            ring = ring_id
        else:
            ring = c.last_ring_id
        data = c.algorithm_data
        assert isinstance(data, FfsplitClientData)
        if data.state == wanted:
            data.vote_info_expected_seq_num = (data.vote_info_expected_seq_num + 1) & 0xFFFFFFFF
            sent += 1
            ctx.send_vote_info(c, data.vote_info_expected_seq_num, ring, vote)
    return sent


def _clients_in_state(cluster: Cluster, state: FfsplitClientState) -> int:
    count = 0
    for c in cluster.clients:
        data = c.algorithm_data
        assert isinstance(data, FfsplitClientData)
        if data.state == state:
            count += 1
    return count


def _decide(ctx: AlgorithmContext, change: _Change) -> AlgorithmResult:
    client = change.client
    cluster = _cluster(client)
    cdata = _cluster_data(cluster)
    cdata.state = FfsplitClusterState.WAITING_FOR_STABLE_MEMBERSHIP
    debug = log.isEnabledFor(logging.DEBUG)
    if not _is_membership_stable(change):
        if debug:
            log.debug(
                "ffsplit: Membership for cluster %s is not yet stable", client.cluster_name_text
            )
        return _WAIT_FOR_REPLY
    if debug:
        log.debug("ffsplit: Membership for cluster %s is now stable", client.cluster_name_text)

    quorate = _select_partition(change, cdata.quorate_partition)
    if quorate is None:
        if debug:
            log.debug("ffsplit: No quorate partition was selected")
        cdata.quorate_partition = EMPTY_NODE_LIST
    else:
        if debug:
            log.debug("ffsplit: Quorate partition selected")
            _debug_dump_node_list(quorate)
        cdata.quorate_partition = quorate

    _update_nodes_state(change, quorate)

    cdata.state = FfsplitClusterState.SENDING_NACKS
    if _send_votes(ctx, client, change.leaving, change.ring_id, acks=False) == 0:
        if debug:
            log.debug("ffsplit: No client gets NACK")
        cdata.state = FfsplitClusterState.SENDING_ACKS
        if _send_votes(ctx, client, change.leaving, change.ring_id, acks=True) == 0:
            if debug:
                log.debug("ffsplit: No client gets ACK")
            cdata.state = FfsplitClusterState.WAITING_FOR_CHANGE
    return _NO_CHANGE


def _debug_dump_node_list(nodes: NodeList) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    log.debug("  Node list:")
    for i, n in enumerate(nodes.nodes):
        log.debug(
            "    %d node_id = %d, data_center_id = %d, node_state = %s",
            i,
            n.node_id,
            n.data_center_id,
            node_state_str(n.node_state),
        )


class FfsplitAlgorithm(Algorithm):
    """``qnetd-algo-ffsplit.c``."""

    name = "ffsplit"

    def client_init(self, ctx: AlgorithmContext, client: QnetdClient) -> ReplyErrorCode:
        cluster = _cluster(client)
        if len(cluster) == 1:
            cluster.algorithm_data = FfsplitClusterData()
        client.algorithm_data = FfsplitClientData()
        return NO_ERROR

    def config_node_list_received(
        self,
        ctx: AlgorithmContext,
        client: QnetdClient,
        seq: int,
        config_version: int | None,
        nodes: NodeList,
        initial: bool,
    ) -> AlgorithmResult:
        if not nodes:
            log.error("ffsplit: Received empty config node list for client %s", client.addr_str)
            return AlgorithmResult.fail(ReplyErrorCode.INVALID_CONFIG_NODE_LIST)
        if client.node_id not in nodes:
            log.error("ffsplit: Received config node list without client %s", client.addr_str)
            return AlgorithmResult.fail(ReplyErrorCode.INVALID_CONFIG_NODE_LIST)
        if initial or not client.last_membership_node_list:
            return AlgorithmResult.ok(Vote.ASK_LATER)
        return _decide(
            ctx,
            _Change(
                client,
                False,
                client.last_ring_id,
                nodes,
                client.last_membership_node_list,
                client.last_heuristics,
            ),
        )

    def membership_node_list_received(
        self,
        ctx: AlgorithmContext,
        client: QnetdClient,
        seq: int,
        ring_id: RingId,
        nodes: NodeList,
        heuristics: Heuristics,
    ) -> AlgorithmResult:
        if not nodes.nodes:
            log.error("ffsplit: Received empty membership node list for client %s", client.addr_str)
            return AlgorithmResult.fail(ReplyErrorCode.INVALID_MEMBERSHIP_NODE_LIST)
        if client.node_id not in nodes.ids:
            log.error("ffsplit: Received membership node list without client %s", client.addr_str)
            return AlgorithmResult.fail(ReplyErrorCode.INVALID_MEMBERSHIP_NODE_LIST)
        if not client.configuration_node_list.nodes:
            return _ASK_LATER
        return _decide(
            ctx,
            _Change(client, False, ring_id, client.configuration_node_list, nodes, heuristics),
        )

    def quorum_node_list_received(
        self,
        ctx: AlgorithmContext,
        client: QnetdClient,
        seq: int,
        quorate: Quorate,
        nodes: NodeList,
    ) -> AlgorithmResult:
        return AlgorithmResult.ok(Vote.NO_CHANGE)

    def client_disconnect(
        self, ctx: AlgorithmContext, client: QnetdClient, server_going_down: bool
    ) -> None:
        if not server_going_down:
            _decide(
                ctx,
                _Change(
                    client,
                    True,
                    client.last_ring_id,
                    client.configuration_node_list,
                    client.last_membership_node_list,
                    client.last_heuristics,
                ),
            )
        client.algorithm_data = None
        cluster = _cluster(client)
        if len(cluster) == 1:
            cluster.algorithm_data = None

    def ask_for_vote_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> AlgorithmResult:
        return AlgorithmResult.fail(ReplyErrorCode.UNSUPPORTED_DECISION_ALGORITHM_MESSAGE)

    def vote_info_reply_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> ReplyErrorCode:
        cluster = _cluster(client)
        cdata = _cluster_data(cluster)
        data = _client_data(client)
        if data.vote_info_expected_seq_num != seq:
            log.debug("ffsplit: Received old vote info reply from client %s", client.addr_str)
            return NO_ERROR
        data.state = FfsplitClientState.WAITING_FOR_CHANGE
        if cdata.state == FfsplitClusterState.SENDING_NACKS:
            if _clients_in_state(cluster, FfsplitClientState.SENDING_NACK) == 0:
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "ffsplit: All NACK votes sent for cluster %s", client.cluster_name_text
                    )
                cdata.state = FfsplitClusterState.SENDING_ACKS
                if _send_votes(ctx, client, False, client.last_ring_id, acks=True) == 0:
                    log.debug("ffsplit: No client gets ACK")
                    cdata.state = FfsplitClusterState.WAITING_FOR_CHANGE
        elif (
            cdata.state == FfsplitClusterState.SENDING_ACKS
            and _clients_in_state(cluster, FfsplitClientState.SENDING_ACK) == 0
        ):
            if log.isEnabledFor(logging.DEBUG):
                log.debug("ffsplit: All ACK votes sent for cluster %s", client.cluster_name_text)
            cdata.state = FfsplitClusterState.WAITING_FOR_CHANGE
        return NO_ERROR

    def heuristics_change_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int, heuristics: Heuristics
    ) -> AlgorithmResult:
        if not client.configuration_node_list or not client.last_membership_node_list:
            return AlgorithmResult.ok(Vote.ASK_LATER)
        return _decide(
            ctx,
            _Change(
                client,
                False,
                client.last_ring_id,
                client.configuration_node_list,
                client.last_membership_node_list,
                heuristics,
            ),
        )

    def timer_callback(self, ctx: AlgorithmContext, client: QnetdClient) -> TimerResult:
        return TimerResult()
