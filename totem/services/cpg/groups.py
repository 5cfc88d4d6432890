"""The cluster-wide process list of CPG (corosync 3.1.7 ``exec/cpg.c``: ``process_info_list``).

Every node keeps one list of ``(nodeid, pid, group)`` for all processes of all
groups on all nodes. The order is part of the behaviour: a new process is put
after the last entry whose ``(nodeid, pid)`` is not greater than its own, so
the list is sorted by node id and pid, with equal keys (one process in several
groups) in arrival order. Member lists of confchg callbacks, ``membership``
and the joinlist a node sends all read the list in this order.

Two more orders come from corosync's containers and are reproduced here:

* callbacks that batch per group (node down, joinlist merge) visit groups in
  ``strcmp`` order of the name (libqb skiplist keyed by the C string);
* ``cpg_iteration`` groups rows by name: a new name goes to the *front*, and a
  further member of a known name goes right *after that name's first row*.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from totem.services.cpg.events import CpgIterationEntry, CpgIterationType

__all__ = ["ProcessInfo", "ProcessTable", "group_order_key", "print_group_name"]


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """``struct process_info``: process ``pid`` on node ``nodeid`` is a member of ``group``."""

    nodeid: int
    pid: int
    group: bytes


def group_order_key(group: bytes) -> tuple[bytes, bytes]:
    """Sort key giving corosync's per-group callback order (``strcmp`` of the C string).

    corosync keys its map by the name as a C string, so a name with an embedded
    NUL would collide with its prefix there; we sort by the C string and break
    ties by the full name instead of merging the two groups' callbacks.
    """
    return (group.split(b"\0", 1)[0], group)


def print_group_name(group: bytes) -> str:
    """A group name as corosync logs it (``cpg_print_group_name``): escapes non-printables."""
    out = []
    for byte in group:
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02X}")
    return "".join(out)


class ProcessTable:
    """``process_info_list``: an ordered list of ``ProcessInfo``."""

    def __init__(self) -> None:
        self._entries: list[ProcessInfo] = []
        self._node_groups: Counter[tuple[int, bytes]] = Counter()
        """How many processes of (nodeid, group) are listed: the per-message sender check."""

    def __iter__(self) -> Iterator[ProcessInfo]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def snapshot(self) -> tuple[ProcessInfo, ...]:
        """A copy of the list, safe to iterate while the table changes."""
        return tuple(self._entries)

    def contains(self, group: bytes, pid: int, nodeid: int) -> bool:
        """``process_info_find``."""
        return ProcessInfo(nodeid, pid, group) in self._entries

    def insert(self, info: ProcessInfo) -> None:
        """Add ``info`` after the last entry whose (nodeid, pid) is not greater."""
        key = (info.nodeid, info.pid)
        position = 0
        for index, entry in enumerate(self._entries):
            if (entry.nodeid, entry.pid) > key:
                break
            position = index + 1
        self._entries.insert(position, info)
        self._node_groups[(info.nodeid, info.group)] += 1

    def remove(self, group: bytes, pid: int, nodeid: int) -> bool:
        """Remove the matching entry; False if there was none."""
        info = ProcessInfo(nodeid, pid, group)
        before = len(self._entries)
        self._entries = [entry for entry in self._entries if entry != info]
        removed = before - len(self._entries)
        if removed:
            key = (nodeid, group)
            self._node_groups[key] -= removed
            if self._node_groups[key] <= 0:
                del self._node_groups[key]
        return removed != 0

    def members(self, group: bytes) -> list[ProcessInfo]:
        """The processes of ``group``, in list order."""
        return [entry for entry in self._entries if entry.group == group]

    def node_in_group(self, nodeid: int, group: bytes) -> bool:
        """Whether any process of ``nodeid`` is in ``group`` (the mcast "known node" check)."""
        return (nodeid, group) in self._node_groups

    def of_node(self, nodeid: int) -> list[ProcessInfo]:
        """The processes on ``nodeid``, in list order (what its JOINLIST carries)."""
        return [entry for entry in self._entries if entry.nodeid == nodeid]

    def iteration(
        self, kind: CpgIterationType, group: bytes | None = None
    ) -> list[CpgIterationEntry]:
        """The rows ``cpg_iteration_initialize`` + ``cpg_iteration_next`` return."""
        rows: list[CpgIterationEntry] = []
        for entry in self._entries:
            if kind is CpgIterationType.ONE_GROUP and entry.group != group:
                continue
            first = next((i for i, row in enumerate(rows) if row.group == entry.group), None)
            if kind is CpgIterationType.NAME_ONLY:
                if first is not None:
                    continue
                row = CpgIterationEntry(entry.group, 0, 0)
            else:
                row = CpgIterationEntry(entry.group, entry.nodeid, entry.pid)
            if first is None:
                rows.insert(0, row)
            else:
                rows.insert(first + 1, row)
        return rows
