"""The client side of the decision algorithms (ref qnetd-protocol.md 5.2, 5.3, 7).

corosync-qdevice 3.0.3 gives each algorithm a set of hooks (``qdevice-net-algo-*.c``); the
decisions are taken by qnetd, so the client hooks are small, and these are all that differ:

* every vote arriving with a ring id other than the last one sent counts as NO_CHANGE
  (all four algorithms);
* an echo reply with an unexpected sequence number disconnects (all four);
* a missing echo reply disconnects, except lms when the cluster is quorate and
  ``quorum.wait_for_all`` is set (it keeps voting without qnetd);
* on disconnection ffsplit votes NACK (two halves of a 50:50 split must never both keep
  an ACK); lms votes NACK unless quorate with wait_for_all, and always reconnects;
  2nodelms and test keep their last vote;
* ffsplit re-checks that every node and the device have exactly one vote when the expected
  votes or the config node list change (its ``check_vqinfo_validity``).
"""

from __future__ import annotations

from dataclasses import dataclass

from qnetd.protocol.constants import DecisionAlgorithm, Vote

__all__ = ["ClientAlgorithm", "DisconnectDecision", "client_algorithm"]


@dataclass(frozen=True, slots=True)
class DisconnectDecision:
    try_reconnect: bool
    vote: Vote
    """NO_CHANGE keeps what the cast-vote timer votes now."""


class ClientAlgorithm:
    """Hooks shared by 2nodelms and test; the base of the others."""

    algorithm: DecisionAlgorithm = DecisionAlgorithm.TWO_NODE_LMS
    checks_vote_counts = False
    """ffsplit: refuse node or device votes other than 1 (``check_vqinfo_validity``)."""

    def __init__(self, wait_for_all: bool = False) -> None:
        self.wait_for_all = wait_for_all
        self.quorate = False

    def quorum_notify(self, quorate: bool) -> None:
        """votequorum reported the quorate state (lms remembers it)."""
        self.quorate = quorate

    def vote_received(self, vote: Vote, ring_id_is_valid: bool) -> Vote:
        """A vote in a reply or VOTE_INFO; a stale ring id means "no change"."""
        return vote if ring_id_is_valid else Vote.NO_CHANGE

    def echo_reply_received(self, is_expected_seq_number: bool) -> bool:
        """False: disconnect."""
        return is_expected_seq_number

    def echo_reply_not_received(self) -> bool:
        """False: disconnect; True: keep the connection and go on sending heartbeats."""
        return False

    def disconnected(self, try_reconnect: bool) -> DisconnectDecision:
        return DisconnectDecision(try_reconnect, Vote.NO_CHANGE)


class FfsplitClient(ClientAlgorithm):
    algorithm = DecisionAlgorithm.FFSPLIT
    checks_vote_counts = True

    def disconnected(self, try_reconnect: bool) -> DisconnectDecision:
        return DisconnectDecision(try_reconnect, Vote.NACK)


class LmsClient(ClientAlgorithm):
    algorithm = DecisionAlgorithm.LMS

    def echo_reply_not_received(self) -> bool:
        return self.quorate and self.wait_for_all

    def disconnected(self, try_reconnect: bool) -> DisconnectDecision:
        keep = self.quorate and self.wait_for_all
        return DisconnectDecision(True, Vote.NO_CHANGE if keep else Vote.NACK)


class AlgoTestClient(ClientAlgorithm):
    algorithm = DecisionAlgorithm.TEST


def client_algorithm(algorithm: DecisionAlgorithm, wait_for_all: bool = False) -> ClientAlgorithm:
    """The client hooks of ``algorithm``."""
    cls: type[ClientAlgorithm] = {
        DecisionAlgorithm.FFSPLIT: FfsplitClient,
        DecisionAlgorithm.LMS: LmsClient,
        DecisionAlgorithm.TWO_NODE_LMS: ClientAlgorithm,
        DecisionAlgorithm.TEST: AlgoTestClient,
    }[algorithm]
    return cls(wait_for_all)
