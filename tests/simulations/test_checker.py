"""The checker on synthetic traces: a clean history passes, each planted violation is caught."""

from __future__ import annotations

import pytest

from simulations.checker import GATHER_RATE_LIMIT, INVARIANTS, Checker, Violation
from simulations.traffic import encode_app
from totem.ringid import RingId
from totem.srp.events import ConfigurationChange, ConfigurationKind

R1 = RingId(1, 4)
R2 = RingId(1, 8)
R3 = RingId(1, 12)


def trans(
    ring: RingId, members: tuple[int, ...], left: tuple[int, ...] = ()
) -> ConfigurationChange:
    return ConfigurationChange(ConfigurationKind.TRANSITIONAL, ring, members, left, ())


def regular(
    ring: RingId, members: tuple[int, ...], joined: tuple[int, ...] = ()
) -> ConfigurationChange:
    return ConfigurationChange(ConfigurationKind.REGULAR, ring, members, (), joined)


def install(checker: Checker, nodes: tuple[int, ...], ring: RingId, now: float = 0.0) -> None:
    """Every node of ``nodes`` starts (incarnation 1) and installs ``ring`` from nothing."""
    for node in nodes:
        checker.node_up(node, 1, now)
        checker.configuration(node, 1, trans(ring, ()), now)
        checker.configuration(node, 1, regular(ring, nodes, nodes), now)


def app(
    sender: int, counter: int, incarnation: int = 1, size: int = 40, safe: bool = False
) -> bytes:
    return encode_app(sender, incarnation, counter, size, safe)


def send(checker: Checker, sender: int, counter: int) -> bytes:
    checker.app_sent(sender, 1, counter, 0.0)
    return app(sender, counter)


def names(checker: Checker) -> list[str]:
    return [v.invariant for v in checker.violations]


def clean_two_ring_history() -> Checker:
    """Three nodes, two messages, node 3 leaves, one more message: all correct."""
    c = Checker()
    install(c, (1, 2, 3), R1)
    m1, m2 = send(c, 1, 1), send(c, 2, 1)
    for node in (1, 2, 3):
        c.delivered(node, 1, 1, R1, 1, m1, 1.0)
        c.delivered(node, 1, 2, R1, 2, m2, 1.0)
    for node in (1, 2):
        c.configuration(node, 1, trans(R2, (1, 2), (3,)), 2.0)
        c.configuration(node, 1, regular(R2, (1, 2)), 2.0)
    m3 = send(c, 2, 2)
    for node in (1, 2):
        c.delivered(node, 1, 2, R2, 1, m3, 3.0)
    return c


def test_clean_history_has_no_violation() -> None:
    c = clean_two_ring_history()
    assert c.ok
    assert c.deliveries == 8
    assert c.configurations == 10


def test_violation_text_and_json() -> None:
    v = Violation("fifo", 1.5, (1, 2), "something")
    assert str(v) == "t=1.500000s fifo: something"
    assert v.as_dict() == {
        "invariant": "fifo",
        "time": 1.5,
        "nodes": [1, 2],
        "message": "something",
    }
    assert set(INVARIANTS) >= {"agreed-order", "quorum-safety", "safe-delivery"}


# ------------------------------------------------------------------------------------------
# planted violations, one per invariant
# ------------------------------------------------------------------------------------------
def test_two_nodes_deliver_different_messages_at_one_position() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    m1, m2 = send(c, 1, 1), send(c, 1, 2)
    c.delivered(1, 1, 1, R1, 1, m1, 1.0)
    c.delivered(2, 1, 1, R1, 1, m2, 1.0)
    assert names(c)[0] == "agreed-order"
    assert c.violations[0].message == "nodes 1 and 2 delivered different messages as 1.4/1"
    assert c.violations[0].nodes == (1, 2)


def test_sequence_going_backwards_within_a_ring() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    m1, m2 = send(c, 1, 1), send(c, 1, 2)
    c.delivered(2, 1, 1, R1, 2, m2, 1.0)
    c.delivered(2, 1, 1, R1, 1, m1, 1.0)
    assert names(c) == ["agreed-order", "fifo"]
    assert "delivered 1.4/1 after 1.4/2" in c.violations[0].message


