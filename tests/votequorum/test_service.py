"""VotequorumService over the fake bus (ref 10.3, 11.2, 11.3)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sync.fakebus import FakeBus
from totem.ringid import RingId
from totem.service import Service
from totem.services import EXEC_GROUP, QuorumService, encode_exec
from totem.srp.events import LogLevel
from votequorum.calc import NodeState
from votequorum.events import (
    EvTrackingBarrierChanged,
    QdeviceRegistration,
    QuorumChanged,
    VotequorumError,
)
from votequorum.service import VotequorumService
from votequorum.settings import NodelistEntry, QdeviceSettings, VotequorumSettings
from votequorum.status import InfoFlags


def make_bus(settings: VotequorumSettings) -> FakeBus:
    def factory(nid: int) -> list[Service]:
        quorum = QuorumService()
        return [quorum, VotequorumService(settings, quorum.set_quorum)]

    return FakeBus(factory)


def vq(bus: FakeBus, nid: int) -> VotequorumService:
    svc = bus.nodes[nid].service(5)
    assert isinstance(svc, VotequorumService)
    return svc


def cluster(n: int, **options: object) -> FakeBus:
    bus = make_bus(VotequorumSettings.from_nodes(list(range(1, n + 1)), **options))
    bus.start(range(1, n + 1))
    bus.run()
    bus.form_ring(range(1, n + 1))
    bus.run()
    return bus


def test_three_nodes_are_quorate_with_quorum_two() -> None:
    bus = cluster(3)
    for nid in (1, 2, 3):
        snap = vq(bus, nid).snapshot()
        assert (snap.quorate, snap.quorum, snap.total_votes, snap.expected_votes) == (True, 2, 3, 3)
        assert snap.members == (1, 2, 3)
        assert snap.flag_words == ("Quorate",)
        assert bus.nodes[nid].service(3).quorate
    events = [e for e in bus.nodes[1].service_events if isinstance(e, QuorumChanged)]
    assert events[-1] == QuorumChanged(True, bus.nodes[1].ring, (1, 2, 3), 2, 3, 3)  # type: ignore[arg-type]


def test_kill_two_then_expected_votes_one() -> None:
    bus = cluster(3)
    bus.crash(2)
    bus.crash(3)
    ring = bus.form_ring([1])
    bus.run()
    svc = vq(bus, 1)
    snap = svc.snapshot()
    assert (snap.quorate, snap.quorum, snap.total_votes, snap.ring_id) == (False, 2, 1, ring)
    assert [n.state for n in snap.nodes] == [NodeState.MEMBER, NodeState.DEAD, NodeState.DEAD]
    assert bus.nodes[1].messages(LogLevel.NOTICE, "QUORUM")[-2:] == [
        "This node is within the non-primary component and will NOT provide any services.",
        "Members[1]: 1",
    ]
    svc.set_expected_votes(1)  # pvecm expected 1
    sent = bus.queue[-1].payload
    assert struct.unpack_from("<IIIB", sent, 0)[0] == 5 << 16 | 1
    assert struct.unpack_from("<IIB", sent, 16) == (1, 1, 1)
    bus.run()
    snap = svc.snapshot()
    assert (snap.quorate, snap.quorum, snap.expected_votes, snap.highest_expected) == (
        True,
        1,
        1,
        1,
    )
    assert bus.nodes[1].messages(LogLevel.NOTICE, "QUORUM")[-1] == "Members[1]: 1"


def test_expected_votes_refusals_read_like_quorumtool() -> None:
    bus = cluster(3)
    svc = vq(bus, 1)
    with pytest.raises(VotequorumError) as err:
        svc.set_expected_votes(0)
    assert err.value.message == "New expected votes value was not valid, try a positive number"
    with pytest.raises(VotequorumError) as err:
        svc.set_expected_votes(2)
    assert err.value.message == "Unable to set expected votes: CS_ERR_INVALID_PARAM"
    assert err.value.cs_error == "CS_ERR_INVALID_PARAM"
    assert "lower than the total votes 3" in str(err.value)
    with pytest.raises(VotequorumError, match="quorum would become 4 with only 3 votes"):
        svc.set_expected_votes(6)
    svc.set_expected_votes(5)
    bus.run()
    assert [vq(bus, n).snapshot().quorum for n in (1, 2, 3)] == [3, 3, 3]
    # every node adopts the new expected votes, so its next NODEINFO keeps it
    bus.form_ring([1, 2, 3])
    bus.run()
    assert [vq(bus, n).expected_votes for n in (1, 2, 3)] == [5, 5, 5]


def test_set_votes_refusals_and_reconfigure() -> None:
    bus = cluster(3)
    svc = vq(bus, 2)
    with pytest.raises(VotequorumError) as err:
        svc.set_votes(1, -1)
    assert err.value.message == "New votes value was not valid, try a positive number or zero"
    with pytest.raises(VotequorumError) as err:
        svc.set_votes(9, 1)
    assert err.value.message == "Unable to set votes 1 for nodeid: 9: CS_ERR_NAME_NOT_FOUND"
    svc.set_votes(3, 2)
    bus.run()
    for nid in (1, 2, 3):
        snap = vq(bus, nid).snapshot()
        assert snap.total_votes == 4 and snap.expected_votes == 4 and snap.quorum == 3


def test_two_node_and_wait_for_all_start_up() -> None:
    bus = make_bus(VotequorumSettings.from_nodes([1, 2], two_node=True))
    bus.start([1, 2])
    bus.run()
    for nid in (1, 2):
        snap = vq(bus, nid).snapshot()
        # alone at start-up: quorum 1 but wait_for_all holds it back
        assert (snap.quorate, snap.quorum) == (False, 1)
        assert snap.flag_words == ("2Node", "WaitForAll")
    waiting = bus.nodes[1].messages(LogLevel.NOTICE, "VOTEQ")
    assert waiting[0] == "Waiting for all cluster members. Current votes: 1 expected_votes: 2"
    bus.form_ring([1, 2])
    bus.run()
    assert all(vq(bus, n).snapshot().quorate for n in (1, 2))
    assert vq(bus, 1).snapshot().flag_words == ("2Node", "Quorate", "WaitForAll")
    bus.crash(2)
    bus.form_ring([1])
    bus.run()
    assert vq(bus, 1).snapshot().quorate  # two_node keeps the survivor quorate


def test_wait_for_all_after_losing_quorum_waits_for_everyone_again() -> None:
    bus = cluster(3, wait_for_all=True)
    bus.crash(3)
    bus.form_ring([1, 2])
    bus.run()
    assert vq(bus, 1).quorate
    bus.crash(2)
    bus.form_ring([1])
    bus.run()
    assert not vq(bus, 1).quorate
    bus.start([2])
    bus.run()
    bus.form_ring([1, 2])
    bus.run()
    assert not vq(bus, 1).quorate and not vq(bus, 2).quorate
    bus.start([3])
    bus.run()
    bus.form_ring([1, 2, 3])
    bus.run()
    assert all(vq(bus, n).quorate for n in (1, 2, 3))


def test_cancel_wait_for_all() -> None:
    bus = make_bus(VotequorumSettings.from_nodes([1, 2, 3], wait_for_all=True))
    bus.start([1, 2])
    bus.run()
    bus.form_ring([1, 2])
    bus.run()
    assert not vq(bus, 1).quorate
    vq(bus, 1).cancel_wait_for_all()
    bus.run()
    assert vq(bus, 1).quorate and vq(bus, 2).quorate
    assert "wait_for_all_status reset by user on node 1." in bus.nodes[2].messages(LogLevel.INFO)


def test_last_man_standing_shrinks_expected_votes_window_by_window() -> None:
    bus = cluster(5, last_man_standing=True, last_man_standing_window_ms=10000)
    for gone, alive in ((5, [1, 2, 3, 4]), (4, [1, 2, 3]), (3, [1, 2])):
        bus.crash(gone)
        bus.form_ring(alive)
        bus.run()
        svc = vq(bus, 1)
        before = svc.expected_votes
        assert svc.quorate
        assert svc.next_deadline() == pytest.approx(bus.now + 10.0)
        bus.advance(bus.now + 9.9)
        assert svc.expected_votes == before
        bus.advance(bus.now + 0.2)
        assert svc.expected_votes == len(alive)
        assert svc.snapshot().quorum == len(alive) // 2 + 1
        assert svc.snapshot().flag_words == ("Quorate", "LastManStanding")
    bus.crash(2)
    bus.form_ring([1])
    bus.run()
    assert not vq(bus, 1).quorate  # 1 of expected 2: LMS alone cannot go to one node


def test_last_man_standing_is_disabled_by_a_heavy_node() -> None:
    settings = VotequorumSettings(
        nodelist=(NodelistEntry(1, 2), NodelistEntry(2), NodelistEntry(3)), last_man_standing=True
    )
    bus = make_bus(settings)
    bus.start([1, 2, 3])
    bus.run()
    bus.form_ring([1, 2, 3])
    bus.run()
    assert "Disabling LMS" in bus.nodes[2].messages(LogLevel.WARNING, "VOTEQ")[0]
    assert "LastManStanding" not in vq(bus, 2).snapshot().flag_words


@pytest.mark.parametrize(
    ("fn", "body"),
    [
        (0, b"\x01" * 15),
        (0, b"\x01" * 20),
        (1, b"\x00" * 12),
        (1, bytes(8) + b"\x09" + bytes(7)),
        (2, b""),
    ],
)
def test_malformed_messages_are_dropped_and_counted(fn: int, body: bytes) -> None:
    bus = cluster(3)
    before = vq(bus, 2).snapshot()
    bus.inject(1, EXEC_GROUP, encode_exec(5, fn, body))
    bus.run()
    for nid in (1, 2, 3):
        assert vq(bus, nid).counters["malformed"] == 1
    assert vq(bus, 2).snapshot() == before


def test_unknown_exec_function_is_discarded_by_the_dispatcher() -> None:
    bus = cluster(2)
    bus.inject(1, EXEC_GROUP, encode_exec(5, 4, b""))
    bus.run()
    assert bus.nodes[2].dispatcher.counters["unknown_function"] == 1
    assert bus.nodes[2].messages(LogLevel.WARNING, "MAIN") == [
        "discarded unknown message 4 for service 5 (max id 4)"
    ]


def test_qdevice_nodeinfo_from_an_unknown_sender_is_dropped() -> None:
    bus = make_bus(VotequorumSettings.from_nodes([1, 2, 3]))
    bus.start([1])
    bus.run()
    bus.nodes[1].dispatcher.deliver(7, encode_exec(5, 0, struct.pack("<IIII", 0, 1, 0, 0)), 0.0)
    assert vq(bus, 1).counters["qdevice_nodeinfo_unknown_sender"] == 1


def test_leave_with_allow_downscale() -> None:
    bus = cluster(3, allow_downscale=True)
    events = bus.nodes[1].service_events
    assert EvTrackingBarrierChanged(3) in events
    vq(bus, 3).leave()
    bus.run()
    snap = vq(bus, 1).snapshot()
    assert snap.node(3).state is NodeState.LEAVING  # type: ignore[union-attr]
    assert snap.flag_words == ("Quorate", "AllowDownscale")


def qdevice_bus() -> FakeBus:
    settings = VotequorumSettings(
        nodelist=(NodelistEntry(1), NodelistEntry(2)), device=QdeviceSettings("net", votes=1)
    )
    bus = make_bus(settings)
    bus.start([1, 2])
    bus.run()
    bus.form_ring([1, 2])
    bus.run()
    return bus


def test_qdevice_register_poll_and_lose_contact() -> None:
    bus = qdevice_bus()
    ring = bus.nodes[1].ring
    assert ring is not None
    for nid in (1, 2):
        vq(bus, nid).qdevice_register("Qdevice")
    bus.run()
    assert QdeviceRegistration("Qdevice", None) in bus.nodes[1].service_events
    for nid in (1, 2):
        vq(bus, nid).qdevice_poll("Qdevice", True, ring, bus.now)
    bus.run()
    snap = vq(bus, 1).snapshot()
    assert (snap.total_votes, snap.expected_votes, snap.quorum) == (3, 3, 2)
    assert snap.flag_words == ("Quorate", "Qdevice")
    with pytest.raises(VotequorumError, match="CS_ERR_MESSAGE_ERROR"):
        vq(bus, 1).qdevice_poll("Qdevice", True, RingId(9, 9), bus.now)
    with pytest.raises(VotequorumError, match="CS_ERR_EXIST"):
        vq(bus, 1).qdevice_register("Other")
    # node 2 dies; node 1 waits for a poll with the new ring before finishing sync
    bus.crash(2)
    ring2 = bus.form_ring([1])
    bus.run()
    node1 = bus.nodes[1]
    assert node1.sync.in_progress
    assert "waiting for quorum device Qdevice poll (but maximum for 30000 ms)" in node1.messages(
        LogLevel.INFO
    )
    vq(bus, 1).qdevice_poll("Qdevice", True, ring2, bus.now)
    bus.advance(bus.now + 0.1)
    assert not node1.sync.in_progress
    snap = vq(bus, 1).snapshot()
    assert (snap.quorate, snap.total_votes, snap.quorum) == (True, 2, 2)
    # no poll within the qdevice timeout: contact is lost, with it the vote
    bus.advance(bus.now + 10.5)
    assert "lost contact with quorum device Qdevice" in node1.messages(LogLevel.INFO)
    assert not vq(bus, 1).snapshot().quorate


def test_a_stale_own_nodeinfo_does_not_bring_back_a_withdrawn_device_vote() -> None:
    """Our NODEINFO from before a ring change can arrive after a newer poll (totemsrp sends
    what was queued before the change only once the new ring has synced). Its flags are
    stale; corosync 3.1.7 would copy them (CAST_VOTE again) over its own, we keep ours."""
    bus = qdevice_bus()
    ring = bus.nodes[1].ring
    assert ring is not None
    svc = vq(bus, 1)
    svc.qdevice_register("Qdevice")
    bus.run()
    svc.qdevice_poll("Qdevice", True, ring, bus.now)
    bus.run()
    assert svc.snapshot().total_votes == 3
    voted = svc.snapshot().node(1).flags  # type: ignore[union-attr]
    svc.qdevice_poll("Qdevice", False, ring, bus.now)  # qnetd said NACK
    bus.run()
    assert svc.snapshot().total_votes == 2
    stale = struct.pack("<IIII", 1, 1, 3, 1 | 16 | 32 | 64)  # QUORATE, REGISTERED, ALIVE, CAST
    bus.nodes[1].dispatcher.deliver(1, encode_exec(5, 0, stale), bus.now)
    snap = svc.snapshot()
    assert snap.total_votes == 2
    assert snap.node(1).flags != voted  # type: ignore[union-attr]
    assert svc.counters["stale_own_nodeinfo"] == 1


def test_a_stale_own_nodeinfo_is_corrected_on_every_node() -> None:
    """The stale NODEINFO reaches every node in the same total order; the others copy it, so
    its sender sends its real flags at once: every node ends with them, without waiting for
    the device's next change of mind (up to its sync_timeout)."""
    bus = qdevice_bus()
    ring = bus.nodes[1].ring
    assert ring is not None
    svc = vq(bus, 1)
    svc.qdevice_register("Qdevice")
    bus.run()
    svc.qdevice_poll("Qdevice", True, ring, bus.now)
    bus.run()

    def casts(nid: int) -> bool:
        node = vq(bus, nid).snapshot().node(1)
        assert node is not None
        return bool(node.flags & InfoFlags.QDEVICE_CAST_VOTE)

    assert casts(1) and casts(2)
    stale = struct.pack("<IIII", 1, 1, 3, 1 | 16 | 32)  # from before the ACK: no CAST_VOTE
    for node in bus.nodes.values():
        node.dispatcher.deliver(1, encode_exec(5, 0, stale), bus.now)
    assert casts(1) and not casts(2)  # node 2 copied the stale flags
    bus.run()
    assert casts(1) and casts(2)
    assert svc.counters["stale_own_nodeinfo"] == 1  # its own correction is not stale


