"""Ring formation, failure, leave, join and merge on an in-memory network (ref 5, 6.6, 7)."""

from __future__ import annotations

import pytest

from tests.srp.harness import Network
from totem.ringid import RingId
from totem.srp.events import ConfigurationKind, LogRecord, RingSeqChanged, StateChanged
from totem.srp.settings import SrpSettings
from totem.srp.state import MembState
from totem.srp.timers import Timer
from totem.srp.transitions import GatherReason
from totem.wire import CommitToken, MembJoin, decode, encode

THREE = SrpSettings(token=3650, token_retransmit=869, hold=685, consensus=4380)


def test_singleton_ring_forms_at_once_with_seq_stored_plus_five() -> None:
    net = Network([2])
    net.start(2)
    took = net.run_until(lambda: net.operational([2]))
    assert took < 0.01
    assert net.ring_of(2) == RingId(2, 5)
    configs = net.logs[2].configurations()
    assert [(c.kind, c.members, c.left, c.joined) for c in configs] == [
        (ConfigurationKind.TRANSITIONAL, (), (), ()),
        (ConfigurationKind.REGULAR, (2,), (), (2,)),
    ]
    assert RingSeqChanged(5) in net.logs[2].events
    notices = [e.message for e in net.logs[2].events if isinstance(e, LogRecord)]
    assert "A new membership (2.5) was formed. Members joined: 2" in notices


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 16])
def test_nodes_started_together_form_one_ring(count: int) -> None:
    ids = list(range(1, count + 1))
    net = Network(ids)
    net.start()
    net.run_until(lambda: net.operational(ids), timeout=30)
    ring = net.ring_of(1)
    assert ring.rep == 1
    for node_id in ids:
        regular = net.logs[node_id].regular()[-1]
        assert regular.members == tuple(ids)
        assert regular.ring_id == ring


def test_late_node_joins_running_ring() -> None:
    net = Network([1, 2, 3])
    net.start(1, 2)
    net.run_until(lambda: net.operational([1, 2], [1, 2]))
    first = net.ring_of(1)
    net.run_for(5.0)
    net.start(3)
    took = net.run_until(lambda: net.operational([1, 2, 3]))
    assert took < 0.5
    assert net.ring_of(3).seq > first.seq
    last = net.logs[1].regular()[-1]
    assert last.joined == (3,)
    trans = [c for c in net.logs[1].configurations() if c.kind is ConfigurationKind.TRANSITIONAL]
    assert trans[-1].members == (1, 2)


def test_killed_node_is_excluded_within_token_plus_consensus() -> None:
    net = Network([1, 2, 3], THREE)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    net.run_for(10.0)  # idle: the representative holds the token
    net.crash(3)
    took = net.run_until(lambda: net.operational([1, 2], [1, 2]), timeout=20)
    assert took <= (3650 + 4380) / 1000 + 0.2
    assert took >= 4380 / 1000  # at least the consensus wait
    trans = net.logs[1].configurations()[-2]
    assert (trans.kind, trans.members, trans.left) == (ConfigurationKind.TRANSITIONAL, (1, 2), (3,))
    notices = [e.message for e in net.logs[1].events if isinstance(e, LogRecord)]
    assert any(m.startswith("A processor failed, forming new configuration") for m in notices)
    assert "Failed to receive the leave message. failed: 3" in notices


def test_graceful_leave_reforms_without_waiting_for_token_timeout() -> None:
    net = Network([1, 2, 3], THREE)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    net.run_for(2.0)
    net.leave(3)
    took = net.run_until(lambda: net.operational([1, 2], [1, 2]))
    assert took < 0.1
    notices = [e.message for e in net.logs[1].events if isinstance(e, LogRecord)]
    assert not any("Failed to receive the leave message" in m for m in notices[-5:])


def _messages(net: Network, node_id: int) -> list[str]:
    return [e.message for e in net.logs[node_id].events if isinstance(e, LogRecord)]


