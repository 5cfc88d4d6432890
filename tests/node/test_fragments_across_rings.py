"""A message cut by totempg across a configuration change, on full node stacks in virtual time.

What corosync 3.1.7 does (``exec/totempg.c``, ``exec/totemsrp.c``), pinned down on three
NodeStacks with the daemon's services, exchanging datagrams with no loss but the one we drop:

* ``mcast_msg`` queues every full fragment of a message in SRP's new-message queue at once,
  and SRP sequences at most ``max_messages`` packets per token visit (``orf_token_mcast``):
  a ring change can fall between a message's first fragment and the rest, which stay queued.
* Old-ring messages are delivered only to the old ring's members (a joined node does not
  have them); what is still queued is sent in the new ring after sync (``totemsrp_trans_ack``
  switches back to the normal queue). The old members complete the message from their
  assembly then; the joined node sees a continuation with an empty assembly and throws the
  packet away (``totempg_deliver_fn``'s throw-away mode).
* A local CPG request is refused with TRY_AGAIN from the configuration change until the sync
  of every service has completed (``sync_in_process``), so a client's next message follows
  the rest of the cut one: the sender's order holds. (Ours: a libcpg multicast that got past
  the IPC flow-control flag during the sync is not dropped but waits behind it as well.)
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from totem.config import load
from totem.node.assemble import build_net, build_stack
from totem.node.services import ServiceContext, load_services
from totem.node.stack import NodeStack
from totem.services.cpg import CpgConfigChange, CpgDeliver, CpgError, CpgTotemConfigChange
from totem.srp.events import ConfigurationChange, ConfigurationKind
from totem.sync import SyncCompleted
from totem.wire import MessageType
from totem.wire.header import check_header
from totem.wire.mcast import decode_mcast
from totem.wire.totempg_packet import decode_fields

IDS = (1, 2, 3)
GROUP = "g"
BIG = bytes(range(256)) * 8  # 2 KB: one CPG message, two totempg packets
NEXT = b"the next one"
RACE = b"one that raced past the IPC flow control"


def conf(tmp: Path) -> Path:
    nodes = "".join(
        f"  node {{\n    nodeid: {i}\n    name: n{i}\n    ring0_addr: 10.80.0.{i}\n  }}\n"
        for i in IDS
    )
    path = tmp / "corosync.conf"
    path.write_text(
        "totem {\n  version: 2\n  cluster_name: frag\n  transport: udpu\n"
        "  token: 1000\n  token_coefficient: 0\n  max_messages: 1\n}\n"
        f"nodelist {{\n{nodes}}}\n"
        "quorum {\n  provider: corosync_votequorum\n}\n"
    )
    return path


class Net:
    """The stacks on one virtual link (100 us), virtual time; ``cut`` pairs do not talk."""

    def __init__(self, stacks: dict[int, NodeStack]) -> None:
        self.stacks = stacks
        self.now = 0.0
        self.cut: set[tuple[int, int]] = set()
        self.drop: Callable[[int, int | None, bytes], bool] | None = None
        self.events: dict[int, list[Any]] = {i: [] for i in stacks}
        self.on_events: Callable[[int, list[Any]], None] | None = None
        self._queue: list[tuple[float, int, int, bytes]] = []
        self._seq = itertools.count()
        for i, stack in stacks.items():
            stack.start(self.now)
            self._pump(i)

    def partition(self, *groups: set[int]) -> None:
        self.cut = {(a, b) for a in IDS for b in IDS if not any({a, b} <= g for g in groups)}

    def _pump(self, i: int) -> None:
        stack = self.stacks[i]
        for datagram in stack.outbox():
            if self.drop is not None and self.drop(i, datagram.dest, datagram.data):
                self.drop = None
                continue
            for dest in IDS if datagram.dest is None else (datagram.dest,):
                if (i, dest) in self.cut:
                    continue
                heapq.heappush(
                    self._queue, (self.now + 0.0001, next(self._seq), dest, datagram.data)
                )
        events = stack.events()
        self.events[i].extend(events)
        if events and self.on_events is not None:
            self.on_events(i, events)

    def poke(self, i: int) -> None:
        """Send what a local request on node ``i`` queued."""
        self._pump(i)

    def run_until(self, done: Callable[[], bool], limit: float = 30.0) -> None:
        end = self.now + limit
        while not done():
            due = [(d, i) for i, s in self.stacks.items() if (d := s.next_deadline()) is not None]
            timer = min(due) if due else None
            packet = self._queue[0][0] if self._queue else None
            if timer is not None and (packet is None or timer[0] < packet):
                self.now = max(self.now, timer[0])
                self.stacks[timer[1]].on_deadline(self.now)
                self._pump(timer[1])
            elif packet is not None:
                when, _, dest, data = heapq.heappop(self._queue)
                self.now = max(self.now, when)
                self.stacks[dest].receive(data, self.now)
                self._pump(dest)
            assert self.now < end, "not reached in virtual time"

    def formed(self, members: tuple[int, ...]) -> bool:
        return all(self.stacks[i].synced and self.stacks[i].members == members for i in members)


def cpg_of(stack: NodeStack) -> Any:
    return next(s for s in stack.services if type(s).__name__ == "CpgService")


def story(events: list[Any]) -> list[Any]:
    """What the group's handle saw and the node's ring changes, in order."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, CpgDeliver):
            label = {BIG: "big", NEXT: "next", RACE: "race"}.get(event.payload, event.payload.hex())
            out.append(("deliver", event.nodeid, label))
        elif isinstance(event, CpgConfigChange):
            out.append(("confchg", tuple(m.nodeid for m in event.members)))
        elif isinstance(event, ConfigurationChange) and event.kind is ConfigurationKind.REGULAR:
            out.append(("regular", event.members))
        elif isinstance(event, SyncCompleted):
            out.append(("synced",))
    return out


