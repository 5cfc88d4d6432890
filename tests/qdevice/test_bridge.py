"""The qdevice <-> votequorum bridge: registration, polls and their errors (ref section 8)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from qnetd.protocol.constants import DecisionAlgorithm
from totem.ringid import RingId
from totem.sync import SyncCompleted
from votequorum.calc import NodeState
from votequorum.events import (
    ExpectedVotesChanged,
    NodeListNotification,
    QdeviceRegistration,
    QuorumChanged,
    VotequorumError,
)
from votequorum.qdevice.bridge import BridgeState, VotequorumBridge
from votequorum.qdevice.events import ClientState, Connect, Poll, Stopped
from votequorum.qdevice.net_client import QdeviceNetClient
from votequorum.qdevice.requests import QuorumNode
from votequorum.status import InfoFlags, NodeStatus, VotequorumStatus

from .fullstack import FullStack, corosync_conf
from .world import settings

RING = RingId(1, 8)


@dataclass
class FakeVotequorum:
    """Records the library calls; ``fail`` maps a call name to the error it raises."""

    ring: RingId = field(default_factory=lambda: RingId(0, 0))
    members: tuple[int, ...] = ()
    votes: dict[int, int] = field(default_factory=lambda: {1: 1, 2: 1})
    qdevice_votes: int = 1
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)

    @property
    def quorate(self) -> bool:
        return True

    @property
    def expected_votes(self) -> int:
        return 3

    def _maybe_fail(self, call: str) -> None:
        if call in self.fail:
            raise VotequorumError(f"{call}: {self.fail[call]}", self.fail[call])

    def qdevice_register(self, name: str) -> None:
        self.calls.append(("register", name))
        self._maybe_fail("register")

    def qdevice_unregister(self, name: str) -> None:
        self.calls.append(("unregister", name))
        self._maybe_fail("unregister")

    def qdevice_poll(self, name: str, cast_vote: bool, ring_id: RingId, now: float) -> None:
        self.calls.append(("poll", name, cast_vote, ring_id))
        self._maybe_fail("poll")

    def qdevice_master_wins(self, name: str, allow: bool) -> None:
        self.calls.append(("master_wins", name, allow))
        self._maybe_fail("master_wins")

    def nodelist_notification(self) -> NodeListNotification:
        return NodeListNotification(self.ring, self.members)

    def getinfo(self, node_id: int) -> NodeStatus | None:
        if node_id not in self.votes:
            return None
        return NodeStatus(node_id, NodeState.MEMBER, self.votes[node_id], 3, InfoFlags(0), 3, 3)

    def snapshot(self) -> VotequorumStatus:
        nodes = tuple(n for i in sorted(self.votes) if (n := self.getinfo(i)) is not None)
        return VotequorumStatus(
            node_id=1,
            ring_id=self.ring,
            quorate=True,
            members=self.members,
            expected_votes=3,
            highest_expected=3,
            total_votes=3,
            quorum=2,
            flags=InfoFlags.QUORATE,
            qdevice_name="Qdevice",
            qdevice_votes=self.qdevice_votes,
            nodes=nodes,
        )


def bridge_for(vq: FakeVotequorum, **kw: Any) -> VotequorumBridge:
    return VotequorumBridge(vq, QdeviceNetClient(settings(1, **kw), random.Random(1)))  # type: ignore[arg-type]


def registered(vq: FakeVotequorum, **kw: Any) -> VotequorumBridge:
    bridge = bridge_for(vq, **kw)
    bridge.start(0.0)
    bridge.on_event(QdeviceRegistration("Qdevice", None), 0.0)
    return bridge


def test_registration_then_master_wins_then_the_client_starts() -> None:
    vq = FakeVotequorum()
    bridge = bridge_for(vq)
    bridge.start(0.0)
    assert vq.calls == [("register", "Qdevice")]
    assert bridge.state == BridgeState.REGISTERING
    assert not bridge.client.started
    bridge.on_event(QdeviceRegistration("Other", None), 0.0)
    assert bridge.state == BridgeState.REGISTERING
    bridge.on_event(QdeviceRegistration("Qdevice", None), 0.0)
    assert vq.calls[-1] == ("master_wins", "Qdevice", False)
    assert bridge.state == BridgeState.REGISTERED and bridge.client.started
    assert bridge.client.vq_expected_votes == 3
    # no ring yet: the connection waits for the first node list notification
    assert bridge.client.outbox() == []
    bridge.on_event(NodeListNotification(RING, (1, 2)), 0.0)
    assert Connect("qnetd.example", 5403) in bridge.client.outbox()


def test_a_running_votequorum_gives_its_ring_at_start() -> None:
    vq = FakeVotequorum(ring=RING, members=(1, 2))
    bridge = registered(vq)
    assert bridge.client.vq_node_list_ring_id == RING
    assert bridge.client.vq_quorum_quorate
    assert [n.node_id for n in bridge.client.vq_quorum_nodes] == [1, 2]
    assert any(isinstance(o, Connect) for o in bridge.client.outbox())


def test_registration_refused() -> None:
    vq = FakeVotequorum(fail={"register": "CS_ERR_EXIST"})
    bridge = bridge_for(vq)
    bridge.start(0.0)
    assert bridge.state == BridgeState.FAILED
    assert bridge.error == "Can't register votequorum device. Error CS_ERR_EXIST"
    bridge2 = bridge_for(FakeVotequorum())
    bridge2.start(0.0)
    bridge2.on_event(QdeviceRegistration("Qdevice", "CS_ERR_EXIST"), 0.0)
    assert bridge2.state == BridgeState.FAILED and not bridge2.client.started


def test_polls_and_their_errors() -> None:
    vq = FakeVotequorum(ring=RING, members=(1,))
    bridge = registered(vq)
    rest = bridge.execute([Poll(True, RING), Connect("h", 1)], 1.0)
    assert rest == [Connect("h", 1)]
    assert vq.calls[-1] == ("poll", "Qdevice", True, RING)
    vq.fail["poll"] = "CS_ERR_MESSAGE_ERROR"
    bridge.execute([Poll(True, RING)], 2.0)
    assert bridge.poll_errors == {"CS_ERR_MESSAGE_ERROR": 1}
    assert "called with old ring id" in bridge.log_records()[-1].message
    assert bridge.client.started
    vq.fail["poll"] = "CS_ERR_NOT_EXIST"
    bridge.client.outbox()
    bridge.client.events()
    bridge.execute([Poll(True, RING)], 3.0)
    assert bridge.client.state == ClientState.STOPPED
    assert any(isinstance(e, Stopped) for e in bridge.client.events())


def test_events_become_client_callbacks() -> None:
    vq = FakeVotequorum(ring=RING, members=(1, 2))
    bridge = registered(vq)
    bridge.on_event(QuorumChanged(True, RING, (1, 2), 2, 3, 3), 1.0)
    assert bridge.client.vq_quorum_nodes == (QuorumNode(1, 1), QuorumNode(2, 1), QuorumNode(0, 1))
    bridge.on_event(ExpectedVotesChanged(4), 1.0)
    assert bridge.client.vq_expected_votes == 4


def test_ffsplit_refuses_nodes_with_more_votes() -> None:
    vq = FakeVotequorum(votes={1: 1, 2: 2})
    bridge = registered(vq)
    assert bridge.state == BridgeState.FAILED
    assert bridge.error is not None and "Node 2 has 2 votes" in bridge.error
    vq2 = FakeVotequorum(votes={1: 1, 2: 2})
    lms = registered(vq2, algorithm=DecisionAlgorithm.LMS)
    assert lms.state == BridgeState.REGISTERED


def test_stop_unregisters() -> None:
    vq = FakeVotequorum(ring=RING, members=(1,))
    bridge = registered(vq)
    bridge.stop(5.0)
    assert vq.calls[-1] == ("unregister", "Qdevice")
    assert bridge.state == BridgeState.STOPPED
    bridge.on_event(NodeListNotification(RingId(1, 12), (1,)), 6.0)
    assert bridge.client.vq_node_list_ring_id == RING  # nothing is followed any more


def test_with_a_real_votequorum_the_flags_follow_the_device() -> None:
    stack = FullStack(corosync_conf(2))
    stack.run_until(lambda: all(stack.status(i).total_votes == 3 for i in (1, 2)), 30)
    stack.sim.run_for(1)  # NODEINFOs queued while the ring formed arrive after its sync
    snap = stack.status(1)
    mine = next(n for n in snap.nodes if n.node_id == 1)
    assert mine.flags & InfoFlags.QDEVICE_REGISTERED
    assert mine.flags & InfoFlags.QDEVICE_ALIVE and mine.flags & InfoFlags.QDEVICE_CAST_VOTE
    assert not mine.flags & InfoFlags.QDEVICE_MASTER_WINS
    assert snap.qdevice_name == "Qdevice"
    # the device goes away on node 1: its flags clear cluster-wide, the vote is gone there
    stack.world.poke(1, lambda node, now: node.device_stop(now))
    stack.sim.run_for(1.0)
    for observer in (1, 2):
        flags = next(n.flags for n in stack.status(observer).nodes if n.node_id == 1)
        assert not flags & InfoFlags.QDEVICE_REGISTERED, observer
    assert stack.status(1).total_votes == 2


def test_votequorum_sends_one_node_list_notification_per_sync_round() -> None:
    stack = FullStack(corosync_conf(2))
    stack.run_until(lambda: all(stack.status(i).total_votes == 3 for i in (1, 2)), 30)
    stack.sim.run_for(2.0)
    for node_id in (1, 2):
        events = stack.events(node_id)
        notes = [e for e in events if isinstance(e, NodeListNotification)]
        synced = [e.ring_id for e in events if isinstance(e, SyncCompleted)]
        assert [n.ring_id for n in notes] == synced
        assert notes[-1].members == (1, 2)
        # sent during the round, before its completion
        assert events.index(notes[-1]) < max(
            i for i, e in enumerate(events) if isinstance(e, SyncCompleted)
        )
    votequorum = stack.node(1).votequorum
    assert votequorum is not None
    assert votequorum.nodelist_notification() == notes[-1]