def test_two_leaves_at_once_reform_without_waiting_for_token_timeout() -> None:
    """Node 2 answers node 3's LEAVE with a JOIN, so node 1 commits a ring {1, 2}; then node 2
    leaves too, its LEAVE carrying the old ring's seq while node 1 is in COMMIT. corosync
    3.1.7 drops that LEAVE and waits token + consensus; node 1 gathers again at once."""
    net = Network([1, 2, 3], THREE)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    net.run_for(2.0)
    old_seq = net.ring_of(1).seq
    net.leave(3)
    net.run_for(net.latency * 1.5)  # node 2 has read node 3's LEAVE and sent its JOIN
    net.leave(2)
    took = net.run_until(lambda: net.operational([1], [1]))
    assert took < 0.01
    messages = _messages(net, 1)
    assert "entering GATHER state from join during commit state." in messages
    assert "Received LEAVE message from 2" in messages
    assert not any("Failed to receive the leave message" in m for m in messages)
    assert not any("token was lost" in m.lower() for m in messages)
    trans = net.logs[1].configurations()[-2]
    assert (trans.kind, trans.members, trans.left) == (ConfigurationKind.TRANSITIONAL, (1,), (2, 3))
    assert net.ring_of(1).seq > old_seq


def test_stale_leave_of_an_earlier_ring_is_ignored_in_commit() -> None:
    """The exception above is for a LEAVE from the ring being left; a LEAVE from an older ring
    (a delayed datagram of a node that left before and is now back) counts for nothing."""
    net = Network([1, 2, 3], THREE)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    leaves: list[bytes] = []

    def record(src: int, dest: int, data: bytes) -> bool:
        if src == 3 and dest == 1 and data[3] == 3 and data[4:8] == b"\0\0\0\0":
            leaves.append(data)  # a JOIN (type 3) with header node id 0: node 3's LEAVE
        return False

    net.drop_rules.append(record)
    net.leave(3)
    net.run_until(lambda: net.operational([1, 2], [1, 2]))
    assert len(leaves) == 1
    net.run_for(2.0)
    net.start(3)
    net.run_until(lambda: net.nodes[1].state is MembState.COMMIT)
    seen = len(_messages(net, 1))
    net.nodes[1].receive(leaves[0], net.now)
    took = net.run_until(lambda: net.operational([1, 2, 3]))
    assert took < 0.01
    assert "Received LEAVE message from 3" not in _messages(net, 1)[seen:]


def test_rings_formed_in_quick_succession_are_not_a_process_pause() -> None:
    """The pause timer (token/5) runs on its own, as corosync's ``timer_function_pause_timeout``:
    forming rings more often than it fires must not hold it back, or the next JOIN finds a
    stale ``pause_timestamp``, is taken for the first sign of a process pause and flushed --
    a LEAVE among them then costs a consensus timeout."""
    settings = SrpSettings(token=1650, token_retransmit=393, hold=310, consensus=1980)
    net = Network([1, 2, 3], settings)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    for _ in range(6):  # node 3 leaves and comes back, a ring every ~150 ms
        net.leave(3)
        net.run_until(lambda: net.operational([1, 2], [1, 2]))
        net.run_for(0.05)
        net.start(3)
        net.run_until(lambda: net.operational([1, 2, 3]))
        net.run_for(0.1)
    net.leave(2)
    took = net.run_until(lambda: net.operational([1, 3], [1, 3]))
    assert took < 0.05
    assert not any("Process pause detected" in m for m in _messages(net, 1))


def test_killed_representative_is_replaced() -> None:
    net = Network([1, 2, 3], THREE)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    net.crash(1)
    net.run_until(lambda: net.operational([2, 3], [2, 3]), timeout=20)
    assert net.ring_of(2).rep == 2


def test_restarted_node_rejoins_with_a_higher_ring_seq() -> None:
    net = Network([1, 2, 3], THREE)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    before = net.ring_of(3)
    net.crash(3)
    net.run_until(lambda: net.operational([1, 2], [1, 2]), timeout=20)
    net.start(3)
    net.run_until(lambda: net.operational([1, 2, 3]), timeout=5)
    assert net.ring_of(3).seq > before.seq
    assert net.ring_seq_store[3] == net.ring_of(3).seq


def test_quick_restart_before_token_timeout_rejoins_fast() -> None:
    net = Network([1, 2, 3], THREE)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    net.crash(3)
    net.run_for(0.2)
    net.start(3)
    took = net.run_until(lambda: net.operational([1, 2, 3]), timeout=20)
    assert took < 1.0


