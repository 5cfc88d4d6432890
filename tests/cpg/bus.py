"""A fake total-order bus of N nodes, each running a ``CpgService``, for exact tests.

Every ``host.mcast`` is appended to its ring's single order and delivered to
every member of that ring (sender included) when the test flushes. The bus
plays Totem's EVS and the sync protocol of ref totem-wire.md 10.2:

* ``reconfigure(components)`` delivers what is pending, then gives every node
  of each new component a TRANSITIONAL change (old members that came along)
  and a REGULAR change, aborts a sync that was still running, calls
  ``sync_init`` on all members, then ``sync_process`` until True followed by a
  barrier, member by member, all in the ring's one order;
* when the last member's barrier is delivered every member runs
  ``sync_activate``, at the same point of the order on every node.

Nodes not in any component have crashed; ``restart`` gives one a fresh service.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from totem.ringid import RingId
from totem.services.cpg import CpgService
from totem.services.cpg.wire import CPG_SERVICE, exec_message
from totem.srp.events import ConfigurationChange, ConfigurationKind, LogLevel


@dataclass
class BusHost:
    """``ServiceHost`` of one node on the bus."""

    bus: Bus
    nodeid: int
    logs: list[tuple[LogLevel, str, str]] = field(default_factory=list)

    @property
    def node_id(self) -> int:
        return self.nodeid

    def mcast(self, service_id: int, fn_id: int, body: bytes) -> None:
        self.bus.submit(self.nodeid, service_id, fn_id, body)

    def log(self, level: LogLevel, subsys: str, message: str) -> None:
        self.logs.append((level, subsys, message))


@dataclass
class Entry:
    """One item of a ring's total order."""

    sender: int
    fn_id: int | None  # None = sync barrier
    body: bytes = b""


@dataclass
class Ring:
    ring_id: RingId
    members: tuple[int, ...]
    queue: list[Entry] = field(default_factory=list)
    barriers: set[int] = field(default_factory=set)
    syncing: bool = True


class Node:
    def __init__(self, bus: Bus, nodeid: int) -> None:
        self.nodeid = nodeid
        self.host = BusHost(bus, nodeid)
        self.cpg = CpgService()
        self.cpg.attach(self.host)
        self.ring: Ring | None = None
        self.events: list[Any] = []

    def drain(self) -> list[Any]:
        """Move the service's new events to ``self.events``; return them."""
        new = self.cpg.events()
        self.events.extend(new)
        return new


class Bus:
    def __init__(self, ids: Iterable[int]) -> None:
        self.nodes: dict[int, Node] = {}
        for nodeid in ids:
            self.nodes[nodeid] = Node(self, nodeid)
        self.rings: list[Ring] = []
        self.seq = 0
        self.now = 0.0
        self.wire: list[tuple[int, bytes]] = []
        """Every exec message as it would travel: (sender, header + body)."""

    # --- the order ----------------------------------------------------------------------------
    def submit(self, sender: int, service_id: int, fn_id: int, body: bytes) -> None:
        assert service_id == CPG_SERVICE
        ring = self.nodes[sender].ring
        assert ring is not None, f"node {sender} sent without a ring"
        self.wire.append((sender, exec_message(fn_id, body)))
        ring.queue.append(Entry(sender, fn_id, body))

    def _deliver(self, ring: Ring, entry: Entry) -> None:
        self.now += 0.001
        if entry.fn_id is None:
            ring.barriers.add(entry.sender)
            if ring.barriers == set(ring.members):
                ring.syncing = False
                for nodeid in ring.members:
                    self.nodes[nodeid].cpg.sync_activate(self.now)
                    self.nodes[nodeid].cpg.sync_completed(self.now)  # cpg is the last service
            return
        header = exec_message(entry.fn_id, entry.body)
        (msg_id,) = struct.unpack_from("<i", header)
        for nodeid in ring.members:
            self.nodes[nodeid].cpg.exec_deliver(entry.sender, msg_id & 0xFFFF, entry.body, self.now)

    def step(self) -> bool:
        """Deliver one pending entry of the first ring that has one; False if none."""
        for ring in self.rings:
            if ring.queue:
                self._deliver(ring, ring.queue.pop(0))
                return True
        return False

    def flush(self) -> None:
        while self.step():
            pass
        for node in self.nodes.values():
            node.drain()

    # --- membership ---------------------------------------------------------------------------
    def reconfigure(
        self, components: Sequence[Sequence[int]], *, deliver_pending: bool = True
    ) -> None:
        """New rings for ``components``; nodes in none of them have crashed.

        With ``deliver_pending`` False the old rings' undelivered exec messages
        move to the new ring of their sender (Totem sends queued messages in
        the new ring) and undelivered barriers are discarded (old ring).
        """
        if deliver_pending:
            self.flush()
        carried: dict[int, list[Entry]] = {}
        for ring in self.rings:
            for entry in ring.queue:
                if entry.fn_id is not None:
                    carried.setdefault(entry.sender, []).append(entry)
        alive = {n for comp in components for n in comp}
        for nodeid, node in self.nodes.items():
            if nodeid not in alive:
                node.ring = None
        new_rings = []
        for comp in components:
            members = tuple(sorted(comp))
            self.seq += 4
            ring = Ring(RingId(members[0], self.seq), members)
            for nodeid in members:
                ring.queue.extend(carried.get(nodeid, []))
            new_rings.append((ring, members))
        for ring, members in new_rings:
            for nodeid in members:
                node = self.nodes[nodeid]
                old = node.ring
                old_members = old.members if old else ()
                trans = tuple(m for m in old_members if m in members)
                left = tuple(m for m in old_members if m not in members)
                old_id = old.ring_id if old else RingId(nodeid, 0)
                node.cpg.confchg(
                    ConfigurationChange(ConfigurationKind.TRANSITIONAL, old_id, trans, left, ()),
                    self.now,
                )
                if old is not None and old.syncing:
                    node.cpg.sync_abort()
                joined = tuple(m for m in members if m not in trans)
                node.cpg.confchg(
                    ConfigurationChange(
                        ConfigurationKind.REGULAR, ring.ring_id, members, (), joined
                    ),
                    self.now,
                )
                node.ring = ring
                node.cpg.sync_init(trans, members, ring.ring_id, self.now)
        self.rings = [ring for ring, _ in new_rings]
        for ring, members in new_rings:
            for nodeid in members:
                while not self.nodes[nodeid].cpg.sync_process(self.now):
                    pass
                ring.queue.append(Entry(nodeid, None))

    def form(self, *components: Sequence[int]) -> None:
        """Reconfigure to ``components`` and deliver everything (sync completes)."""
        self.reconfigure(components)
        self.flush()

    def restart(self, nodeid: int) -> Node:
        """A crashed node comes back with empty state (not yet in a ring)."""
        assert self.nodes[nodeid].ring is None
        self.nodes[nodeid] = Node(self, nodeid)
        return self.nodes[nodeid]

    def tables(self, ids: Iterable[int]) -> list[list[Any]]:
        return [list(self.nodes[n].cpg.iteration()) for n in ids]
