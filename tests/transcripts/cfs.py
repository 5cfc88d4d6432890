"""Transcripts of the cluster filesystem (``testdata/cfs``): pmxcfs's DFSM and DCDB on a
process group, above all the sync that follows every configuration change.

Nodes run :class:`pvecluster.cfs.node.CfsNode` (memdb + DCDB + DFSM) on the process-group
bus of the cfs tests (:class:`tests.cfs.bus.Bus`: virtual synchrony, one agreed order per
component, configuration changes to every member). Every message is printed once, when
multicast, decoded by :mod:`pvecluster.cfs.wire` (STATE bodies, the memdb index, by
:func:`pvecluster.cfs.memdb.decode_index`); every event of a node is printed as it is
drained. Commands::

    nodes N                                 nodes 1..N (none in the group yet)
    start 1 2 [quorate=0]                   the nodes join the group (a configuration change)
    stop NODE                               the node leaves the group
    partition 1,2 3 | heal                  split the group into components / one again
    quorate NODE 0|1                        the quorum service's verdict for that node
    write NODE PATH TEXT                    a file write (CREATE first if new), as FUSE does
    offline-write NODE PATH TEXT            a change to a stopped node's own database
    advance s=N                             the clock moves (file mtimes)
    tree                                    each node's files (version, writer) and checksum
"""

from __future__ import annotations

from pvecluster.cfs.dcdb import CorosyncConfUpdated, TreeUpdated
from pvecluster.cfs.dfsm import ModeChanged
from pvecluster.cfs.memdb import DT_DIR, decode_index
from pvecluster.cfs.node import OpDone
from pvecluster.cfs.wire import (
    BASE_HEADER,
    DcdbOp,
    MessageType,
    WireError,
    decode_fs_message,
    decode_normal,
    decode_state,
    decode_update,
)
from tests.cfs.bus import PID, Bus
from tests.transcripts import printers
from tests.transcripts.datadriven import Case
from tests.transcripts.interp import Interpreter, node_ids
from totem.srp.events import LogRecord

__all__ = ["CfsInterpreter"]


def describe(payload: bytes) -> str:
    """One DFSM message, as multicast."""
    try:
        kind = payload and BASE_HEADER.unpack_from(payload)[0]
        if kind == MessageType.NORMAL:
            subtype, _time, count, body = decode_normal(payload)
            op = DcdbOp(subtype)
            fs = decode_fs_message(body)
            data = f" data={printers.text(fs.data, 20)}" if fs.data else ""
            to = f" to={fs.to}" if fs.to else ""
            return f"NORMAL {op.name} count={count} path={fs.path}{to}{data} ({len(payload)}B)"
        message_type, epoch, body = decode_state(payload)
        name = MessageType(message_type).name
        where = f"epoch={epoch.epoch}/{epoch.nodeid}"
        if message_type == MessageType.STATE:
            header, entries = decode_index(body)
            return (
                f"{name} {where} index: version={header.version} writer={header.writer} "
                f"mtime={header.mtime} entries={len(entries)} ({len(payload)}B)"
            )
        if message_type == MessageType.UPDATE:
            entry = decode_update(body)
            kind = "dir" if entry.type == DT_DIR else f"{entry.size}B"
            return (
                f"{name} {where} inode={entry.inode} name={entry.name or '/'} "
                f"version={entry.version} writer={entry.writer} {kind} ({len(payload)}B)"
            )
        return f"{name} {where} ({len(payload)}B)"
    except (WireError, ValueError) as err:
        return f"undecodable: {err} ({len(payload)}B)"