def test_delivery_of_another_configuration() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    c.delivered(1, 1, 1, R2, 1, send(c, 1, 1), 1.0)
    assert names(c) == ["agreed-order"]
    assert "while its configuration is 1.4" in c.violations[0].message


def test_duplicate_delivery() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    m1 = send(c, 1, 1)
    c.delivered(2, 1, 1, R1, 1, m1, 1.0)
    c.delivered(2, 1, 1, R1, 1, m1, 1.1)
    assert "no-duplicates" in names(c)
    assert any("delivered 1.4/1 twice in a row" in v.message for v in c.violations)


def test_same_message_twice_at_two_positions() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    m1 = send(c, 1, 1)
    c.delivered(2, 1, 1, R1, 1, m1, 1.0)
    c.delivered(2, 1, 1, R1, 2, m1, 1.1)
    assert names(c) == ["no-duplicates"]
    assert c.violations[0].message == "node 2 delivered message #1 of node 1 (incarnation 1) twice"


def test_message_never_sent_is_creation() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    c.delivered(2, 1, 1, R1, 1, app(1, 5), 1.0)
    assert names(c) == ["no-creation"]
    assert "which was never sent" in c.violations[0].message


def test_foreign_payload_is_creation() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    c.delivered(2, 1, 1, R1, 1, b"not a simulator message", 1.0)
    assert names(c) == ["no-creation"]


def test_foreign_payload_allowed_above_srp() -> None:
    c = Checker(app_only=False)
    install(c, (1, 2), R1)
    assert c.delivered(2, 1, 1, R1, 1, b"a totempg packet", 1.0) is False
    assert c.ok


def test_wrong_sender_and_corruption() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    m1 = send(c, 1, 1)
    c.delivered(2, 1, 2, R1, 1, m1, 1.0)
    corrupted = m1[:-1] + b"X"
    c.delivered(1, 1, 1, R1, 2, corrupted, 1.0)
    assert names(c) == ["no-creation", "no-creation"]
    assert "as sent by node 2" in c.violations[0].message
    assert c.violations[1].message.endswith("corrupted")


def test_sender_outside_the_configuration() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    c.node_up(3, 1, 0.0)
    m = app(3, 1)
    c.app_sent(3, 1, 1, 0.0)
    c.delivered(1, 1, 3, R1, 1, m, 1.0)
    assert "no-creation" in names(c)
    assert any("not a member of 1.4 {1,2}" in v.message for v in c.violations)


def test_fifo_out_of_order() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    m1, m2 = send(c, 1, 1), send(c, 1, 2)
    c.delivered(2, 1, 1, R1, 1, m2, 1.0)
    c.delivered(2, 1, 1, R1, 2, m1, 1.0)
    assert names(c) == ["fifo"]
    assert (
        c.violations[0].message == "node 2 delivered message #1 of node 1 (incarnation 1) after #2"
    )


def test_sender_skips_its_own_message() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    send(c, 1, 1)
    m2 = send(c, 1, 2)
    c.delivered(1, 1, 1, R1, 1, m2, 1.0)
    assert names(c) == ["self-delivery"]
    assert c.violations[0].message == "node 1 delivered its own message #2 before #1"


def test_sender_leaves_configuration_without_its_message() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    m1 = send(c, 1, 1)
    c.delivered(2, 1, 1, R1, 1, m1, 1.0)
    c.configuration(1, 1, trans(R2, (1,), (2,)), 2.0)
    c.configuration(1, 1, regular(R2, (1,)), 2.0)
    assert names(c) == ["self-delivery"]
    assert "left configuration 1.4 without delivering its own message #1" in c.violations[0].message


def test_others_deliver_after_the_sender_moved_on() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    m1 = send(c, 1, 1)
    c.configuration(1, 1, trans(R2, (1,), (2,)), 2.0)
    c.configuration(1, 1, regular(R2, (1,)), 2.0)
    c.delivered(2, 1, 1, R1, 1, m1, 2.5)
    assert names(c) == ["self-delivery"]
    assert "which node 2 delivered there" in c.violations[0].message


