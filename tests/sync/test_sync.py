"""The sync protocol over a fake total-order bus (ref totem-wire.md section 10)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest

from tests.sync.fakebus import FakeBus, Sent
from totem.ringid import RingId
from totem.service import Service
from totem.srp.events import LogLevel
from totem.sync import SYNC_GROUP, SyncAborted, SyncCompleted, SyncStarted, SyncState


class Recorder(Service):
    """A sync participant that records every call; optionally sends one exec message."""

    sync_participant = True

    def __init__(self, service_id: int, name: str, pending_rounds: int = 0) -> None:
        super().__init__()
        self.service_id = service_id
        self.name = name
        self.calls: list[tuple[str, object]] = []
        self.pending_rounds = pending_rounds

    def sync_init(
        self, trans_members: Sequence[int], members: Sequence[int], ring_id: RingId, now: float
    ) -> None:
        self.calls.append(("init", (tuple(trans_members), tuple(members), ring_id)))

    def sync_process(self, now: float) -> bool:
        self.calls.append(("process", now))
        if self.pending_rounds:
            self.pending_rounds -= 1
            return False
        return True

    def sync_activate(self, now: float) -> None:
        self.calls.append(("activate", now))

    def sync_abort(self) -> None:
        self.calls.append(("abort", None))


def recorders(node_id: int) -> list[Service]:
    return [Recorder(0, "cmap"), Recorder(3, "quorum"), Recorder(5, "votequorum")]


def sync_messages(history: list[Sent]) -> list[tuple[int, int, RingId]]:
    """(sender, message id, ring) of every sync message in global order."""
    out = []
    for sent in history:
        if sent.group == SYNC_GROUP:
            msg_id = struct.unpack_from("<i", sent.payload)[0]
            rep, seq = struct.unpack_from("<IQ", sent.payload, 16)
            out.append((sent.sender, msg_id, RingId(rep, seq)))
    return out


def barrier(ring: RingId) -> bytes:
    return struct.pack("<i4xi4xIQ4x", 0, 32, ring.rep, ring.seq)


def service_build(ring: RingId, ids: Sequence[int]) -> bytes:
    body = list(ids) + [0] * (128 - len(ids))
    return struct.pack("<i4xi4xIQ4xi4x128i", 1, 552, ring.rep, ring.seq, len(ids), *body)


@pytest.fixture
def bus3() -> FakeBus:
    bus = FakeBus(recorders)
    bus.start([1, 2, 3])
    bus.run()
    return bus


def test_wire_layout_matches_the_capture() -> None:
    """ref 8: the 40-byte 'sync' message of the annotated capture is a 32-byte barrier."""
    expected = bytes.fromhex("0000000000000000200000000000000001000000050000000000000000000000")
    assert barrier(RingId(1, 5)) == expected
    bus = FakeBus(recorders)
    bus.start([1])
    bus.run()
    ring = bus.form_ring([1], RingId(1, 5))
    assert bus.queue[0].payload == service_build(ring, [0, 3, 5])
    assert len(bus.queue[0].payload) == 552
    bus.run()
    assert [s.payload for s in bus.sent_by(1, ring)][1:] == [expected] * 3


def test_sync_completes_with_barriers_in_lockstep(bus3: FakeBus) -> None:
    ring = bus3.form_ring([1, 2, 3])
    bus3.run()
    msgs = [m for m in sync_messages(bus3.history) if m[2] == ring]
    assert [m[1] for m in msgs[:3]] == [1, 1, 1]
    barriers = [m for m in msgs[3:]]
    assert all(m[1] == 0 for m in barriers)
    # One barrier per node per round, and round k+1 only starts after round k completed.
    rounds = [barriers[i : i + 3] for i in range(0, 9, 3)]
    assert len(barriers) == 9
    for rnd in rounds:
        assert sorted(m[0] for m in rnd) == [1, 2, 3]
    for node in bus3.nodes.values():
        assert node.sync.in_progress is False
        assert node.sync.service_list == (0, 3, 5)
        assert SyncCompleted(ring) in node.sync_events
        for svc in node.services:
            assert isinstance(svc, Recorder)
            kinds = [c[0] for c in svc.calls[-3:]]
            assert kinds == ["init", "process", "activate"]
        assert node.messages(LogLevel.NOTICE, "MAIN")[-1] == (
            "Completed service synchronization, ready to provide service."
        )


def test_services_see_transitional_members_still_present(bus3: FakeBus) -> None:
    ring = bus3.form_ring([1, 2, 3])
    bus3.run()
    bus3.crash(3)
    ring2 = bus3.form_ring([1, 2])
    bus3.run()
    svc = bus3.nodes[1].service(5)
    assert svc.calls[-3] == ("init", ((1, 2), (1, 2), ring2))
    del ring


def test_activation_order_across_nodes_is_total(bus3: FakeBus) -> None:
    """No node activates service k+1 before every node activated service k."""
    bus3.form_ring([1, 2, 3])
    order: list[tuple[int, int]] = []
    while bus3.step():
        for nid, node in bus3.nodes.items():
            for svc in node.services:
                assert isinstance(svc, Recorder)
                if (
                    svc.calls
                    and svc.calls[-1][0] == "activate"
                    and (nid, svc.service_id) not in order
                ):
                    order.append((nid, svc.service_id))
    assert [sid for _, sid in order] == [0, 0, 0, 3, 3, 3, 5, 5, 5]


def test_confchg_mid_sync_aborts_and_restarts(bus3: FakeBus) -> None:
    ring = bus3.form_ring([1, 2, 3])
    for _ in range(5):  # the 3 service builds and 2 barriers of round 0
        bus3.step()
    assert bus3.nodes[1].sync.state is SyncState.BARRIER
    assert bus3.nodes[1].sync.current_service == 0
    ring2 = bus3.form_ring([1, 2, 3])
    bus3.run()
    for node in bus3.nodes.values():
        assert SyncAborted(ring) in node.sync_events
        assert SyncCompleted(ring) not in node.sync_events
        assert node.sync_events[-1] == SyncCompleted(ring2)
        # the third barrier of the old ring arrived in the transitional configuration
        assert node.sync.counters["old_ring"] == 1
        svc = node.service(0)
        # not pending in sync_process: corosync does not call sync_abort then
        assert ("abort", None) not in svc.calls
        assert sum(1 for c in svc.calls if c[0] == "activate") == 2  # singleton + ring2


def test_abort_while_process_pending_calls_sync_abort() -> None:
    def factory(nid: int) -> list[Service]:
        return [Recorder(0, "cmap", pending_rounds=0 if nid != 2 else 100)]

    bus = FakeBus(factory)
    bus.start([1])
    bus.run()
    bus.start([2])
    bus.advance(1.0)  # node 2 never finishes its singleton sync
    assert bus.nodes[2].sync.state is SyncState.PROCESS
    bus.form_ring([1, 2])
    svc2 = bus.nodes[2].service(0)
    assert ("abort", None) in svc2.calls
    assert ("abort", None) not in bus.nodes[1].service(0).calls


def test_pending_sync_process_is_retried_on_deadline() -> None:
    def factory(nid: int) -> list[Service]:
        return [Recorder(0, "cmap")]

    bus = FakeBus(factory)
    bus.start([1, 2])
    bus.advance(1.0)
    bus.nodes[2].service(0).pending_rounds = 2
    ring = bus.form_ring([1, 2])
    bus.run()
    node2 = bus.nodes[2]
    assert node2.sync.in_progress
    deadline = node2.sync.next_deadline()
    assert deadline is not None
    bus.advance(deadline)
    assert node2.sync.in_progress  # second attempt still pending
    bus.advance(deadline + 1.0)
    assert not node2.sync.in_progress
    assert bus.nodes[1].sync_events[-1] == SyncCompleted(ring)


def test_peer_with_an_extra_service_adds_a_dummy_round() -> None:
    def factory(nid: int) -> list[Service]:
        services: list[Service] = [Recorder(0, "cmap"), Recorder(5, "votequorum")]
        if nid == 3:
            services.append(Recorder(7, "wd-like"))
        return services

    bus = FakeBus(factory)
    bus.start([1, 2, 3])
    bus.run()
    ring = bus.form_ring([1, 2, 3])
    bus.run()
    for node in bus.nodes.values():
        assert node.sync.service_list == (0, 5, 7)
        assert node.sync_events[-1] == SyncCompleted(ring)
    # four rounds of barriers from every node
    barriers = [m for m in sync_messages(bus.history) if m[2] == ring and m[1] == 0]
    assert len(barriers) == 9
    assert "Committing synchronization for Unknown External Service (id = 7)" in bus.nodes[
        1
    ].messages(LogLevel.DEBUG, "SYNC")


def test_early_barrier_is_absorbed_and_the_next_round_stalls(bus3: FakeBus) -> None:
    """A foreign node 3 sends its round-1 barrier before round 0 completed (ref 10.2)."""
    bus3.nodes[3].mute_sync = True
    ring = bus3.form_ring([1, 2, 3])
    bus3.inject(3, SYNC_GROUP, service_build(ring, [0, 3, 5]))
    for _ in range(3):  # the three service builds; nodes 1 and 2 now send round-0 barriers
        bus3.step()
    bus3.inject(3, SYNC_GROUP, barrier(ring))  # round 0
    bus3.queue.insert(0, bus3.queue.pop())  # delivered before 1's and 2's round-0 barriers
    bus3.inject(3, SYNC_GROUP, barrier(ring))  # "round 1", sent early
    bus3.queue.insert(1, bus3.queue.pop())
    bus3.run()
    for nid in (1, 2):
        node = bus3.nodes[nid]
        assert node.sync.in_progress
        assert node.sync.current_service == 3  # round 1 waits for node 3 for ever
        assert SyncCompleted(ring) not in node.sync_events


def test_barrier_of_another_ring_is_discarded(bus3: FakeBus) -> None:
    ring = bus3.form_ring([1, 2, 3])
    for _ in range(3):
        bus3.step()
    bus3.inject(2, SYNC_GROUP, barrier(RingId(ring.rep, ring.seq - 4)))
    bus3.inject(2, SYNC_GROUP, service_build(RingId(9, 9), [0, 1, 2]))
    bus3.run()
    for node in bus3.nodes.values():
        assert node.sync.counters["old_ring"] == 2
        assert node.sync_events[-1] == SyncCompleted(ring)
        assert node.sync.service_list == (0, 3, 5)
    logs = bus3.nodes[1].messages(LogLevel.DEBUG, "SYNC")
    assert "barrier for old ring - discarding" in logs
    assert "service build for old ring - discarding" in logs


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00" * 31,
        service_build(RingId(1, 4), [0])[:100],
        struct.pack("<i4xi4xIQ4x", 7, 32, 1, 4),
    ],
)
def test_malformed_sync_messages_are_dropped_and_counted(bus3: FakeBus, payload: bytes) -> None:
    ring = bus3.form_ring([1, 2, 3])
    bus3.inject(1, SYNC_GROUP, payload)
    bus3.run()
    for node in bus3.nodes.values():
        assert node.sync.counters["malformed"] == 1
        assert node.sync_events[-1] == SyncCompleted(ring)


def test_messages_after_completion_are_ignored(bus3: FakeBus) -> None:
    ring = bus3.form_ring([1, 2, 3])
    bus3.run()
    bus3.inject(1, SYNC_GROUP, barrier(ring))
    bus3.inject(1, SYNC_GROUP, service_build(ring, [0]))
    bus3.run()
    assert bus3.nodes[2].sync.counters["after_completion"] == 2


def test_late_service_build_is_ignored(bus3: FakeBus) -> None:
    ring = bus3.form_ring([1, 2, 3])
    for _ in range(3):
        bus3.step()
    bus3.inject(2, SYNC_GROUP, service_build(ring, [0, 9]))
    bus3.run()
    for node in bus3.nodes.values():
        assert node.sync.counters["late_service_build"] == 1
        assert node.sync.service_list == (0, 3, 5)
        assert node.sync_events[-1] == SyncCompleted(ring)


def test_sync_started_event_and_members(bus3: FakeBus) -> None:
    ring = bus3.form_ring([1, 2, 3])
    assert SyncStarted(ring, (1, 2, 3)) in bus3.nodes[2].sync_events
    assert bus3.nodes[2].sync.in_progress
    assert bus3.nodes[2].sync.ring_id == ring
