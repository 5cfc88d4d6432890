"""pycorosync nodes + their qdevice clients + our qnetd, in the simulator ("our full
stack").

The property qdevice exists for: when a cluster splits in two halves, exactly one half keeps
quorum (the one the algorithm and tie-breaker pick), and at no moment do two disjoint rings both
report themselves quorate -- the simulator's checker watches every quorum event for that. The
scenario library (``simulations/scenarios/qdevice-*.txt``) tells the longer stories (crashes,
qnetd down or restarted, a side that cannot reach qnetd); these tables pin each algorithm.
"""

from __future__ import annotations

import pytest

from simulations.runner import run_scenario
from simulations.scenario import parse_scenario
from votequorum.status import InfoFlags

from .fullstack import FullStack, corosync_conf


def check(text: str) -> None:
    result = run_scenario(parse_scenario(text, "fullstack.txt"), seed=1)
    failed = [f"line {e.line}: {e.text}: {e.detail}" for e in result.expectations if not e.ok]
    violations = [str(r.violation) for r in result.violations]
    assert not failed and not violations, "\n".join(failed + violations)


@pytest.mark.parametrize(
    ("algorithm", "tie_breaker", "winner"),
    [
        ("ffsplit", "lowest", 1),
        ("ffsplit", "highest", 2),
        ("ffsplit", "2", 2),
        ("lms", "lowest", 1),
        ("2nodelms", "lowest", 1),
        ("2nodelms", "highest", 2),
    ],
)
def test_two_nodes_split_keeps_exactly_one_side_quorate(
    algorithm: str, tie_breaker: str, winner: int
) -> None:
    loser = 3 - winner
    check(
        f"nodes 2\nqnetd algorithm={algorithm} tie_breaker={tie_breaker}\n"
        "expect members * within 5s\nexpect votes * == 3 within 10s\n"
        "partition {1}|{2}\n"
        f"expect members {winner} on {winner} within 20s\n"
        f"expect members {loser} on {loser} within 5s\n"
        f"expect quorate {winner} within 20s\nexpect votes {winner} == 2\n"
        f"expect inquorate {loser} within 5s\nexpect votes {loser} == 1\n"
        f"expect quorate {winner} throughout 20s\nexpect inquorate {loser}\n"
        "heal\n"
        "expect members * within 20s\nexpect votes * == 3 within 10s\nexpect quorate *\n"
    )


@pytest.mark.parametrize(
    ("algorithm", "votes", "tie_breaker", "winners", "losers", "total"),
    [
        ("ffsplit", 1, "lowest", "1,2", "3,4", 3),
        ("ffsplit", 1, "highest", "3,4", "1,2", 3),
        ("ffsplit", 1, "3", "3,4", "1,2", 3),
        ("lms", 3, "lowest", "1,2", "3,4", 5),
        ("lms", 3, "highest", "3,4", "1,2", 5),
    ],
)
def test_four_nodes_fifty_fifty(
    algorithm: str, votes: int, tie_breaker: str, winners: str, losers: str, total: int
) -> None:
    check(
        f"nodes 4\nqnetd algorithm={algorithm} votes={votes} tie_breaker={tie_breaker}\n"
        f"expect members * within 5s\nexpect votes * == {4 + votes} within 10s\nrun 5s\n"
        "partition {1,2}|{3,4}\n"
        "expect members 1,2 on 1,2 within 20s\nexpect members 3,4 on 3,4 within 5s\n"
        f"expect quorate {winners} within 20s\nexpect votes {winners} == {total}\n"
        f"expect inquorate {losers} within 5s\nexpect votes {losers} == 2\n"
        f"expect quorate {winners} throughout 20s\nexpect inquorate {losers}\n"
    )


def test_without_qnetd_the_nodes_keep_the_device_alive_but_cast_no_vote() -> None:
    """corosync-qdevice stays registered (ALIVE) when qnetd is gone, but votes NACK: votequorum
    counts the device without its vote (quorumtool's flags "A,NV")."""
    stack = FullStack(corosync_conf(2))
    stack.run_until(lambda: all(stack.status(i).total_votes == 3 for i in (1, 2)), 30)
    stack.sim.run_for(1)  # NODEINFOs queued while the ring formed arrive after its sync
    stack.world.qnetd.crash()
    stack.run_until(lambda: all(stack.status(i).total_votes == 2 for i in (1, 2)), 30)
    stack.sim.run_for(1)  # the other node's NODEINFO with its new flags arrives
    for observer in (1, 2):
        for node in stack.status(observer).nodes:
            assert node.flags & InfoFlags.QDEVICE_ALIVE, (observer, node)
            assert not node.flags & InfoFlags.QDEVICE_CAST_VOTE, (observer, node)
    assert stack.status(1).quorate and stack.status(2).quorate  # 2 of 3 votes, quorum 2