def test_regular_without_transitional() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    c.configuration(1, 1, regular(R2, (1, 2)), 1.0)
    assert names(c) == ["transitional-before-regular"]
    assert "without a TRANSITIONAL one" in c.violations[0].message


def test_transitional_structure() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    c.configuration(1, 1, trans(R2, (2, 3)), 1.0)  # 1 missing, 3 was never in R1
    c.configuration(1, 1, trans(R3, (1,)), 1.0)  # a second TRANSITIONAL
    c.configuration(1, 1, regular(R2, (1,)), 1.0)  # names another ring
    messages = [v.message for v in c.violations]
    assert names(c) == ["transitional-before-regular"] * 4
    assert any("is not in its own transitional configuration" in m for m in messages)
    assert any("who were not in its configuration 1.4" in m for m in messages)
    assert any("second TRANSITIONAL" in m for m in messages)
    assert any("names ring 1.c but the REGULAR one that follows is 1.8" in m for m in messages)


def test_transitional_members_must_go_on() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    c.configuration(1, 1, trans(R2, (1, 2)), 1.0)
    c.configuration(1, 1, regular(R2, (1,)), 1.0)
    assert names(c) == ["transitional-before-regular"]
    assert "transitional members {2} are not in the new configuration" in c.violations[0].message


def test_virtual_synchrony_different_sets() -> None:
    c = Checker()
    install(c, (1, 2, 3), R1)
    m1 = send(c, 3, 1)
    c.delivered(1, 1, 3, R1, 1, m1, 1.0)  # node 2 never delivers it
    for node in (1, 2):
        c.configuration(node, 1, trans(R2, (1, 2), (3,)), 2.0)
        c.configuration(node, 1, regular(R2, (1, 2)), 2.0)
    assert names(c) == ["virtual-synchrony"]
    assert c.violations[0].message == (
        "nodes 1 and 2 moving from 1.4 to 1.8 delivered different messages in the regular "
        "configuration 1.4: 1 messages (seq 1..1) vs no messages"
    )


def test_virtual_synchrony_transitional_part_and_membership() -> None:
    c = Checker()
    install(c, (1, 2, 3), R1)
    m1 = send(c, 3, 1)
    c.configuration(1, 1, trans(R2, (1, 2), (3,)), 2.0)
    c.delivered(1, 1, 3, R1, 1, m1, 2.0)
    c.configuration(1, 1, regular(R2, (1, 2)), 2.0)
    c.configuration(2, 1, trans(R2, (2,), (1, 3)), 2.0)
    c.configuration(2, 1, regular(R2, (1, 2)), 2.0)
    assert names(c) == ["virtual-synchrony"] * 2
    messages = " ".join(v.message for v in c.violations)
    assert "saw different transitional memberships {1,2} and {2}" in messages
    assert "in the transitional configuration 1.4: 1 messages (seq 1..1) vs no messages" in messages


def test_membership_agreement_and_ring_growth() -> None:
    c = Checker()
    install(c, (1, 2), R2)
    c.configuration(1, 1, trans(R1, (1,)), 1.0)
    c.configuration(1, 1, regular(R1, (1,)), 1.0)  # goes back in ring seq
    c.node_up(3, 1, 1.0)
    c.configuration(3, 1, trans(R2, ()), 1.0)
    c.configuration(3, 1, regular(R2, (2, 3)), 1.0)  # same ring id, other members
    c.configuration(2, 1, trans(R3, (2,)), 1.0)
    c.configuration(2, 1, regular(R3, (1,)), 1.0)  # without itself
    messages = [v.message for v in c.violations if v.invariant == "membership-agreement"]
    assert any("ring ids must grow" in m for m in messages)
    assert any("installed ring 1.8 with members {2,3}, others with {1,2}" in m for m in messages)
    assert any("without itself" in m for m in messages)


def test_safe_delivery_requires_every_member_to_hold_it() -> None:
    c = Checker()
    install(c, (1, 2, 3), R1)
    c.app_sent(1, 1, 1, 0.0)
    m = app(1, 1, safe=True)
    c.safe_held(1, R1, 1)
    c.safe_held(2, R1, 1)
    c.delivered(2, 1, 1, R1, 1, m, 1.0)
    assert names(c) == ["safe-delivery"]
    assert c.violations[0].message == (
        "node 2 delivered SAFE message 1.4/1 while {3} of its configuration did not hold it"
    )
    c.safe_held(3, R1, 1)
    c.delivered(3, 1, 1, R1, 1, m, 1.1)
    assert len(c.violations) == 1


