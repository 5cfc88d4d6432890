"""A fake Totem for service tests: one global agreed order, EVS configuration changes.

Every message a node sends is appended to one global queue, stamped with the
sender's current ring, and delivered (in queue order) to every node that is in
that ring when the message comes up -- the sender included. A node that is not
in a ring (before its first ring, or between a TRANSITIONAL and a REGULAR
configuration) buffers its sends; they go out first in its next ring.

:meth:`FakeBus.form_ring` installs a new ring for a set of nodes as Totem does:
each member gets a TRANSITIONAL change (the members of its old ring that move
with it), then the old ring's undelivered messages are delivered to those
transitional members, then the REGULAR change of the new ring. Each node's
services see ``confchg`` before its SyncEngine, as in corosync's main.c.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from totem.ringid import RingId
from totem.service import Service
from totem.services.dispatch import EXEC_GROUP, ExecDispatcher, encode_exec
from totem.srp.events import ConfigurationChange, ConfigurationKind, LogLevel
from totem.sync import SYNC_GROUP, SyncEngine

ServiceFactory = Callable[[int], Sequence[Service]]


@dataclass
class Sent:
    """One message in the global order."""

    sender: int
    group: bytes
    payload: bytes
    ring_id: RingId
    delivered_to: list[int] = field(default_factory=list)


class FakeNode:
    """A node stack: services + dispatcher + sync engine; implements ServiceHost."""

    def __init__(self, bus: FakeBus, node_id: int, services: Sequence[Service]) -> None:
        self.bus = bus
        self._node_id = node_id
        self.services = list(services)
        self.logs: list[tuple[LogLevel, str, str]] = []
        self.ring: RingId | None = None
        self.ring_members: tuple[int, ...] = ()
        self.pending: list[tuple[bytes, bytes]] = []
        self.dispatcher = ExecDispatcher(self.services, log=self.log)
        self.sync = SyncEngine(node_id, self.services, self._send_sync, log=self.log)
        self.sync_events: list[Any] = []
        self.mute_sync = False
        """Drop this node's own sync sends (a test then plays a foreign node's part)."""
        self.service_events: list[Any] = []
        for service in self.services:
            service.attach(self)

    # --- ServiceHost -------------------------------------------------------------------------
    @property
    def node_id(self) -> int:
        return self._node_id

    def mcast(self, service_id: int, fn_id: int, body: bytes) -> None:
        self._send(EXEC_GROUP, encode_exec(service_id, fn_id, body))

    def log(self, level: LogLevel, subsys: str, message: str) -> None:
        self.logs.append((level, subsys, message))

    # --- plumbing ----------------------------------------------------------------------------
    def _send_sync(self, payload: bytes) -> None:
        if not self.mute_sync:
            self._send(SYNC_GROUP, payload)

    def _send(self, group: bytes, payload: bytes) -> None:
        if self.ring is None:
            self.pending.append((group, payload))
        else:
            self.bus.enqueue(self._node_id, group, payload, self.ring)

    def service(self, service_id: int) -> Any:
        for service in self.services:
            if service.service_id == service_id:
                return service
        raise KeyError(service_id)

    def confchg(self, change: ConfigurationChange, now: float) -> None:
        for service in self.services:
            service.confchg(change, now)
        self.sync.confchg(change, now)
        self.drain()

    def deliver(self, sent: Sent, now: float) -> None:
        if sent.group == SYNC_GROUP:
            self.sync.deliver(sent.sender, sent.payload, now)
        else:
            self.dispatcher.deliver(sent.sender, sent.payload, now)
        self.drain()

    def drain(self) -> None:
        self.sync_events.extend(self.sync.events())
        for service in self.services:
            self.service_events.extend(service.events())

    def next_deadline(self) -> float | None:
        deadlines = [self.sync.next_deadline()]
        deadlines += [s.next_deadline() for s in self.services]
        known = [d for d in deadlines if d is not None]
        return min(known) if known else None

    def on_deadline(self, now: float) -> None:
        self.sync.on_deadline(now)
        for service in self.services:
            deadline = service.next_deadline()
            if deadline is not None and deadline <= now:
                service.on_deadline(now)
        self.drain()

    def messages(self, level: LogLevel | None = None, subsys: str | None = None) -> list[str]:
        return [
            m
            for lv, ss, m in self.logs
            if (level is None or lv == level) and (subsys is None or ss == subsys)
        ]


class FakeBus:
    """N nodes on one fake Totem with an explicit clock."""

    def __init__(self, factory: ServiceFactory) -> None:
        self.factory = factory
        self.nodes: dict[int, FakeNode] = {}
        self.queue: list[Sent] = []
        self.history: list[Sent] = []
        self.now = 0.0
        self._seq = 0

    # --- membership --------------------------------------------------------------------------
    def start(self, node_ids: Iterable[int]) -> list[FakeNode]:
        """Start nodes (services attached); each first forms its singleton ring."""
        started = []
        for nid in node_ids:
            node = FakeNode(self, nid, self.factory(nid))
            self.nodes[nid] = node
            started.append(node)
        for node in started:
            self.form_ring([node.node_id])
        return started

    def crash(self, node_id: int) -> None:
        """The node stops without a word; the others notice at their next ring."""
        node = self.nodes.pop(node_id)
        node.ring = None

    def next_ring_id(self, members: Sequence[int]) -> RingId:
        self._seq += 4
        return RingId(min(members), self._seq)

    def form_ring(self, members: Iterable[int], ring_id: RingId | None = None) -> RingId:
        """Install one new ring for ``members`` (TRANSITIONAL, old messages, REGULAR)."""
        member_list = tuple(sorted(members))
        new_ring = ring_id or self.next_ring_id(member_list)
        member_set = set(member_list)
        # 1. TRANSITIONAL for each member: the survivors of its old ring that come along.
        old_rings: dict[int, RingId | None] = {}
        for nid in member_list:
            node = self.nodes[nid]
            old_rings[nid] = node.ring
            trans = tuple(m for m in node.ring_members if m in member_set)
            left = tuple(m for m in node.ring_members if m not in member_set)
            node.ring = None
            old_ring = old_rings[nid] or RingId(0, 0)
            node.confchg(
                ConfigurationChange(ConfigurationKind.TRANSITIONAL, old_ring, trans, left, ()),
                self.now,
            )
        # 2. The old rings' undelivered messages go to transitional members only.
        remaining: list[Sent] = []
        for sent in self.queue:
            for nid in member_list:
                if old_rings[nid] == sent.ring_id and nid not in sent.delivered_to:
                    sent.delivered_to.append(nid)
                    self.nodes[nid].deliver(sent, self.now)
            if any(n.ring == sent.ring_id for n in self.nodes.values()):
                remaining.append(sent)
        self.queue = remaining
        # 3. REGULAR.
        for nid in member_list:
            node = self.nodes[nid]
            joined = tuple(m for m in member_list if m not in node.ring_members)
            node.ring_members = member_list
            node.ring = new_ring
            for group, payload in node.pending:
                self.enqueue(nid, group, payload, new_ring)
            node.pending.clear()
            node.confchg(
                ConfigurationChange(ConfigurationKind.REGULAR, new_ring, member_list, (), joined),
                self.now,
            )
        return new_ring

    def partition(self, *groups: Iterable[int]) -> list[RingId]:
        """Split (or merge) the running nodes into the given groups, one ring each."""
        return [self.form_ring(group) for group in groups]

    # --- traffic -----------------------------------------------------------------------------
    def enqueue(self, sender: int, group: bytes, payload: bytes, ring_id: RingId) -> None:
        sent = Sent(sender, group, payload, ring_id)
        self.queue.append(sent)
        self.history.append(sent)

    def inject(self, sender: int, group: bytes, payload: bytes) -> None:
        """Put a message from ``sender`` (in its current ring) into the global order."""
        ring = self.nodes[sender].ring
        assert ring is not None
        self.enqueue(sender, group, payload, ring)

    def step(self) -> bool:
        """Deliver the next message of the global order; False if there is none."""
        if not self.queue:
            return False
        sent = self.queue.pop(0)
        for nid in sorted(self.nodes):
            node = self.nodes[nid]
            if node.ring == sent.ring_id and nid not in sent.delivered_to:
                sent.delivered_to.append(nid)
                node.deliver(sent, self.now)
        return True

    def run(self, limit: int = 100_000) -> int:
        """Deliver until the queue is empty; return the number of messages delivered."""
        count = 0
        while self.step():
            count += 1
            if count > limit:
                raise RuntimeError("message storm")
        return count

    def advance(self, until: float) -> None:
        """Move the clock to ``until``, firing every deadline on the way (and delivering)."""
        self.run()
        while True:
            due = [
                (d, nid)
                for nid, node in self.nodes.items()
                if (d := node.next_deadline()) is not None and d <= until
            ]
            if not due:
                break
            when, nid = min(due)
            self.now = max(self.now, when)
            self.nodes[nid].on_deadline(self.now)
            self.run()
        self.now = max(self.now, until)

    def sent_by(self, node_id: int, ring_id: RingId | None = None) -> list[Sent]:
        return [
            s
            for s in self.history
            if s.sender == node_id and (ring_id is None or s.ring_id == ring_id)
        ]
