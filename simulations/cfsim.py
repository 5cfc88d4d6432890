"""The replicated configuration filesystem on simulated nodes (ref cluster-manager.md 4.3-4.5).

Every simulated node of a scenario that uses the filesystem statements runs the sans-IO
core ``pycorosync-cfsd`` runs, :class:`~pvecluster.cfs.node.CfsNode` (memdb, DFSM, DCDB),
as a client of that node's own CPG service in group ``pve_dcdb_v1``, exactly as the daemon
does through the control socket: its multicasts go through ``cpg.mcast`` (retried while
the engine synchronises), its inputs are the group's configuration changes and deliveries,
its quorate flag is the node's quorum view. The database survives a crash or restart
(committed transactions, as sqlite's).

Statements (:mod:`simulations.language.cfs` parses them and hands them here)::

    write NODE PATH [SIZE]                 # create if missing, then write the whole file
    expect converged [NODES] [within 5s]   # one synced group of these nodes, equal databases
    expect read-only NODES [...]           # the nodes refuse writes (EACCES: not quorate)
    expect [not] file NODES PATH [...]     # the nodes' databases hold the file

Invariants, reported to the checker like the protocol's own:

* ``cfs-write-without-quorum``: a node accepted a write (multicast it) while its quorum view
  was not quorate, or applied a delivered write while not quorate;
* ``cfs-diverged-after-heal``: whenever every running node's filesystem is synced in one
  group holding all of them (after a partition heals, after restarts) and all are at the
  same place of the group's order (the same last message delivered in this configuration),
  every database equals the leader's (the member with the highest version, then mtime);
  ``expect converged`` asks for it outright.

Counters (``expect stat``): ``cfs_writes``, ``cfs_refused``, ``cfs_version``, ``cfs_synced``.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pvecluster.cfs.dcdb import CPG_GROUP
from pvecluster.cfs.dfsm import Mode
from pvecluster.cfs.memdb import MemDb, MemoryBackend
from pvecluster.cfs.node import CfsNode, FsOp, OpDone
from pvecluster.cfs.wire import DcdbOp
from simulations.nodes import NodeFactory, SimNode
from simulations.statements import Expect, Statement
from totem.services.cpg import CpgConfigChange, CpgDeliver, CpgError
from totem.srp.events import LogRecord

__all__ = ["CFS_EXPECTS", "CfsLayer", "CfsNodeWrapper", "Write", "uses_cfs"]

CFS_EXPECTS = ("converged", "read-only", "file")
HANDLE = "pycorosync-cfsd"
PID_BASE = 1000


@dataclass(frozen=True, slots=True)
class Write(Statement):
    """``write NODE PATH [SIZE]``."""

    node: int
    path: str
    size: int = 16


def uses_cfs(statements: tuple[Statement, ...]) -> bool:
    return any(
        isinstance(s, Write) or (isinstance(s, Expect) and s.what in CFS_EXPECTS)
        for s in statements
    )


class CfsNodeWrapper:
    """A simulated node plus its filesystem core (the SimNode protocol, delegated)."""

    def __init__(self, layer: CfsLayer, inner: SimNode, node_id: int, pid: int) -> None:
        self.layer = layer
        self.inner = inner
        self.node_id = node_id
        backend = layer.backends.setdefault(node_id, MemoryBackend())
        self.memdb = MemDb(backend, now=0.0)
        self.cfs = CfsNode(self.memdb, node_id, pid)
        self.pid = pid
        self.now = 0.0
        self.joined = False
        self.last_delivered: tuple[int, int, int] | None = None
        """The group's last message delivered here since the last configuration change
        (sender node id, pid, payload hash): a place in the group's order."""
        self._unsent: list[bytes] = []
        self.counters_cfs = {"cfs_writes": 0, "cfs_refused": 0}
        self.logs: list[str] = []
        """The filesystem's log lines (pmxcfs's), with the node's time."""

    # ---------------------------------------------------------------- SimNode protocol
    def start(self, now: float) -> None:
        self.now = now
        self.inner.start(now)

    def receive(
        self,
        data: bytes,
        now: float,
        link: int = 0,
        *,
        defer: bool = False,
        source: str | None = None,
    ) -> None:
        self.now = now
        self.inner.receive(data, now, link, defer=defer, source=source)

    def process_deferred(self, now: float) -> None:
        self.now = now
        self.inner.process_deferred(now)

    def next_deadline(self) -> float | None:
        return self.inner.next_deadline()

    def on_deadline(self, now: float) -> None:
        self.now = now
        self.inner.on_deadline(now)

    def outbox(self) -> list[Any]:
        return self.inner.outbox()

    def leave(self) -> None:
        self.inner.leave()

    def submit(self, payload: bytes, safe: bool) -> bool:
        return self.inner.submit(payload, safe)

    def touched(self) -> None:
        self.inner.touched()

    def view(self) -> Any:
        return self.inner.view()

    def votes(self) -> Any:
        return self.inner.votes()

    def counters(self) -> Mapping[str, int | float]:
        out = dict(self.inner.counters())
        out.update(self.counters_cfs)
        out["cfs_version"] = self.memdb.root.version
        out["cfs_synced"] = int(self.cfs.synced)
        return out

    def events(self) -> list[Any]:
        events = self.inner.events()
        rest: list[Any] = []
        cfs = self.cfs
        cfs.set_quorate(bool(self.inner.view().quorate))
        for event in events:
            if isinstance(event, (CpgDeliver, CpgConfigChange)) and event.handle == HANDLE:
                self._group_event(event)
            else:
                rest.append(event)
        self._join_when_possible()
        if self._flush():
            # the node's output was taken before its events: have it sent now, as the
            # daemon's driver sends what a control-socket call queued
            self.layer.flush_soon(self.node_id, self)
        return rest

    # ---------------------------------------------------------------- the filesystem
    @property
    def _cpg(self) -> Any:
        stack = getattr(self.inner, "stack", None)
        services = getattr(stack, "services", ())
        return next((s for s in services if type(s).__name__ == "CpgService"), None)

    def _join_when_possible(self) -> None:
        if self.joined:
            return
        cpg = self._cpg
        if cpg is None or not getattr(self.inner.stack, "synced", False):  # type: ignore[attr-defined]
            return
        try:
            cpg.join(HANDLE, CPG_GROUP, self.pid)
        except CpgError:
            return
        self.cfs.initialize()
        self.cfs.joined(self.now)
        self.joined = True

    def _group_event(self, event: CpgDeliver | CpgConfigChange) -> None:
        cfs = self.cfs
        before_version = self.memdb.root.version
        before_mode = cfs.dfsm.mode
        if isinstance(event, CpgDeliver):
            self.last_delivered = (event.nodeid, event.pid, hash(event.payload))
            cfs.group_deliver(event.nodeid, event.pid, event.payload, self.now)
        else:
            self.last_delivered = None
            cfs.group_confchg(
                [(m.nodeid, m.pid) for m in event.members],
                [(m.nodeid, m.pid) for m in event.joined],
                [(m.nodeid, m.pid) for m in event.left],
                self.now,
            )
        if (
            self.memdb.root.version != before_version
            and before_mode == Mode.SYNCED
            and not cfs.dcdb.quorate
        ):
            self.layer.violate(
                "cfs-write-without-quorum",
                (self.node_id,),
                f"node {self.node_id} applied a write while not quorate",
            )
        for out in cfs.events():
            if isinstance(out, OpDone) and out.result >= 0:
                self.counters_cfs["cfs_writes"] += 1
            elif isinstance(out, LogRecord):
                self.logs.append(f"{self.now:.6f} {out.message}")
        if cfs.dfsm.mode == Mode.SYNCED:
            self.layer.check_converged()
        if cfs.dfsm.mode >= Mode.LEAVE:
            self._rejoin()

    def _rejoin(self) -> None:
        """The DFSM left the group (a fatal inconsistency): leave it and start over."""
        cpg = self._cpg
        if cpg is not None:
            try:
                cpg.leave(HANDLE, CPG_GROUP)
            except CpgError:
                pass
        self.cfs.left_group()
        self.joined = False
        self._unsent.clear()

    def _flush(self) -> bool:
        """Multicast what the core queued; True if anything went to the engine."""
        self._unsent.extend(self.cfs.outbox())
        cpg = self._cpg
        sent = False
        while self._unsent and cpg is not None:
            try:
                cpg.mcast(HANDLE, CPG_GROUP, self._unsent[0])
            except CpgError as err:
                if "TRY_AGAIN" in str(err):
                    break  # after the engine's sync (the daemon retries every 100 ms)
                self._unsent.clear()
                break
            self._unsent.pop(0)
            sent = True
        return sent

    def write(self, path: str, data: bytes) -> int:
        """Submit a whole-file write: the first refusal (``-errno``), or 0 when accepted."""
        cfs = self.cfs
        quorate = bool(self.inner.view().quorate)
        cfs.set_quorate(quorate)
        ops = [FsOp(DcdbOp.WRITE, path, data=data, flags=1)]
        if self.memdb.lookup(path) is None:
            ops.insert(0, FsOp(DcdbOp.CREATE, path))
        for op in ops:
            outcome = cfs.submit(op, self.now)
            if isinstance(outcome, OpDone):
                if outcome.result < 0:
                    self.counters_cfs["cfs_refused"] += 1
                    return outcome.result
                continue
            if not quorate:
                self.layer.violate(
                    "cfs-write-without-quorum",
                    (self.node_id,),
                    f"node {self.node_id} multicast a write of {path} while not quorate",
                )
        self._flush()
        return 0