def test_safe_in_transitional_part_is_not_checked() -> None:
    c = Checker()
    install(c, (1, 2, 3), R1)
    c.app_sent(1, 1, 1, 0.0)
    c.safe_held(1, R1, 1)
    c.safe_held(2, R1, 1)
    for node in (1, 2):
        c.configuration(node, 1, trans(R2, (1, 2), (3,)), 2.0)
        c.delivered(node, 1, 1, R1, 1, app(1, 1, safe=True), 2.0)
        c.configuration(node, 1, regular(R2, (1, 2)), 2.0)
    assert c.ok


def test_quorum_safety() -> None:
    c = Checker()
    c.quorum(1, 1, True, (1, 2, 3), 1.0)
    c.quorum(4, 1, True, (4, 5), 1.0)
    assert names(c) == ["quorum-safety"]
    assert c.violations[0].message == (
        "two quorate partitions: node 4 with {4,5} and node 1 with {1,2,3}"
    )


def test_quorum_overlap_and_inquorate_are_fine() -> None:
    c = Checker()
    c.quorum(1, 1, True, (1, 2, 3, 4, 5), 1.0)
    c.quorum(3, 1, True, (3, 4, 5), 1.0)  # overlaps: the old view of 1 still names 3..5
    c.quorum(1, 1, False, (1, 2), 1.5)
    c.quorum(2, 1, True, (1, 2), 2.0)  # 1's view is no longer quorate... but 3's is
    assert names(c) == ["quorum-safety"]
    c2 = Checker()
    c2.quorum(1, 1, True, (1, 2), 1.0)
    c2.node_down(1, 1, 1.5)
    c2.quorum(3, 1, True, (3,), 2.0)
    assert c2.ok


def test_a_withdrawn_device_vote_excuses_the_stale_quorate_view_until_the_next() -> None:
    """corosync's votequorum drops the device vote from its flags at qnetd's NACK but
    shows the quorate view until it recalculates (its NODEINFO delivered, or the next
    sync); meanwhile qnetd gives the vote to the other partition."""
    c = Checker()
    c.quorum(3, 1, True, (3, 4, 5, 6, 10), 1.0)  # 5 node votes + the device's 1, quorum 6
    c.device_vote(3, 1, True, True, 1.0)
    c.device_vote(3, 1, False, False, 3.683)  # NACK: ring broken, no recalculation yet
    c.quorum(1, 1, True, (1, 2, 7, 8, 9), 3.684)  # the other half got the vote
    assert c.ok and c.stale_views_excused == 1
    c.quorum(3, 1, True, (3, 4, 5, 6, 10), 4.0)  # a new view that is quorate: judged
    assert names(c) == ["quorum-safety"]


def test_a_device_vote_the_view_did_not_need_excuses_nothing() -> None:
    c = Checker()
    c.quorum(3, 1, True, (3, 4, 5, 6), 1.0)  # quorate on node votes alone
    c.device_vote(3, 1, True, False, 1.0)
    c.device_vote(3, 1, False, False, 2.0)
    c.quorum(1, 1, True, (1, 2), 2.5)
    assert names(c) == ["quorum-safety"]
    # and a withdrawal after the other partition became quorate comes too late
    late = Checker()
    late.quorum(3, 1, True, (3, 4), 1.0)
    late.device_vote(3, 1, True, True, 1.0)
    late.quorum(1, 1, True, (1, 2), 2.0)
    late.device_vote(3, 1, False, False, 2.5)
    assert names(late) == ["quorum-safety"]


