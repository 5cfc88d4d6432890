"""The decision-algorithm interface of qnetd (``struct qnetd_algorithm``, ref section 7).

An algorithm is a stateless object whose hooks the server calls for each client event. Hooks
get the client record and the algorithm's view of the world (:class:`AlgorithmContext`) and
answer with an error code and a vote; per-client and per-cluster state lives in
``client.algorithm_data`` / ``cluster.algorithm_data``.

Hooks run **before** the server stores what the triggering message carried (its node list,
ring id, heuristics): the new values arrive as arguments, the record still holds the old
ones. Effects on other clients (a VOTE_INFO push, a re-decision timer) go through the context,
so an algorithm never touches a socket or a clock and can be driven directly in tests.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Protocol

from qnetd.model import NodeList, QnetdClient
from qnetd.protocol.constants import Heuristics, Quorate, ReplyErrorCode, Vote
from qnetd.protocol.tlv import RingId

__all__ = [
    "NO_ERROR",
    "Algorithm",
    "AlgorithmContext",
    "AlgorithmResult",
    "TimerResult",
]

NO_ERROR = ReplyErrorCode.NO_ERROR


class AlgorithmContext(Protocol):
    """What an algorithm may ask of the server."""

    def send_vote_info(self, client: QnetdClient, seq: int, ring_id: RingId, vote: Vote) -> None:
        """Queue a VOTE_INFO to ``client`` (and record the vote for the status tool)."""
        ...

    def schedule_algo_timer(self, client: QnetdClient, timeout_ms: int) -> None:
        """(Re)arm ``client``'s algorithm timer; only one exists per client."""
        ...

    def abort_algo_timer(self, client: QnetdClient) -> None:
        """Cancel ``client``'s algorithm timer if armed."""
        ...


@dataclass(frozen=True, slots=True)
class AlgorithmResult:
    """A hook's answer: an error code (sent as SERVER_ERROR) or the vote for the reply."""

    error: ReplyErrorCode
    vote: Vote

    @classmethod
    def ok(cls, vote: Vote) -> AlgorithmResult:
        """The success answer for ``vote`` (one shared instance per vote: results are frozen)."""
        return _OK_RESULTS[vote]

    @classmethod
    def fail(cls, error: ReplyErrorCode, vote: Vote = Vote.NO_CHANGE) -> AlgorithmResult:
        return cls(error, vote)


_OK_RESULTS: dict[Vote, AlgorithmResult] = {v: AlgorithmResult(NO_ERROR, v) for v in Vote}


@dataclass(frozen=True, slots=True)
class TimerResult:
    """Answer of the algorithm timer: optionally push ``vote`` and/or run again."""

    error: ReplyErrorCode = NO_ERROR
    vote: Vote = Vote.WAIT_FOR_REPLY
    send_vote: bool = False
    reschedule: bool = False


class Algorithm(abc.ABC):
    """One decision algorithm; the server keeps one instance per algorithm number."""

    name: str = ""

    @abc.abstractmethod
    def client_init(self, ctx: AlgorithmContext, client: QnetdClient) -> ReplyErrorCode:
        """The client's INIT was accepted and it has joined its cluster."""

    @abc.abstractmethod
    def config_node_list_received(
        self,
        ctx: AlgorithmContext,
        client: QnetdClient,
        seq: int,
        config_version: int | None,
        nodes: NodeList,
        initial: bool,
    ) -> AlgorithmResult:
        """INITIAL_CONFIG / CHANGED_CONFIG node list."""

    @abc.abstractmethod
    def membership_node_list_received(
        self,
        ctx: AlgorithmContext,
        client: QnetdClient,
        seq: int,
        ring_id: RingId,
        nodes: NodeList,
        heuristics: Heuristics,
    ) -> AlgorithmResult:
        """MEMBERSHIP node list with its ring id and membership heuristics."""

    @abc.abstractmethod
    def quorum_node_list_received(
        self,
        ctx: AlgorithmContext,
        client: QnetdClient,
        seq: int,
        quorate: Quorate,
        nodes: NodeList,
    ) -> AlgorithmResult:
        """QUORUM node list."""

    @abc.abstractmethod
    def client_disconnect(
        self, ctx: AlgorithmContext, client: QnetdClient, server_going_down: bool
    ) -> None:
        """The client is leaving (still a member of its cluster during the call)."""

    @abc.abstractmethod
    def ask_for_vote_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> AlgorithmResult:
        """ASK_FOR_VOTE."""

    @abc.abstractmethod
    def vote_info_reply_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int
    ) -> ReplyErrorCode:
        """VOTE_INFO_REPLY acknowledging the VOTE_INFO with sequence ``seq``."""

    @abc.abstractmethod
    def heuristics_change_received(
        self, ctx: AlgorithmContext, client: QnetdClient, seq: int, heuristics: Heuristics
    ) -> AlgorithmResult:
        """HEURISTICS_CHANGE with a defined (PASS/FAIL) result."""

    @abc.abstractmethod
    def timer_callback(self, ctx: AlgorithmContext, client: QnetdClient) -> TimerResult:
        """The client's algorithm timer expired."""