def test_qdevice_nodeinfo_follows_own_nodeinfo() -> None:
    bus = qdevice_bus()
    ring = bus.form_ring([1, 2])
    bus.run()
    seq = [
        struct.unpack_from("<I", s.payload, 16)[0]
        for s in bus.sent_by(1, ring)
        if s.group == EXEC_GROUP and struct.unpack_from("<I", s.payload)[0] == 5 << 16
    ]
    assert seq == [1, 0]


# --- the safety property ----------------------------------------------------------------------
@st.composite
def split_histories(draw: st.DrawFn) -> tuple[VotequorumSettings, list[list[int]]]:
    n = draw(st.integers(2, 6))
    # auto_tie_breaker is excluded: corosync itself split-brains with it after multi-step
    # partitions (each node remembers its own "lowest"/"previous" view), with node lists
    # ("2n-atb-list-reform") and on odd vote totals ("2n-weighted-atb-split-brain"); the
    # vqsim data shows our service does exactly what corosync does there.
    votes = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    wfa = draw(st.sampled_from([None, True, False]))
    settings = VotequorumSettings(
        nodelist=tuple(NodelistEntry(i + 1, v) for i, v in enumerate(votes)),
        wait_for_all=wfa,
    )
    history = draw(
        st.lists(st.lists(st.integers(0, 2), min_size=n, max_size=n), min_size=1, max_size=5)
    )
    return settings, history


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_histories())
def test_never_two_disjoint_partitions_quorate(
    case: tuple[VotequorumSettings, list[list[int]]],
) -> None:
    config, history = case
    bus = make_bus(config)
    ids = [e.nodeid for e in config.nodelist]
    bus.start(ids)
    bus.run()
    bus.form_ring(ids)
    bus.run()
    assignment = dict.fromkeys(ids, 0)
    for step in history:
        new = dict(zip(ids, step, strict=True))
        changed = {assignment[n] for n in ids if new[n] != assignment[n]} | {
            new[n] for n in ids if new[n] != assignment[n]
        }
        assignment = new
        for group in sorted(changed):
            members = [n for n in ids if assignment[n] == group]
            if members:
                bus.form_ring(members)
                bus.run()
        quorate_groups = {
            assignment[n] for n in ids if vq(bus, n).quorate or bus.nodes[n].service(3).quorate
        }
        assert len(quorate_groups) <= 1, (assignment, quorate_groups)
