"""The cast-vote timer and the client algorithms' hooks, as tables (ref section 8)."""

from __future__ import annotations

import pytest

from qnetd.protocol.constants import DecisionAlgorithm, Vote
from votequorum.qdevice.algorithms import client_algorithm
from votequorum.qdevice.castvote import CastVoteTimer


@pytest.mark.parametrize(
    ("before", "vote", "poll", "running", "after"),
    [
        (Vote.ASK_LATER, Vote.ACK, True, True, Vote.ACK),
        (Vote.ASK_LATER, Vote.NACK, False, True, Vote.NACK),
        (Vote.ASK_LATER, Vote.WAIT_FOR_REPLY, None, False, Vote.WAIT_FOR_REPLY),
        (Vote.ASK_LATER, Vote.NO_CHANGE, None, False, Vote.ASK_LATER),
        (Vote.ACK, Vote.NO_CHANGE, None, True, Vote.ACK),
        (Vote.ACK, Vote.NACK, False, True, Vote.NACK),
        (Vote.ACK, Vote.ASK_LATER, None, False, Vote.ASK_LATER),
        (Vote.ACK, Vote.WAIT_FOR_REPLY, None, False, Vote.WAIT_FOR_REPLY),
        (Vote.NACK, Vote.ACK, True, True, Vote.ACK),
        (Vote.ACK, Vote.UNDEFINED, None, True, Vote.ACK),
    ],
)
def test_vote_table(
    before: Vote, vote: Vote, poll: bool | None, running: bool, after: Vote
) -> None:
    timer = CastVoteTimer(5000)
    timer.update(before, 0.0)
    assert timer.update(vote, 1.0) == poll
    assert timer.running is running
    assert timer.vote == after


def test_polls_every_interval_from_the_first_vote() -> None:
    timer = CastVoteTimer(5000)
    assert timer.update(Vote.ACK, 10.0) is True
    assert timer.deadline == 15.0
    assert timer.on_deadline(14.9) is None
    assert timer.on_deadline(15.0) is True
    assert timer.deadline == 20.0
    # a second ACK polls at once but keeps the period
    assert timer.update(Vote.ACK, 17.0) is True
    assert timer.deadline == 20.0
    assert timer.casting


def test_paused_timer_runs_without_polling() -> None:
    timer = CastVoteTimer(5000)
    timer.update(Vote.ACK, 0.0)
    timer.set_paused(True)
    assert timer.on_deadline(5.0) is None
    assert timer.deadline == 10.0
    assert timer.update(Vote.NACK, 6.0) is None  # the vote changes, no poll while paused
    timer.set_paused(False)
    assert timer.on_deadline(10.0) is False


def test_stop() -> None:
    timer = CastVoteTimer(5000)
    timer.update(Vote.ACK, 0.0)
    timer.stop()
    assert not timer.running and timer.on_deadline(100.0) is None


@pytest.mark.parametrize(
    ("algorithm", "quorate", "wfa", "reconnect", "vote", "keeps_without_echo"),
    [
        (DecisionAlgorithm.FFSPLIT, True, True, False, Vote.NACK, False),
        (DecisionAlgorithm.TWO_NODE_LMS, True, True, False, Vote.NO_CHANGE, False),
        (DecisionAlgorithm.TEST, False, False, False, Vote.NO_CHANGE, False),
        (DecisionAlgorithm.LMS, False, True, True, Vote.NACK, False),
        (DecisionAlgorithm.LMS, True, False, True, Vote.NACK, False),
        (DecisionAlgorithm.LMS, True, True, True, Vote.NO_CHANGE, True),
    ],
)
def test_algorithm_hooks(
    algorithm: DecisionAlgorithm,
    quorate: bool,
    wfa: bool,
    reconnect: bool,
    vote: Vote,
    keeps_without_echo: bool,
) -> None:
    algo = client_algorithm(algorithm, wait_for_all=wfa)
    algo.quorum_notify(quorate)
    decision = algo.disconnected(False)
    assert decision.try_reconnect is reconnect
    assert decision.vote == vote
    assert algo.echo_reply_not_received() is keeps_without_echo
    assert algo.echo_reply_received(True) and not algo.echo_reply_received(False)
    assert algo.vote_received(Vote.ACK, True) == Vote.ACK
    assert algo.vote_received(Vote.ACK, False) == Vote.NO_CHANGE
    assert algo.checks_vote_counts is (algorithm == DecisionAlgorithm.FFSPLIT)