class TracedBus(Bus):
    """The cfs test bus, printing each message when multicast and each event when drained."""

    interp: CfsInterpreter

    def flush(self) -> None:
        while True:
            progress = False
            for nodeid in sorted(self.up):
                node = self.nodes[nodeid]
                self._drain_events(nodeid)
                for payload in node.outbox():
                    progress = True
                    self.interp.out(f"{nodeid} => {describe(payload)}")
                    for member in sorted(self.component_of(nodeid)):
                        self.nodes[member].group_deliver(nodeid, PID + nodeid, payload, self.now)
                        self._drain_events(member)
            if not progress:
                return

    def _drain_events(self, nodeid: int) -> None:
        out = self.interp.out
        for event in self.nodes[nodeid].events():
            if isinstance(event, OpDone):
                self.results[nodeid][event.count] = event.result
                out(f"  {nodeid}: operation {event.count} done: {event.result}")
            elif isinstance(event, CorosyncConfUpdated):
                self.conf[nodeid].append(event.data)
                how = "after sync" if event.after_sync else "notify" if event.notify else "quiet"
                out(f"  {nodeid}: corosync.conf updated ({how}, {len(event.data)}B)")
            elif isinstance(event, LogRecord):
                self.logs[nodeid].append(event.message)
                out(f"  {nodeid}: [{event.subsys}] {event.message}")
            elif isinstance(event, TreeUpdated):
                self.trees[nodeid].append(event)
                out(f"  {nodeid}: tree {event.prefix} updated")
            elif isinstance(event, ModeChanged):
                out(f"  {nodeid}: mode {event.mode.name}")
            else:
                out(f"  {nodeid}: {event!r}")

    def set_components(self, groups: object) -> None:
        old = {frozenset(c) for c in self.components}
        new = [set(g) & self.up for g in groups if set(g) & self.up]  # type: ignore[attr-defined]
        for component in new:
            if frozenset(component) not in old:
                self.interp.out(f"configuration change: members {printers.ids(sorted(component))}")
        super().set_components(new)


class CfsInterpreter(Interpreter):
    """Commands of ``testdata/cfs`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.bus: TracedBus | None = None

    @property
    def net(self) -> TracedBus:
        if self.bus is None:
            raise ValueError("no nodes yet: say `nodes 3` first")
        return self.bus

    def cmd_nodes(self, case: Case) -> None:
        TracedBus.interp = self  # the bus prints from its constructor on
        self.bus = TracedBus(int(case.positional()[0]))

    def cmd_start(self, case: Case) -> None:
        quorate = case.get("quorate", "1") != "0"
        self.net.start(*self.node_words(case), quorate=quorate)

    def cmd_stop(self, case: Case) -> None:
        self.net.stop(int(case.positional()[0]))

    def cmd_partition(self, case: Case) -> None:
        self.net.partition(*[set(node_ids(g)) for g in case.positional()])

    def cmd_heal(self, case: Case) -> None:
        self.net.heal()

    def cmd_quorate(self, case: Case) -> None:
        node, value = case.positional()[:2]
        self.net.set_quorate(value != "0", int(node))

    def cmd_write(self, case: Case) -> None:
        words = case.positional()
        node, path, text = int(words[0]), words[1], " ".join(words[2:])
        result = self.net.put(node, path, text.encode())
        self.out(f"write {path} on {node}: {result}")

    def cmd_offline_write(self, case: Case) -> None:
        words = case.positional()
        node, path, text = int(words[0]), words[1], " ".join(words[2:])
        bus = self.net
        memdb = bus.nodes[node].memdb
        if memdb.lookup(path) is None:
            memdb.create(path, node, int(bus.now))
        memdb.write(path, node, int(bus.now), text.encode(), 0, truncate=True)

    def cmd_advance(self, case: Case) -> None:
        self.net.now += self.int_arg(case, "s")

    def cmd_tree(self, case: Case) -> None:
        bus = self.net
        for nodeid, node in sorted(bus.nodes.items()):
            files = [
                f"{path}(v{entry.version},w{entry.writer})"
                for path, entry in node.memdb.walk()
                if path not in ("", "/")
            ]
            state = node.dfsm.mode.name if nodeid in bus.up else "stopped"
            self.out(
                f"{nodeid}: {state} version={node.memdb.root.version} "
                f"checksum={node.memdb.checksum()[:4].hex()} {' '.join(files) or '-'}"
            )