def test_a_fresh_restart_forgets_the_finished_rings_of_that_representative() -> None:
    def history(fresh: bool) -> Checker:
        c = Checker()
        install(c, (1, 2), R1)  # ring 1.4 {1,2}
        c.delivered(1, 1, 1, R1, 1, send(c, 1, 1), 1.0)
        c.delivered(2, 1, 1, R1, 1, app(1, 1), 1.0)
        c.node_down(1, 1, 2.0)
        alone = RingId(2, 8)
        c.configuration(2, 1, trans(alone, (2,), (1,)), 2.5)
        c.configuration(2, 1, regular(alone, (2,)), 2.5)
        c.node_up(1, 2, 3.0, fresh=fresh)  # without its ring sequence file: 1.4 again
        c.configuration(1, 2, trans(R1, ()), 3.1)
        c.configuration(1, 2, regular(R1, (1,), (1,)), 3.1)
        c.app_sent(1, 2, 1, 3.2)
        c.delivered(1, 2, 1, R1, 1, app(1, 1, incarnation=2), 3.2)
        return c

    assert history(fresh=True).ok
    assert names(history(fresh=False)) == ["membership-agreement", "agreed-order"]


def test_a_fresh_restart_sets_apart_a_ring_still_in_use() -> None:
    """Node 1 restarts without its ring id file while node 2, paused or cut off, is still in
    1.4: node 1 forms 1.4 again with others, a second ring of that id (corosync 3.1.7 too:
    ``corosync_ring_id_create_or_load`` starts from 0 without the file). Each ring is checked on
    its own; node 2 taking a message of the new ring for its old one is still caught."""

    def history() -> Checker:
        c = Checker()
        install(c, (1, 2, 3), R1)
        m1 = send(c, 1, 1)
        for node in (1, 2, 3):
            c.delivered(node, 1, 1, R1, 1, m1, 1.0)
        c.node_down(1, 1, 2.0)  # node 2 has not noticed yet: still in 1.4
        c.node_down(3, 1, 2.0)
        c.node_up(1, 2, 3.0, fresh=True)
        c.node_up(3, 2, 3.0, fresh=True)
        for node in (1, 3):
            c.configuration(node, 2, trans(R1, ()), 3.1)
            c.configuration(node, 2, regular(R1, (1, 3), (1, 3)), 3.1)
        c.app_sent(1, 2, 1, 3.2)
        for node in (1, 3):
            c.delivered(node, 2, 1, R1, 1, app(1, 1, incarnation=2), 3.2)
        return c

    c = history()
    assert c.ok
    # node 2 goes on in the earlier 1.4 and delivers its own message there: fine
    c.app_sent(2, 1, 1, 3.3)
    c.delivered(2, 1, 2, R1, 2, app(2, 1), 3.3)
    assert c.ok
    # and a message of the new 1.4, taken by node 2 for the earlier one, is caught
    mixed = history()
    mixed.delivered(2, 1, 1, R1, 2, app(1, 1, incarnation=2), 3.3)
    assert names(mixed) == ["agreed-order"]
    assert "which that process was never in" in mixed.violations[0].message
    # a ring id formed again without a fresh restart is still a violation
    again = Checker()
    install(again, (1, 2), R1)
    again.node_down(1, 1, 2.0)
    again.node_up(1, 2, 3.0)
    again.configuration(1, 2, trans(R1, ()), 3.1)
    again.configuration(1, 2, regular(R1, (1,), (1,)), 3.1)
    assert names(again) == ["membership-agreement"]


def test_two_node_split_brain_allowed_when_told() -> None:
    c = Checker(allow_split_brain=True)
    c.quorum(1, 1, True, (1,), 1.0)
    c.quorum(2, 1, True, (2,), 1.0)
    assert c.ok
    assert c.quorate_nodes() == {1: frozenset({1}), 2: frozenset({2})}


def test_two_node_allows_only_partitions_two_node_makes_quorate() -> None:
    """votequorum sets quorum to 1 only in a two_node partition of at most 2 members."""
    c = Checker(allow_split_brain=True)
    c.quorum(1, 1, True, (1, 2), 1.0)
    c.quorum(3, 1, True, (3, 4), 1.0)
    assert c.ok
    c.quorum(5, 1, True, (5, 6, 7), 2.0)
    assert names(c) == ["quorum-safety", "quorum-safety"]
    assert [v.nodes for v in c.violations] == [(1, 5), (3, 5)]


