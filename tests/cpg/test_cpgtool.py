"""``corosync-cpgtool`` text from our iteration rows, against a real 3.1.7 sample."""

from __future__ import annotations

from tests.cpg.bus import Bus
from totem.services.cpg import CpgIterationEntry
from totem.services.cpg.cpgtool import format_group_name, format_groups, format_names
from totem.services.cpg.wire import CpgFn, ProcJoin

# tests/fixtures/samples/realcluster-udpu-3node.txt, `corosync-cpgtool` on node 1
REAL = (
    "Group Name\t       PID\t   Node ID\n"
    "demo\n"
    "\t\t     22366\t         2 (10.99.0.2)\n"
    "\t\t     22390\t         3 (10.99.0.3)\n"
)


def test_matches_the_real_tool_for_the_same_groups() -> None:
    bus = Bus([1])
    bus.form([1])
    cpg = bus.nodes[1].cpg
    for sender, pid in [(2, 22366), (3, 22390)]:
        cpg.exec_deliver(sender, CpgFn.PROCJOIN, ProcJoin(b"demo", pid, 1).encode(), 0.0)
    text = format_groups(cpg.iteration(), lambda nodeid: f"10.99.0.{nodeid}")
    assert text == REAL


def test_delimited_and_name_only_forms() -> None:
    rows = [CpgIterationEntry(b"b", 1, 7), CpgIterationEntry(b"a", 2, 8)]
    assert format_groups(rows, str, delimiter=";") == "GRP_NAME;PID;NODEID\nb;7;1\na;8;2\n"
    names = [CpgIterationEntry(b"b", 0, 0), CpgIterationEntry(b"a", 0, 0)]
    assert format_names(names) == "b\na\n"
    assert format_names(names, delimiter=",") == "b,a,\n"


def test_names_are_escaped_like_the_c_tool() -> None:
    assert format_group_name(b"a\\b\x01\x80") == "a\\\\b\\x01\\xFFFFFF80"
    assert format_group_name(b"a\\b", escape=False) == "a\\b"