def test_a_message_cut_by_a_merge_reaches_the_old_members_only_and_order_holds(
    tmp_path: Path,
) -> None:
    config = load(conf(tmp_path))
    stacks = {}
    for i in IDS:
        local = config.node_by_id(i)
        assert local is not None
        services = load_services(ServiceContext(config, local))
        net = build_net(config, local, salt_source=bytes, epoch=1)
        stacks[i] = build_stack(config, local, services, net=net)
    net = Net(stacks)
    net.partition({1, 2}, {3})
    net.run_until(lambda: net.formed((1, 2)) and net.formed((3,)))
    for i in IDS:
        cpg_of(stacks[i]).join(f"h{i}", GROUP, 100 + i)
        net.poke(i)
    net.run_until(lambda: all(len(cpg_of(stacks[i]).membership(GROUP)) == (i < 3) + 1 for i in IDS))

    # node 1 multicasts 2 KB; with max_messages 1 its first packet goes on one token visit:
    # then node 1's token to node 2 is lost, and the partition heals
    packets: list[tuple[int, int]] = []
    old_ring = stacks[1].srp.ring.ring_id

    def first_packet_then_lose_the_token(src: int, dest: int | None, data: bytes) -> bool:
        if src == 1 and dest is None and check_header(data)[0] == MessageType.MCAST:
            mcast = decode_mcast(data)
            fragmented, continuation, _ = decode_fields(mcast.payload, False)
            if mcast.ring_id == old_ring and (fragmented or continuation):
                packets.append((fragmented, continuation))
        return src == 1 and dest == 2 and len(packets) == 1

    for events in net.events.values():
        events.clear()
    cpg_of(stacks[1]).mcast("h1", GROUP, BIG)
    net.drop = first_packet_then_lose_the_token
    net.poke(1)

    # the next message: refused from node 1's configuration change until its sync completes
    refused: list[bool] = []

    def send_next(i: int, events: list[Any]) -> None:
        if i != 1 or (refused and not refused[-1]):
            return
        if any(isinstance(e, CpgTotemConfigChange) for e in events) or refused:
            try:
                cpg_of(stacks[1]).mcast("h1", GROUP, NEXT)
            except CpgError as err:
                assert "TRY_AGAIN" in str(err)
                if not refused:  # libcpg's path: accepted, it waits for the end of the sync
                    cpg_of(stacks[1]).mcast("h1", GROUP, RACE, during_sync=True)
                refused.append(True)
                return
            refused.append(False)

    net.on_events = send_next
    net.run_until(lambda: bool(packets) and net.drop is None)
    net.partition(set(IDS))
    net.run_until(lambda: net.formed(IDS) and refused[-1:] == [False])
    net.run_until(lambda: all(("deliver", 1, "next") in story(net.events[i]) for i in IDS))
    net.run_until(lambda: all(("deliver", 1, "big") in story(net.events[i]) for i in (1, 2)))

    assert packets == [(1, 0)]  # only the first fragment was sequenced in the old ring
    merged = ("regular", IDS)
    for i in (1, 2):
        seen = story(net.events[i])
        # the old members complete the message after the new ring's sync, before the next one
        assert [e[2] for e in seen if e[0] == "deliver"] == ["big", "race", "next"]
        assert seen.index(merged) < seen.index(("synced",)) < seen.index(("deliver", 1, "big"))
    # node 3 joined in the new ring: it never had the first fragment and throws the rest away
    assert [e[2] for e in story(net.events[3]) if e[0] == "deliver"] == ["race", "next"]
    assert stacks[3].counters.bad_packet == 0
    assert refused[0] is True and refused[-1] is False


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