def test_partition_forms_two_rings_and_heal_merges_them() -> None:
    ids = [1, 2, 3, 4]
    net = Network(ids, SrpSettings(token=1000, token_retransmit=238, hold=180, consensus=1200))
    net.start()
    net.run_until(lambda: net.operational(ids))
    net.partition({1, 2}, {3, 4})
    net.run_until(lambda: net.operational([1, 2], [1, 2]) and net.operational([3, 4], [3, 4]))
    assert net.ring_of(1) != net.ring_of(3)
    net.heal()
    took = net.run_until(lambda: net.operational(ids), timeout=10)
    assert took < 2.0  # merge detect from each representative, then one gather


def test_idle_ring_holds_the_token() -> None:
    net = Network([1, 2, 3], THREE)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    net.run_for(30.0)  # let it settle into the hold
    sent = net.sent
    net.run_for(68.5)  # 100 hold periods of 685 ms
    datagrams = net.sent - sent
    # one rotation (3 token hops) + one merge detect (3 copies) per hold period
    assert 500 <= datagrams <= 650
    assert net.operational([1, 2, 3])


def test_one_lost_token_is_retransmitted_without_membership_change() -> None:
    net = Network([1, 2, 3], THREE)
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    ring = net.ring_of(1)
    events_before = len(net.logs[2].events)
    dropped: list[bytes] = []

    def drop_first_token(src: int, dst: int, data: bytes) -> bool:
        if not dropped and data[3] == 0:
            dropped.append(data)
            return True
        return False

    net.drop_rules.append(drop_first_token)
    net.run_for(10.0)
    assert dropped
    assert net.ring_of(1) == ring
    assert (
        net.nodes[1].stats.token_retransmits
        + net.nodes[2].stats.token_retransmits
        + (net.nodes[3].stats.token_retransmits)
        >= 1
    )
    later = net.logs[2].events[events_before:]
    assert not [e for e in later if isinstance(e, StateChanged)]


def test_bad_datagrams_are_dropped_and_counted() -> None:
    net = Network([1])
    net.start()
    net.run_until(lambda: net.operational([1]))
    core = net.nodes[1]
    for data in (b"", b"\x70\xc0", b"\x00" * 60, b"\x70\xc0\x04" + b"\x00" * 40, bytes(range(200))):
        core.receive(data, net.now)
    assert core.stats.rx_msg_dropped == 5
    assert core.state is MembState.OPERATIONAL


def test_frames_naming_nodes_outside_the_nodelist_are_dropped() -> None:
    from totem.srp.core import SrpCore
    from totem.wire import MembJoin, encode

    core = SrpCore(1, nodelist=[1, 2, 3])
    core.start(0.0)
    while core.state is not MembState.OPERATIONAL:
        for datagram in core.outbox():
            core.receive(datagram.data, 0.0)
    bogus = MembJoin(
        nodeid=2, target_nodeid=0, system_from=2, proc_list=(2, 99), failed_list=(), ring_seq=9
    )
    before = list(core.ring.proc_list)
    core.receive(encode(bogus), 0.001)
    assert core.stats.dropped["unknown_node"] == 1
    assert core.ring.proc_list == before
    fine = MembJoin(
        nodeid=2, target_nodeid=0, system_from=2, proc_list=(2,), failed_list=(), ring_seq=9
    )
    core.receive(encode(fine), 0.002)
    assert 2 in core.ring.proc_list


def test_send_join_spreads_joins_and_the_ring_still_forms() -> None:
    ids = list(range(1, 17))
    net = Network(ids, SrpSettings(send_join=80))
    join_times: set[float] = set()

    def record_joins(src: int, dst: int, data: bytes) -> bool:
        if data[3] == 3:  # MEMB_JOIN
            join_times.add(net.now)
        return False  # drop nothing

    net.drop_rules.append(record_joins)
    net.start()
    net.run_until(lambda: net.operational(ids), timeout=30)
    first_wave = sorted(join_times)[:16]
    # without send_join every node's first JOIN leaves at t=0; with it they are spread out
    assert first_wave[-1] - first_wave[0] > 0.02


