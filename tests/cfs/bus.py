"""A process-group bus for CfsNode transcripts: virtual synchrony without a ring.

Components of the bus deliver every multicast to each member in one agreed order, and a
configuration change to every member when a component's membership changes. Time is explicit.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable

from pvecluster.cfs.memdb import MemDb, MemoryBackend
from pvecluster.cfs.node import CfsNode, FsOp, OpDone
from pvecluster.cfs.wire import DcdbOp

PID = 1000


class Bus:
    def __init__(self, count: int, *, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.nodes: dict[int, CfsNode] = {}
        self.results: dict[int, dict[int, int]] = {}
        self.conf: dict[int, list[bytes]] = {}
        self.logs: dict[int, list[str]] = {}
        self.trees: dict[int, list[object]] = {}
        for nodeid in range(1, count + 1):
            self.add(nodeid)
        self.components: list[set[int]] = []
        self.up: set[int] = set()

    def add(self, nodeid: int, memdb: MemDb | None = None) -> CfsNode:
        node = CfsNode(memdb or MemDb(MemoryBackend(), now=self.now), nodeid, PID + nodeid)
        self.nodes[nodeid] = node
        self.results[nodeid] = {}
        self.conf[nodeid] = []
        self.logs[nodeid] = []
        self.trees[nodeid] = []
        return node

    # ---------------------------------------------------------------- membership
    def start(self, *nodeids: int, quorate: bool = True) -> None:
        for nodeid in nodeids:
            node = self.nodes[nodeid]
            node.initialize()
            node.joined(self.now)
            node.set_quorate(quorate)
            self.up.add(nodeid)
        self.set_components([set(self.up)])

    def set_components(self, groups: Iterable[set[int]]) -> None:
        old = {frozenset(c) for c in self.components}
        self.components = [set(g) & self.up for g in groups if set(g) & self.up]
        for component in self.components:
            if frozenset(component) in old:
                continue
            members = [(n, PID + n) for n in sorted(component)]
            for nodeid in sorted(component):
                self.nodes[nodeid].group_confchg(members, members, [], self.now)
        self.flush()

    def partition(self, *groups: set[int]) -> None:
        self.set_components(groups)

    def heal(self) -> None:
        self.set_components([set(self.up)])

    def stop(self, nodeid: int) -> None:
        self.up.discard(nodeid)
        self.nodes[nodeid].left_group()
        self.set_components([c - {nodeid} for c in self.components])

    def set_quorate(self, quorate: bool, *nodeids: int) -> None:
        for nodeid in nodeids:
            self.nodes[nodeid].set_quorate(quorate)

    # ---------------------------------------------------------------- traffic
    def component_of(self, nodeid: int) -> set[int]:
        for component in self.components:
            if nodeid in component:
                return component
        return set()

    def flush(self) -> None:
        """Deliver until nothing is left to send (agreed order: round-robin by node id)."""
        while True:
            progress = False
            for nodeid in sorted(self.up):
                node = self.nodes[nodeid]
                self._drain_events(nodeid)
                for payload in node.outbox():
                    progress = True
                    for member in sorted(self.component_of(nodeid)):
                        self.nodes[member].group_deliver(nodeid, PID + nodeid, payload, self.now)
                        self._drain_events(member)
            if not progress:
                return

    def _drain_events(self, nodeid: int) -> None:
        from pvecluster.cfs.dcdb import CorosyncConfUpdated, TreeUpdated
        from totem.srp.events import LogRecord

        for event in self.nodes[nodeid].events():
            if isinstance(event, OpDone):
                self.results[nodeid][event.count] = event.result
            elif isinstance(event, CorosyncConfUpdated):
                self.conf[nodeid].append(event.data)
            elif isinstance(event, LogRecord):
                self.logs[nodeid].append(event.message)
            elif isinstance(event, TreeUpdated):
                self.trees[nodeid].append(event)

    def op(self, nodeid: int, op: FsOp) -> int:
        """Submit and run the bus until the result is known."""
        outcome = self.nodes[nodeid].submit(op, self.now)
        if isinstance(outcome, OpDone):
            return outcome.result
        self.flush()
        return self.results[nodeid].pop(outcome, -errno.ETIMEDOUT)

    def put(self, nodeid: int, path: str, data: bytes) -> int:
        node = self.nodes[nodeid]
        if node.memdb.lookup(path) is None:
            result = self.op(nodeid, FsOp(DcdbOp.CREATE, path))
            if result < 0:
                return result
        return self.op(nodeid, FsOp(DcdbOp.WRITE, path, data=data, flags=1))

    def checksums(self) -> dict[int, bytes]:
        return {n: self.nodes[n].memdb.checksum() for n in sorted(self.up)}