class CfsLayer:
    """The filesystem of every node of one simulation."""

    def __init__(self) -> None:
        self.backends: dict[int, MemoryBackend] = {}
        self.nodes: dict[int, CfsNodeWrapper] = {}
        self._incarnations: dict[int, int] = {}
        self.sim: Any = None
        self._writes = 0

    def wrap(self, factory: NodeFactory) -> NodeFactory:
        def build(node_id: int, stored_ring_seq: int) -> SimNode:
            incarnation = self._incarnations.get(node_id, 0) + 1
            self._incarnations[node_id] = incarnation
            node = CfsNodeWrapper(
                self, factory(node_id, stored_ring_seq), node_id, PID_BASE + incarnation
            )
            self.nodes[node_id] = node
            return node

        return build

    def attach(self, sim: Any) -> None:
        self.sim = sim

    def flush_soon(self, node_id: int, wrapper: CfsNodeWrapper) -> None:
        """Send the node's output at once (after the input being processed)."""

        def flush() -> None:
            if self._current(node_id, wrapper):
                self.sim.poke(node_id, lambda: None)

        self.sim.call_at(self.sim.now, flush)

    def violate(self, invariant: str, nodes: tuple[int, ...], message: str) -> None:
        self.sim.report_violation(invariant, nodes, message)

    def _running(self) -> dict[int, CfsNodeWrapper]:
        alive = set(self.sim.alive())
        return {n: w for n, w in self.nodes.items() if n in alive and self._current(n, w)}

    def _current(self, node_id: int, wrapper: CfsNodeWrapper) -> bool:
        return bool(self.sim.slots[node_id].node is wrapper)

    # ---------------------------------------------------------------- statements
    def write(self, statement: Write) -> None:
        node = self._running().get(statement.node)
        if node is None:
            self.sim.note(f"write on node {statement.node}: the node is down", statement.line)
            return
        self._writes += 1
        body = f"{statement.path} #{self._writes} from node {statement.node}\n".encode()
        data = (body * (statement.size // len(body) + 1))[: max(statement.size, 1)]

        def act() -> int:
            return node.write(statement.path, data)

        result = self.sim.poke(statement.node, act)
        if result < 0:
            name = errno.errorcode.get(-result, str(-result))
            self.sim.note(f"write {statement.path} on node {statement.node}: {name}")

    def read_only(self, nodes: tuple[int, ...], detail: list[str]) -> bool:
        """``expect read-only``: every one of ``nodes`` refuses writes (not quorate)."""
        running = self._running()
        for node_id in nodes:
            node = running.get(node_id)
            if node is None:
                detail.append(f"node {node_id} is down")
                return False
            if bool(node.inner.view().quorate):
                detail.append(f"node {node_id} accepts writes (quorate)")
                return False
        return True

    def holds_file(self, nodes: tuple[int, ...], path: str, detail: list[str]) -> bool:
        """``expect file``: every one of ``nodes`` has ``path`` in its database."""
        running = self._running()
        for node_id in nodes:
            node = running.get(node_id)
            if node is None:
                detail.append(f"node {node_id} is down")
                return False
            if node.memdb.lookup(path) is None:
                detail.append(f"node {node_id} has no {path}")
                return False
        detail.append(f"{path} is on {list(nodes)}")
        return True

    def converged(self, nodes: tuple[int, ...], detail: list[str]) -> bool:
        """``expect converged``: ``nodes`` (none: every running node) are synced in one
        group and hold equal databases."""
        return self._converged(nodes or tuple(sorted(self._running())), detail)

    # ---------------------------------------------------------------- invariants
    def _converged(self, nodes: tuple[int, ...], detail: list[str]) -> bool:
        running = self._running()
        groups = set()
        for node_id in nodes:
            node = running.get(node_id)
            if node is None:
                detail.append(f"node {node_id} is down")
                return False
            if not node.cfs.synced:
                detail.append(f"node {node_id} is {node.cfs.dfsm.mode.name}")
                return False
            view = node.inner.view()
            if view.state != "OPERATIONAL" or not view.synced or node._unsent:
                detail.append(f"node {node_id}'s engine is {view.state}, or still sending")
                return False
            if tuple(sorted(view.members)) != tuple(sorted(nodes)):
                detail.append(f"node {node_id}'s ring is {list(view.members)}")
                return False
            groups.add(tuple(sorted(n for n, _ in node.cfs.dfsm.status()["members"])))
        if groups != {tuple(sorted(nodes))}:
            detail.append(f"groups {sorted(groups)}")
            return False
        sums = {node_id: running[node_id].memdb.checksum() for node_id in nodes}
        if len(set(sums.values())) != 1:
            versions = {n: running[n].memdb.root.version for n in nodes}
            detail.append(f"databases differ (versions {versions})")
            return False
        return True

    def check_converged(self) -> None:
        """Whenever every running node is synced in one group: equal databases."""
        running = self._running()
        if len(running) < 2:
            return
        nodes = tuple(sorted(running))
        for node in running.values():
            if node.cfs.dfsm.mode != Mode.SYNCED or node.cfs.dfsm.msg_queue:
                return
            if tuple(sorted(n for n, _ in node.cfs.dfsm.status()["members"])) != nodes:
                return
        if len({node.last_delivered for node in running.values()}) != 1:
            return  # not all at the same place of the group's order yet
        sums = {n: running[n].memdb.checksum() for n in nodes}
        if len(set(sums.values())) == 1:
            return
        leader = max(
            nodes,
            key=lambda n: (running[n].memdb.root.version, running[n].memdb.root.mtime, -n),
        )
        differ = tuple(n for n in nodes if sums[n] != sums[leader])
        self.violate(
            "cfs-diverged-after-heal",
            differ,
            f"nodes {list(differ)} synced but their databases differ from leader {leader}'s",
        )
