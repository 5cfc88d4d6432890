"""An in-memory network of SRP cores on a virtual clock, for exact core tests.

Datagrams are delivered after a fixed latency in send order; a multicast
reaches every live node of the nodelist including its sender (as udpu does),
a unicast reaches its destination. Tests cut links, drop datagrams by
predicate, crash and restart nodes, and read every node's events.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from totem.ringid import RingId
from totem.srp.core import SrpCore
from totem.srp.events import (
    ConfigurationChange,
    ConfigurationKind,
    Delivery,
    RingSeqChanged,
    SrpEvent,
)
from totem.srp.settings import SrpSettings
from totem.srp.state import MembState

DropRule = Callable[[int, int, bytes], bool]


@dataclass
class NodeLog:
    """What one node emitted, in order."""

    events: list[SrpEvent] = field(default_factory=list)

    def deliveries(self) -> list[Delivery]:
        return [e for e in self.events if isinstance(e, Delivery)]

    def configurations(self) -> list[ConfigurationChange]:
        return [e for e in self.events if isinstance(e, ConfigurationChange)]

    def regular(self) -> list[ConfigurationChange]:
        return [c for c in self.configurations() if c.kind is ConfigurationKind.REGULAR]


class Network:
    """Nodes ``ids`` (the nodelist) on a virtual clock; none started until ``start``."""

    def __init__(
        self,
        ids: Iterable[int],
        settings: SrpSettings | None = None,
        latency: float = 0.0001,
    ) -> None:
        self.ids = sorted(ids)
        self.settings = settings or SrpSettings()
        self.latency = latency
        self.now = 0.0
        self.nodes: dict[int, SrpCore] = {}
        self.logs: dict[int, NodeLog] = {i: NodeLog() for i in self.ids}
        self.ring_seq_store: dict[int, int] = dict.fromkeys(self.ids, 0)
        self.cut: set[tuple[int, int]] = set()
        self.drop_rules: list[DropRule] = []
        self.sent = 0
        self._queue: list[tuple[float, int, int, int, bytes]] = []
        self._counter = itertools.count()

    # -- topology ------------------------------------------------------------------------
    def start(self, *ids: int) -> None:
        for node_id in ids or tuple(self.ids):
            core = SrpCore(node_id, self.settings, stored_ring_seq=self.ring_seq_store[node_id])
            self.nodes[node_id] = core
            core.start(self.now)
            self._pump(node_id)

    def crash(self, node_id: int) -> None:
        """Stop a node at once (SIGKILL): no leave message, its state is gone."""
        del self.nodes[node_id]

    def leave(self, node_id: int) -> None:
        """Graceful shutdown: the LEAVE join goes out, then the node stops."""
        self.nodes[node_id].leave()
        self._pump(node_id)
        del self.nodes[node_id]

    def partition(self, *groups: Iterable[int]) -> None:
        """Only nodes in the same group can reach each other."""
        members = [set(g) for g in groups]
        self.cut = {
            (a, b)
            for a in self.ids
            for b in self.ids
            if not any(a in g and b in g for g in members)
        }

    def heal(self) -> None:
        self.cut = set()

    # -- running -------------------------------------------------------------------------
    def _pump(self, node_id: int) -> None:
        core = self.nodes.get(node_id)
        if core is None:
            return
        for datagram in core.outbox():
            dests = self.ids if datagram.dest is None else [datagram.dest]
            for dest in dests:
                self.sent += 1
                if (node_id, dest) in self.cut:
                    continue
                if any(rule(node_id, dest, datagram.data) for rule in self.drop_rules):
                    continue
                when = self.now + self.latency
                heapq.heappush(
                    self._queue, (when, next(self._counter), node_id, dest, datagram.data)
                )
        for event in core.events():
            self.logs[node_id].events.append(event)
            if isinstance(event, RingSeqChanged):
                self.ring_seq_store[node_id] = event.seq

    def step(self) -> bool:
        """Run the next thing that happens; False if nothing is left to happen."""
        next_packet = self._queue[0][0] if self._queue else None
        deadlines = [
            (d, node_id)
            for node_id, core in self.nodes.items()
            if (d := core.next_deadline()) is not None
        ]
        next_timer = min(deadlines) if deadlines else None
        if next_packet is None and next_timer is None:
            return False
        if next_timer is not None and (next_packet is None or next_timer[0] < next_packet):
            self.now = max(self.now, next_timer[0])
            node_id = next_timer[1]
            self.nodes[node_id].on_deadline(self.now)
            self._pump(node_id)
            return True
        when, _, _src, dest, data = heapq.heappop(self._queue)
        self.now = max(self.now, when)
        core = self.nodes.get(dest)
        if core is not None:
            core.receive(data, self.now)
            self._pump(dest)
        return True

    def run_for(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            next_packet = self._queue[0][0] if self._queue else None
            deadlines = [d for c in self.nodes.values() if (d := c.next_deadline()) is not None]
            nxt = min([t for t in [next_packet, *deadlines] if t is not None], default=None)
            if nxt is None or nxt > end:
                break
            self.step()
        self.now = end

    def run_until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> float:
        """Run until ``predicate()`` holds; return the virtual time it took."""
        start = self.now
        while not predicate():
            if self.now - start > timeout or not self.step():
                raise AssertionError(f"condition not reached within {timeout}s of virtual time")
        return self.now - start

    # -- inspection ----------------------------------------------------------------------
    def operational(self, ids: Iterable[int], members: Iterable[int] | None = None) -> bool:
        """All ``ids`` are OPERATIONAL on one ring whose members are ``members`` (default ids)."""
        ids = list(ids)
        want = tuple(sorted(members if members is not None else ids))
        rings = set()
        for node_id in ids:
            core = self.nodes.get(node_id)
            if core is None or core.state is not MembState.OPERATIONAL:
                return False
            if core.members != want:
                return False
            rings.add(core.ring.ring_id)
        return len(rings) == 1

    def ring_of(self, node_id: int) -> RingId:
        return self.nodes[node_id].ring.ring_id

    def mcast(self, node_id: int, payload: bytes, guarantee: int = 0) -> None:
        core = self.nodes[node_id]
        assert core.mcast(payload, guarantee)
        core.signal_new_message()
        self._pump(node_id)
