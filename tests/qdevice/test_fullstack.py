"""pycorosync nodes + their qdevice clients + our qnetd, on a virtual network and clock.

The property qdevice exists for: when a cluster splits in two halves, exactly one half keeps
quorum (the one the algorithm and tie-breaker pick), and at no moment do two disjoint rings both
report themselves quorate.
"""

from __future__ import annotations

import pytest

from totem.ringid import RingId

from .fullstack import FullStack, corosync_conf


def formed(world: FullStack, ids: set[int], votes: int) -> bool:
    return world.settled([ids]) and all(
        world.quorate(i) and world.total_votes(i) == votes for i in ids
    )


def run_checking_split_brain(world: FullStack, seconds: float) -> None:
    """Run, asserting after every step that no two disjoint rings are both quorate."""
    end = world.now + seconds
    while True:
        nxt = world._next_time()
        if nxt is None or nxt > end:
            break
        world.step()
        if not world.views_changed:
            continue
        world.views_changed = False
        views: dict[RingId, frozenset[int]] = {}
        for vq in world.votequorum.values():
            snap = vq.snapshot()
            if snap.quorate:
                views[snap.ring_id] = frozenset(snap.members)
        rings = list(views.items())
        for i, (ring_a, members_a) in enumerate(rings):
            for ring_b, members_b in rings[i + 1 :]:
                assert members_a & members_b, (
                    f"split brain at {world.now}: {ring_a} {set(members_a)} and "
                    f"{ring_b} {set(members_b)} both quorate"
                )
    world.now = end


def boot(n: int, **conf: object) -> FullStack:
    world = FullStack(corosync_conf(n, **conf))  # type: ignore[arg-type]
    world.boot()
    return world


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
    world = boot(2, algorithm=algorithm, tie_breaker=tie_breaker)
    world.run_until(lambda: formed(world, {1, 2}, 3), timeout=30)
    world.partition({1}, {2})
    run_checking_split_brain(world, 45)
    loser = 3 - winner
    assert world.members(winner) == (winner,) and world.members(loser) == (loser,)
    assert world.quorate(winner) and world.total_votes(winner) == 2
    assert not world.quorate(loser) and world.total_votes(loser) == 1
    # healed: one ring again, everybody quorate with the device vote
    world.heal()
    run_checking_split_brain(world, 30)
    assert formed(world, {1, 2}, 3)


@pytest.mark.parametrize(
    ("algorithm", "votes", "tie_breaker", "winners", "total"),
    [
        ("ffsplit", 1, "lowest", {1, 2}, 3),
        ("ffsplit", 1, "highest", {3, 4}, 3),
        ("lms", None, "lowest", {1, 2}, 5),
    ],
)
def test_four_nodes_fifty_fifty(
    algorithm: str, votes: int | None, tie_breaker: str, winners: set[int], total: int
) -> None:
    world = boot(4, algorithm=algorithm, votes=votes, tie_breaker=tie_breaker)
    full = 4 + (votes if votes is not None else 3)
    world.run_until(lambda: formed(world, {1, 2, 3, 4}, full), timeout=40)
    world.partition({1, 2}, {3, 4})
    run_checking_split_brain(world, 60)
    losers = {1, 2, 3, 4} - winners
    assert world.settled([{1, 2}, {3, 4}])
    for n in winners:
        assert world.quorate(n) and world.total_votes(n) == total, n
    for n in losers:
        assert not world.quorate(n) and world.total_votes(n) == 2, n


def test_four_nodes_lms_majority_partition_wins() -> None:
    world = boot(4, algorithm="lms", votes=None)
    world.run_until(lambda: formed(world, {1, 2, 3, 4}, 7), timeout=40)
    world.partition({1}, {2, 3, 4})
    run_checking_split_brain(world, 60)
    assert all(world.quorate(n) for n in (2, 3, 4))
    assert world.total_votes(2) == 6
    assert not world.quorate(1) and world.total_votes(1) == 1


def test_survivor_of_a_crash_keeps_quorum_with_the_device_vote() -> None:
    world = boot(2)
    world.run_until(lambda: formed(world, {1, 2}, 3), timeout=30)
    world.crash(1)
    world.run_until(lambda: formed(world, {2}, 2), timeout=30)
    run_checking_split_brain(world, 30)
    assert formed(world, {2}, 2)


def test_without_qnetd_the_device_vote_is_lost_and_a_split_has_no_winner() -> None:
    world = boot(2)
    world.run_until(lambda: formed(world, {1, 2}, 3), timeout=30)
    world.silent = True
    # the clients notice within two heartbeats and vote NACK: 2 of 3 votes, still quorate
    world.run_until(lambda: formed(world, {1, 2}, 2), timeout=30)
    world.run_for(1)  # the other node's NODEINFO with its new flags arrives
    snap = world.votequorum[1].snapshot()
    flags = {n.node_id: n.flags for n in snap.nodes}
    assert all(f & 128 and not f & 256 for f in flags.values())  # ALIVE, not CAST_VOTE
    world.partition({1}, {2})
    run_checking_split_brain(world, 60)
    assert not world.quorate(1) and not world.quorate(2)


def test_qnetd_back_after_an_outage_restores_the_vote() -> None:
    world = boot(2)
    world.run_until(lambda: formed(world, {1, 2}, 3), timeout=30)
    world.silent = True
    world.run_until(lambda: formed(world, {1, 2}, 2), timeout=30)
    world.silent = False
    world.run_until(lambda: formed(world, {1, 2}, 3), timeout=60)


def test_the_split_brain_check_catches_the_test_algorithm() -> None:
    """Negative control: qnetd's "test" algorithm ACKs every membership (it warns so)."""
    world = FullStack(corosync_conf(2, algorithm="test"), test_algorithm_enabled=True)
    world.boot()
    world.run_until(lambda: formed(world, {1, 2}, 3), timeout=30)
    world.partition({1}, {2})
    with pytest.raises(AssertionError, match="split brain"):
        run_checking_split_brain(world, 45)
