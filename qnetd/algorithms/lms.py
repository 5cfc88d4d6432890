"""The ``lms`` algorithm (3) of qnetd: last man standing for 2+ nodes (ref section 7.4).

Membership lists (with their new ring id), quorum lists, ASK_FOR_VOTE and the algorithm timer
(with the client's stored ring id) all run :func:`_do_lms`:

1. Cancel the client's timer. If a client "in our partition" (it is in our *stored* membership
   or we are in its) has a stored ring id other than the one under test, wait: arm the timer
   (heartbeat / 4) and answer WAIT_FOR_REPLY (remembered).
2. Group connected clients by *stored* ring id (seq 0 = not yet known, skipped); each partition
   scores +1 per client, +1 for heuristics PASS, −1 for FAIL. The triggering client counts with
   its stored ring id: lists are stored only after the algorithm returns.
3. No partition → timer + WAIT_FOR_REPLY; one partition → ACK.
4. A newcomer (never voted) facing a peer with ACK on another ring id → NACK, not remembered.
5. A unique best score, else a unique largest partition, gets the vote; else the tie-breaker.
   LOWEST/HIGHEST pick the lowest (below 2^31, the C start value is INT_MAX) / highest node id
   among connected clients and its ring id. NODE_ID quirk: the ring id is only taken when *this*
   client is the nominated node, so every other node gets NACK.

When the timer produces ACK/NACK it is pushed as VOTE_INFO (the server numbers those with a
separate per-client counter); WAIT_FOR_REPLY re-arms the timer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from qnetd.algorithms.base import (
    NO_ERROR,
    Algorithm,
    AlgorithmContext,
    AlgorithmResult,
    TimerResult,
)
from qnetd.model import NodeList, QnetdClient
from qnetd.protocol.constants import Heuristics, Quorate, ReplyErrorCode, TieBreakerMode, Vote
from qnetd.protocol.tlv import RingId

__all__ = [
    "LmsAlgorithm",
    "LmsClientData",
    "Partition",
    "all_ring_ids_match",
    "create_partitions",
]

log = logging.getLogger("qnetd")

_INT_MAX = 0x7FFFFFFF
_NO_RING = RingId(0, 0)


@dataclass(slots=True)
class LmsClientData:
    num_config_nodes: int = 0
    last_result: Vote = Vote.UNDEFINED
    """UNDEFINED = new; WAIT_FOR_REPLY, ACK and NACK are remembered (newcomer NACK is not)."""


@dataclass(slots=True)
class Partition:
    """``struct qnetd_algo_partition``: connected clients sharing a stored ring id."""

    ring_id: RingId
    num_nodes: int = 0
    score: int = 0


def _data(client: QnetdClient) -> LmsClientData:
    data = client.algorithm_data
    assert isinstance(data, LmsClientData)
    return data


def _clients(client: QnetdClient) -> list[QnetdClient]:
    assert client.cluster is not None
    return client.cluster.clients


def all_ring_ids_match(client: QnetdClient, ring_id: RingId) -> bool:
    """``qnetd_algo_all_ring_ids_match``: False if a peer of our partition has another ring id."""
    for other in _clients(client):
        if other is client:
            continue
        in_our_partition = (
            other.node_id in client.last_membership_node_list
            or client.node_id in other.last_membership_node_list
        )
        if in_our_partition and ring_id != other.last_ring_id:
            log.debug(
                "algo-util: nodeid %d in our partition has different ring_id (%s) to us (%s)",
                other.node_id,
                other.last_ring_id,
                ring_id,
            )
            return False
    return True


def create_partitions(client: QnetdClient) -> list[Partition]:
    """``qnetd_algo_create_partitions``: partitions in order of first appearance."""
    partitions: dict[RingId, Partition] = {}
    for other in _clients(client):
        if other.last_ring_id.seq == 0:
            continue
        part = partitions.get(other.last_ring_id)
        if part is None:
            part = partitions[other.last_ring_id] = Partition(other.last_ring_id)
        part.num_nodes += 1
        part.score += 1
        if other.last_heuristics == Heuristics.PASS:
            part.score += 1
        elif other.last_heuristics == Heuristics.FAIL:
            part.score -= 1
    return list(partitions.values())


def _unique_best(partitions: list[Partition], key: str) -> tuple[Partition, bool]:
    """First partition with the highest ``key`` and whether another one ties with it."""
    best = partitions[0]
    for part in partitions[1:]:
        if getattr(part, key) > getattr(best, key):
            best = part
    joint = any(p is not best and getattr(p, key) == getattr(best, key) for p in partitions)
    return best, joint


def _do_lms(ctx: AlgorithmContext, client: QnetdClient, ring_id: RingId) -> AlgorithmResult:
    data = _data(client)
    ctx.abort_algo_timer(client)

    if not all_ring_ids_match(client, ring_id):
        log.debug(
            "algo-lms: nodeid %d: ring ID (%s) not unique in this membership, waiting",
            client.node_id,
            ring_id,
        )
        ctx.schedule_algo_timer(client, client.heartbeat_interval // 4)
        data.last_result = Vote.WAIT_FOR_REPLY
        return AlgorithmResult.ok(Vote.WAIT_FOR_REPLY)

    partitions = create_partitions(client)
    if not partitions:
        log.debug("algo-lms: No partitions found")
        ctx.schedule_algo_timer(client, client.heartbeat_interval // 4)
        data.last_result = Vote.WAIT_FOR_REPLY
        return AlgorithmResult.ok(Vote.WAIT_FOR_REPLY)
    if log.isEnabledFor(logging.DEBUG):
        for part in partitions:
            log.debug("algo-util: partition (%s) has %d nodes", part.ring_id, part.num_nodes)

    if len(partitions) == 1:
        log.debug("algo-lms: Only 1 partition. This is votequorum's problem, not ours")
        data.last_result = Vote.ACK
        return AlgorithmResult.ok(Vote.ACK)

    if data.last_result == Vote.UNDEFINED:
        for other in _clients(client):
            if ring_id != other.last_ring_id and _data(other).last_result == Vote.ACK:
                log.debug(
                    "algo-lms: we are a new partition and another active partition exists. NACK"
                )
                return AlgorithmResult.ok(Vote.NACK)

    best, joint = _unique_best(partitions, "score")
    log.debug("algo-lms: best score partition is (%s) with score %d", best.ring_id, best.score)
    if not joint:
        won = best.ring_id == ring_id
        log.debug(
            "algo-lms: We are %sin the best score partition. %s",
            "" if won else "NOT ",
            "ACK" if won else "NACK",
        )
    else:
        largest, joint = _unique_best(partitions, "num_nodes")
        log.debug(
            "algo-lms: largest partition is (%s) with %d nodes",
            largest.ring_id,
            largest.num_nodes,
        )
        if not joint:
            won = largest.ring_id == ring_id
            log.debug(
                "algo-lms: We are %sin the largest partition. %s",
                "" if won else "NOT ",
                "ACK" if won else "NACK",
            )
        else:
            tb_node_id, tb_ring_id = _tie_breaker_node(client)
            won = client.node_id == tb_node_id or tb_ring_id == ring_id
            log.debug(
                "algo-lms: We are %sin the same partition (%s) as tie-breaker node id %d. %s",
                "" if won else "NOT ",
                tb_ring_id,
                tb_node_id,
                "ACK" if won else "NACK",
            )
    data.last_result = Vote.ACK if won else Vote.NACK
    return AlgorithmResult.ok(data.last_result)


def _tie_breaker_node(client: QnetdClient) -> tuple[int, RingId]:
    mode = client.tie_breaker.mode
    tb_ring = _NO_RING
    if mode == TieBreakerMode.LOWEST:
        tb_node = _INT_MAX
        for other in _clients(client):
            if other.node_id < tb_node:
                tb_node, tb_ring = other.node_id, other.last_ring_id
    elif mode == TieBreakerMode.HIGHEST:
        tb_node = 0
        for other in _clients(client):
            if other.node_id > tb_node:
                tb_node, tb_ring = other.node_id, other.last_ring_id
    else:
        tb_node = client.tie_breaker.node_id
        if tb_node == client.node_id:
            # The C loop copies every client's ring id in turn: the last (highest) one stays.
            tb_ring = _clients(client)[-1].last_ring_id
    return tb_node, tb_ring


class LmsAlgorithm(Algorithm):
    """``qnetd-algo-lms.c``."""

    name = "lms"

    def client_init(self, ctx: AlgorithmContext, client: QnetdClient) -> ReplyErrorCode:
        client.algorithm_data = LmsClientData()
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
        _data(client).num_config_nodes = len(nodes)
        log.debug(
            "algo-lms: cluster %s config_list has %d nodes", client.cluster_name_text, len(nodes)
        )
        return AlgorithmResult.ok(Vote.NO_CHANGE)

    def membership_node_list_received(
        self,
        ctx: AlgorithmContext,
        client: QnetdClient,
        seq: int,
        ring_id: RingId,
        nodes: NodeList,
        heuristics: Heuristics,
    ) -> AlgorithmResult:
        log.debug("algo-lms: membership list from node %d partition (%s)", client.node_id, ring_id)
        return _do_lms(ctx, client, ring_id)

    def quorum_node_list_received(
        self,
        ctx: AlgorithmContext,
        client: QnetdClient,
        seq: int,
        quorate: Quorate,
        nodes: NodeList,
    ) -> AlgorithmResult:
        log.debug(
            "algo-lms: quorum node list from node %d partition (%s)",
            client.node_id,
            client.last_ring_id,
        )
        return _do_lms(ctx, client, client.last_ring_id)

    def client_disconnect(
        self, ctx: AlgorithmContext, client: QnetdClient, server_going_down: bool
    ) -> None:
        log.debug(
            "algo-lms: Client %s (cluster %s, node_id %d) disconnect",
            client.addr_str,
            client.cluster_name_text,
            client.node_id,
        )
        log.info("algo-lms:   server going down %d", int(server_going_down))
        client.algorithm_data = None

    def ask_for_vote_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> AlgorithmResult:
        log.debug(
            "algo-lms: Client %s (cluster %s, node_id %d) asked for a vote",
            client.addr_str,
            client.cluster_name_text,
            client.node_id,
        )
        return _do_lms(ctx, client, client.last_ring_id)

    def vote_info_reply_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> ReplyErrorCode:
        log.debug(
            "algo-lms: Client %s (cluster %s, node_id %d) replied back to vote info message",
            client.addr_str,
            client.cluster_name_text,
            client.node_id,
        )
        return NO_ERROR

    def heuristics_change_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int, heuristics: Heuristics
    ) -> AlgorithmResult:
        log.info("algo-lms: heuristics change is not supported.")
        return AlgorithmResult.ok(Vote.NO_CHANGE)

    def timer_callback(self, ctx: AlgorithmContext, client: QnetdClient) -> TimerResult:
        log.debug(
            "algo-lms: Client %s (cluster %s, node_id %d) Timer callback",
            client.addr_str,
            client.cluster_name_text,
            client.node_id,
        )
        result = _do_lms(ctx, client, client.last_ring_id)
        if result.error != NO_ERROR:
            return TimerResult(result.error, result.vote)
        return TimerResult(
            NO_ERROR,
            result.vote,
            send_vote=result.vote in (Vote.ACK, Vote.NACK),
            reschedule=result.vote == Vote.WAIT_FOR_REPLY,
        )