def test_restart_is_a_new_process() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    m1 = send(c, 1, 1)
    c.delivered(1, 1, 1, R1, 1, m1, 1.0)
    c.delivered(2, 1, 1, R1, 1, m1, 1.0)
    c.node_down(2, 1, 1.5)
    c.node_up(2, 2, 2.0)
    c.configuration(2, 2, trans(R2, ()), 2.0)
    c.configuration(2, 2, regular(R2, (1, 2)), 2.0)
    c.configuration(1, 1, trans(R2, (1,), (2,)), 2.0)
    c.configuration(1, 1, regular(R2, (1, 2), (2,)), 2.0)
    c.app_sent(2, 2, 1, 2.0)
    m = app(2, 1, incarnation=2)
    c.delivered(2, 2, 2, R2, 1, m, 3.0)
    c.delivered(1, 1, 2, R2, 1, m, 3.0)
    assert c.ok


def test_a_join_storm_breaks_the_gather_rate_bound() -> None:
    c = Checker()
    c.node_up(1, 1, 0.0)
    # a GATHER entry per join timeout (50 ms) and per consensus timeout is far below it
    for i in range(200):
        c.gather_entered(1, 1, i * 0.05)
    assert c.ok and c.max_gather_rate == 20
    # a thousand and one within one second is a storm
    for i in range(GATHER_RATE_LIMIT + 1):
        c.gather_entered(1, 1, 20.0 + i * 1e-4)
    assert names(c) == ["membership-liveness"]
    assert c.max_gather_rate == GATHER_RATE_LIMIT + 1
    assert "entered GATHER 1001 times within one second (since t=20.000000s)" in str(
        c.violations[0]
    )


def test_repeated_violations_are_reported_once() -> None:
    c = Checker()
    install(c, (1, 2), R1)
    for seq in range(1, 50):
        c.delivered(2, 1, 1, R1, seq, app(1, 1000 + seq), 1.0)
    assert names(c) == ["no-creation"]
    assert c.suppressed == 48


@pytest.mark.parametrize("invariant", INVARIANTS)
def test_every_invariant_has_a_planted_test(invariant: str) -> None:
    # the tests above plant each one; this guards the list against silent additions
    covered = {
        "agreed-order",
        "no-duplicates",
        "no-creation",
        "fifo",
        "self-delivery",
        "transitional-before-regular",
        "virtual-synchrony",
        "safe-delivery",
        "membership-agreement",
        "membership-liveness",
        "quorum-safety",
    }
    assert invariant in covered


@pytest.mark.parametrize(
    ("hold", "release"),
    [("node_paused", "node_resumed"), ("sync_started", "sync_completed")],
    ids=["paused", "in-sync"],
)
def test_a_node_that_cannot_act_keeps_a_stale_device_view(hold: str, release: str) -> None:
    """qnetd's lms gives the vote to node 1 while node 2, quorate only with the vote it
    still counts, cannot act on its view: paused (it can neither act nor hear the NACK
    until it resumes), or synchronising a new ring (votequorum keeps the last ring's
    quorate state and device vote until a device poll with the new ring, and the sync
    delivers nothing). Node 2's view is not compared until it is released."""

    def history(needed: bool) -> Checker:
        c = Checker()
        c.quorum(2, 1, True, (2, 3), 1.0)
        c.device_vote(2, 1, True, needed, 1.0)
        getattr(c, hold)(2, 2.0)
        c.quorum(1, 1, True, (1,), 3.0)
        c.device_vote(1, 1, True, True, 3.0)
        return c

    excused = history(needed=True)
    assert excused.ok and excused.stale_views_excused == 1
    # a view that holds on node votes alone is compared, held or not
    assert names(history(needed=False)) == ["quorum-safety"]
    # released, node 2 is compared again until it withdraws the vote
    late = history(needed=True)
    getattr(late, release)(2, 4.0)
    late.quorum(1, 1, True, (1,), 4.5)
    assert names(late) == ["quorum-safety"]
    withdrawn = history(needed=True)
    getattr(withdrawn, release)(2, 4.0)
    withdrawn.device_vote(2, 1, False, False, 4.1)
    withdrawn.quorum(1, 1, True, (1,), 4.5)
    assert withdrawn.ok