def test_a_join_that_adds_nothing_starts_no_gather() -> None:
    """A JOIN from a node of another ring whose failed list names a node mine does not:
    its failed list is not mine to take (the sender was not in my ring), its proc list
    adds nothing, so my state, timers and outbox stay as they are (no JOIN back)."""
    net = Network([1, 2, 3, 4, 5])
    net.partition([1], [2], [3], [4], [5])
    net.start(1, 2)
    net.run_until(lambda: net.operational([1]) and net.operational([2]))
    one = net.nodes[1]
    one.ring.proc_list = [1, 2, 3, 4, 5]
    one.ring.failed_list = [4]
    one.gather_enter(net.now, GatherReason.INTERFACE_CHANGE)
    net._pump(1)
    consensus_deadline = one.timers.due_at(Timer.CONSENSUS)
    join = MembJoin(
        nodeid=2,
        target_nodeid=0,
        system_from=2,
        proc_list=(1, 2, 3, 4, 5),
        failed_list=(5,),
        ring_seq=net.ring_of(2).seq,
    )
    net.now += 0.01
    one.receive(encode(join), net.now)
    assert one.outbox() == []
    assert [e for e in one.events() if isinstance(e, StateChanged)] == []
    assert (one.ring.proc_list, one.ring.failed_list, one.ring.consensus) == (
        [1, 2, 3, 4, 5],
        [4],
        {1},
    )
    assert one.timers.due_at(Timer.CONSENSUS) == consensus_deadline


def test_nodes_whose_failed_lists_differ_fail_each_other_and_then_merge() -> None:
    """Three nodes of three singleton rings gather, each with a different dead node in its
    failed list. corosync 3.1.7 re-enters GATHER at every JOIN of the others (none takes
    the others' failed lists): every JOIN is answered by two, the JOINs in flight double
    at every hop and the consensus timer never fires. Here the consensus timeout fails
    the others, singletons form, and merge detection then joins the three in one ring."""
    net = Network([1, 2, 3, 4, 5, 6], THREE)
    net.partition([1], [2], [3], [4], [5], [6])
    net.start(1, 2, 3)
    net.run_until(lambda: all(net.operational([i]) for i in (1, 2, 3)))
    net.heal()
    for node_id, dead in ((1, 4), (2, 5), (3, 6)):
        core = net.nodes[node_id]
        core.ring.proc_list = [1, 2, 3, 4, 5, 6]
        core.ring.failed_list = [dead]
        core.gather_enter(net.now, GatherReason.INTERFACE_CHANGE)
        net._pump(node_id)
    start, sent = net.now, net.sent
    while not net.operational([1, 2, 3]):
        assert net.step()
        assert net.sent - sent < 20_000, "a JOIN storm"
    assert net.now - start < 3 * THREE.consensus / 1000
    joins = sum(net.nodes[i].stats.memb_join_tx for i in (1, 2, 3))
    assert joins < 1000


def test_a_ring_that_is_never_installed_leaves_no_failed_list_behind() -> None:
    """Ring {1,2,3,4} loses node 4; 1-3 fail it and commit to ring {1,2,3}, but node 3
    never gets the commit token, so 1 and 2 go back to GATHER from COMMIT. The failed
    list that shaped the lost ring was forgotten on commit: the JOIN node 2 sends on
    leaving COMMIT names no failed node (it learns failures afresh from then on)."""
    ids = [1, 2, 3, 4]
    net = Network(ids, THREE)
    net.start()
    net.run_until(lambda: net.operational(ids))
    joins_of_2: list[MembJoin] = []

    def rule(src: int, dst: int, data: bytes) -> bool:
        message = decode(data)
        if isinstance(message, MembJoin) and src == dst == 2:
            joins_of_2.append(message)
        return isinstance(message, CommitToken) and dst == 3

    net.drop_rules.append(rule)
    net.crash(4)
    core = net.nodes[2]
    net.run_until(lambda: core.state is MembState.COMMIT, timeout=20)
    commit = core.ring.commit_token
    assert commit is not None and commit.addr == [1, 2, 3]
    assert joins_of_2[-1].failed_list == (4,)  # the JOIN that agreed on ring {1,2,3}
    assert core.ring.failed_list == []
    joins_of_2.clear()
    net.run_until(lambda: core.state is MembState.GATHER, timeout=20)
    net.run_for(0.0001)
    assert joins_of_2[0].failed_list == ()
    assert sorted(joins_of_2[0].proc_list) == ids
