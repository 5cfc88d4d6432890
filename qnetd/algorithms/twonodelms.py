"""The ``2nodelms`` algorithm (2) of qnetd: last man standing for two nodes (ref section 7.3).

- config list: anything but exactly 2 entries is refused with UNSUPPORTED_DECISION_ALGORITHM
  (sent as SERVER_ERROR; the real qdevice then exits).
- membership list: a *newcomer* (never voted) whose ring id differs from a peer that holds ACK
  gets NACK, not remembered. Otherwise: both nodes in the membership → ACK; only client of its
  cluster → ACK ("last man"); else the better heuristics wins (PASS > UNDEFINED > FAIL) and
  equal heuristics go to the tie-breaker node (lowest/highest connected node id, or the fixed
  id).
- ASK_FOR_VOTE answers the last result (ASK_LATER before any). Quorum lists and heuristics
  changes → NO_CHANGE; a disconnect pushes nothing.
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
from qnetd.protocol.constants import (
    Heuristics,
    Quorate,
    ReplyErrorCode,
    TieBreakerMode,
    Vote,
    heuristics_cmp,
)
from qnetd.protocol.tlv import RingId

__all__ = ["TwoNodeLmsAlgorithm", "TwoNodeLmsClientData"]

log = logging.getLogger("qnetd")


@dataclass(slots=True)
class TwoNodeLmsClientData:
    num_config_nodes: int = 0
    last_result: Vote = Vote.UNDEFINED
    """The last ACK/NACK given (UNDEFINED = this client never voted: a newcomer)."""


def _data(client: QnetdClient) -> TwoNodeLmsClientData:
    data = client.algorithm_data
    assert isinstance(data, TwoNodeLmsClientData)
    return data


class TwoNodeLmsAlgorithm(Algorithm):
    """``qnetd-algo-2nodelms.c``."""

    name = "2nodelms"

    def client_init(self, ctx: AlgorithmContext, client: QnetdClient) -> ReplyErrorCode:
        client.algorithm_data = TwoNodeLmsClientData()
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
        count = len(nodes)
        _data(client).num_config_nodes = count
        log.debug(
            "algo-2nodelms: cluster %s config_list has %d nodes", client.cluster_name_text, count
        )
        if count != 2:
            log.info(
                "algo-2nodelms: cluster %s does not have 2 configured nodes, it has %d",
                client.cluster_name_text,
                count,
            )
            return AlgorithmResult.fail(ReplyErrorCode.UNSUPPORTED_DECISION_ALGORITHM, Vote.NACK)
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
        data = _data(client)
        assert client.cluster is not None
        clients = client.cluster.clients
        name = client.cluster_name_text
        if data.last_result == Vote.UNDEFINED:
            for other in clients:
                if ring_id != other.last_ring_id and _data(other).last_result == Vote.ACK:
                    log.debug(
                        "algo-2nodelms: we are a new partition and another active partition "
                        "exists. NACK"
                    )
                    return AlgorithmResult.ok(Vote.NACK)

        log.debug(
            "algo-2nodelms: cluster %s (node_id %d) membership list has %d member nodes "
            "(ring ID %s)",
            name,
            client.node_id,
            len(nodes),
            ring_id,
        )
        if len(nodes) == 2:
            log.debug("algo-2nodelms: cluster %s running normally. Both nodes active", name)
            return self._store(data, Vote.ACK)

        low = 0xFFFFFFFF
        high = 0
        other_heuristics = Heuristics.UNDEFINED
        for other in clients:
            low = min(low, other.node_id)
            high = max(high, other.node_id)
            if other is not client:
                other_heuristics = other.last_heuristics
        log.debug("algo-2nodelms: cluster %s %d nodes running independently", name, len(clients))

        if len(clients) == 1:
            log.debug("algo-2nodelms: cluster %s running on 'last-man'", name)
            return self._store(data, Vote.ACK)

        cmp = heuristics_cmp(heuristics, other_heuristics)
        if cmp > 0:
            return self._store(data, Vote.ACK)
        if cmp < 0:
            return self._store(data, Vote.NACK)

        mode = client.tie_breaker.mode
        if mode == TieBreakerMode.LOWEST:
            won = client.node_id == low
        elif mode == TieBreakerMode.HIGHEST:
            won = client.node_id == high
        else:
            won = client.node_id == client.tie_breaker.node_id
        if won:
            log.debug(
                "algo-2nodelms: cluster %s running on tie-breaker node %d", name, client.node_id
            )
        else:
            log.debug(
                "algo-2nodelms: cluster %s node-id %d denied vote by the tie-breaker",
                name,
                client.node_id,
            )
        return self._store(data, Vote.ACK if won else Vote.NACK)

    @staticmethod
    def _store(data: TwoNodeLmsClientData, vote: Vote) -> AlgorithmResult:
        data.last_result = vote
        return AlgorithmResult.ok(vote)

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
        log.info(
            "algo-2nodelms: Client %s (cluster %s, node_id %d) disconnect",
            client.addr_str,
            client.cluster_name_text,
            client.node_id,
        )
        log.info("algo-2nodelms:   server going down %d", int(server_going_down))
        client.algorithm_data = None

    def ask_for_vote_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> AlgorithmResult:
        log.info(
            "algo-2nodelms: Client %s (cluster %s, node_id %d) asked for a vote",
            client.addr_str,
            client.cluster_name_text,
            client.node_id,
        )
        last = _data(client).last_result
        return AlgorithmResult.ok(Vote.ASK_LATER if last == Vote.UNDEFINED else last)

    def vote_info_reply_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> ReplyErrorCode:
        log.info(
            "algo-2nodelms: Client %s (cluster %s, node_id %d) replied back to vote info message",
            client.addr_str,
            client.cluster_name_text,
            client.node_id,
        )
        return NO_ERROR

    def heuristics_change_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int, heuristics: Heuristics
    ) -> AlgorithmResult:
        log.info("algo-2nodelms: heuristics change is not supported.")
        return AlgorithmResult.ok(Vote.NO_CHANGE)

    def timer_callback(self, ctx: AlgorithmContext, client: QnetdClient) -> TimerResult:
        return TimerResult()
