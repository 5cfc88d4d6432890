"""The ``test`` algorithm (0) of qnetd (ref qnetd-protocol.md section 7.1).

Every membership list and every ASK_FOR_VOTE gets ACK; config and quorum lists and heuristics
changes get NO_CHANGE. It can make several partitions quorate at once, which is why qnetd warns
when a client selects it (and why the real qdevice refuses it without
``-S net_test_algorithm_enabled=on``).
"""

from __future__ import annotations

import logging

from qnetd.algorithms.base import (
    NO_ERROR,
    Algorithm,
    AlgorithmContext,
    AlgorithmResult,
    TimerResult,
)
from qnetd.model import NodeList, QnetdClient
from qnetd.protocol.constants import Heuristics, Quorate, ReplyErrorCode, Vote
from qnetd.protocol.tlv import RingId

__all__ = ["TestAlgorithm"]

log = logging.getLogger("qnetd")


class TestAlgorithm(Algorithm):
    """``qnetd-algo-test.c``."""

    __test__ = False  # not a pytest test class
    name = "test"

    def client_init(self, ctx: AlgorithmContext, client: QnetdClient) -> ReplyErrorCode:
        log.warning(
            "algo-test: Client %s (cluster = '%s', node_id = %d) initiated test algorithm. "
            "It's not recommended to use test algorithm because it can create multiple "
            "quorate partitions!",
            client.addr_str,
            client.cluster_name_text,
            client.node_id,
        )
        log.info("algo-test: client_init")
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
        log.info("algo-test: node_list_received")
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
        log.info("algo-test: membership_node_list_received")
        return AlgorithmResult.ok(Vote.ACK)

    def quorum_node_list_received(
        self,
        ctx: AlgorithmContext,
        client: QnetdClient,
        seq: int,
        quorate: Quorate,
        nodes: NodeList,
    ) -> AlgorithmResult:
        log.info("algo-test: quorum_node_list_received")
        return AlgorithmResult.ok(Vote.NO_CHANGE)

    def client_disconnect(
        self, ctx: AlgorithmContext, client: QnetdClient, server_going_down: bool
    ) -> None:
        log.info("algo-test: client_disconnect")

    def ask_for_vote_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> AlgorithmResult:
        log.info("algo-test: ask_for_vote_received")
        return AlgorithmResult.ok(Vote.ACK)

    def vote_info_reply_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> ReplyErrorCode:
        log.info("algo-test: vote_info_reply_received")
        return NO_ERROR

    def heuristics_change_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int, heuristics: Heuristics
    ) -> AlgorithmResult:
        log.info("algo-test: heuristics_change_received")
        return AlgorithmResult.ok(Vote.NO_CHANGE)

    def timer_callback(self, ctx: AlgorithmContext, client: QnetdClient) -> TimerResult:
        return TimerResult()
