"""CpgService on N nodes over a fake total-order bus: group membership and order agree.

Each scenario states the exact callbacks corosync 3.1.7's algorithm produces:
joins and leaves in agreed order, NODEDOWN after a crash or partition (one
callback per group, groups in name order), NODEUP after a merge (joinlist
entries in corosync's reverse arrival order), PROCDOWN for zombies.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cpg.bus import Bus
from totem.ringid import RingId
from totem.services.cpg import (
    CpgAddress,
    CpgConfigChange,
    CpgDeliver,
    CpgError,
    CpgReason,
    CpgTotemConfigChange,
)
from totem.services.cpg.wire import CpgFn, ProcJoin

JOIN, LEAVE = CpgReason.JOIN, CpgReason.LEAVE
NODEDOWN, NODEUP, PROCDOWN = CpgReason.NODEDOWN, CpgReason.NODEUP, CpgReason.PROCDOWN


def A(nodeid: int, pid: int, reason: int = 0) -> CpgAddress:
    return CpgAddress(nodeid, pid, reason)


def without_handle(events: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for e in events:
        if isinstance(e, CpgConfigChange):
            out.append(("confchg", e.group, e.members, e.left, e.joined))
        elif isinstance(e, CpgDeliver):
            out.append(("deliver", e.group, e.nodeid, e.pid, e.payload))
        else:
            out.append(("totem", e.ring_id, e.members))
    return out


def of(bus: Bus, nodeid: int, handle: str) -> list[Any]:
    return [e for e in bus.nodes[nodeid].events if e.handle == handle]


def clear(bus: Bus) -> None:
    for node in bus.nodes.values():
        node.events.clear()


def three_in_g() -> Bus:
    bus = Bus([1, 2, 3])
    bus.form([1, 2, 3])
    for nodeid in (1, 2, 3):
        bus.nodes[nodeid].cpg.join(f"w{nodeid}", "g", 100 * nodeid)
    bus.flush()
    return bus


def test_joins_are_seen_in_one_order_by_everyone() -> None:
    bus = three_in_g()
    m1, m2, m3 = A(1, 100), A(2, 200), A(3, 300)
    assert of(bus, 1, "w1") == [
        CpgConfigChange("w1", b"g", (m1,), (), (A(1, 100, JOIN),)),
        CpgConfigChange("w1", b"g", (m1, m2), (), (A(2, 200, JOIN),)),
        CpgConfigChange("w1", b"g", (m1, m2, m3), (), (A(3, 300, JOIN),)),
    ]
    assert without_handle(of(bus, 2, "w2")) == without_handle(of(bus, 1, "w1"))[1:]
    assert without_handle(of(bus, 3, "w3")) == without_handle(of(bus, 1, "w1"))[2:]
    clear(bus)
    bus.nodes[2].cpg.join("x", "g", 201)
    bus.nodes[1].cpg.leave("w1", "g")
    bus.nodes[3].cpg.join("y", "other", 300)
    bus.flush()
    expected = [
        ("confchg", b"g", (m1, m2, A(2, 201), m3), (), (A(2, 201, JOIN),)),
        ("confchg", b"g", (m2, A(2, 201), m3), (A(1, 100, LEAVE),), ()),
    ]
    assert without_handle(of(bus, 1, "w1")) == expected
    assert without_handle(of(bus, 2, "w2")) == expected
    assert without_handle(of(bus, 3, "w3")) == expected
    assert without_handle(of(bus, 2, "x")) == expected
    assert bus.tables([1]) == bus.tables([2]) == bus.tables([3])


def test_messages_are_delivered_in_one_order_with_sender_and_pid() -> None:
    bus = three_in_g()
    clear(bus)
    sent = []
    for round_no in range(10):
        for nodeid in (3, 1, 2):
            payload = f"{nodeid}:{round_no}".encode()
            bus.nodes[nodeid].cpg.mcast(f"w{nodeid}", "g", payload)
            sent.append((nodeid, 100 * nodeid, payload))
        if round_no % 3 == 0:
            bus.step()  # interleave delivery with sending
    bus.flush()
    for nodeid in (1, 2, 3):
        got = [(e.nodeid, e.pid, e.payload) for e in of(bus, nodeid, f"w{nodeid}")]
        assert got == sent


def test_a_crashed_node_leaves_with_nodedown_once_per_group() -> None:
    bus = three_in_g()
    bus.nodes[3].cpg.join("z", "zeta", 301)
    bus.nodes[3].cpg.join("a", "alpha", 302)
    bus.nodes[3].cpg.join("w3b", "g", 303)
    bus.nodes[1].cpg.join("watch-zeta", "zeta", 101)
    bus.nodes[1].cpg.join("watch-alpha", "alpha", 102)
    bus.flush()
    clear(bus)
    bus.form([1, 2])  # node 3 crashed
    ring = RingId(1, 8)
    # groups in name order: alpha, g, zeta; handles newest first within each callback
    assert bus.nodes[1].events == [
        CpgConfigChange("watch-alpha", b"alpha", (A(1, 102),), (A(3, 302, NODEDOWN),), ()),
        CpgConfigChange(
            "w1", b"g", (A(1, 100), A(2, 200)), (A(3, 300, NODEDOWN), A(3, 303, NODEDOWN)), ()
        ),
        CpgConfigChange("watch-zeta", b"zeta", (A(1, 101),), (A(3, 301, NODEDOWN),), ()),
        CpgTotemConfigChange("watch-alpha", ring, (1, 2)),
        CpgTotemConfigChange("watch-zeta", ring, (1, 2)),
        CpgTotemConfigChange("w1", ring, (1, 2)),
    ]
    assert without_handle(of(bus, 2, "w2")) == without_handle(of(bus, 1, "w1"))
    log = [m for _, _, m in bus.nodes[1].host.logs]
    assert "my downlist: members(old:3 left:1)" in log
    assert "left_list_entries:2" in log
    assert "left_list[1] group:g, ip:3, pid:303" in log


def test_partition_and_merge_rebuild_membership_from_joinlists() -> None:
    bus = three_in_g()
    bus.nodes[3].cpg.join("v3", "g", 301)
    bus.flush()
    clear(bus)
    bus.form([1, 2], [3])
    assert without_handle(of(bus, 1, "w1"))[0] == (
        "confchg",
        b"g",
        (A(1, 100), A(2, 200)),
        (A(3, 300, NODEDOWN), A(3, 301, NODEDOWN)),
        (),
    )
    assert without_handle(of(bus, 3, "w3"))[0] == (
        "confchg",
        b"g",
        (A(3, 300), A(3, 301)),
        (A(1, 100, NODEDOWN), A(2, 200, NODEDOWN)),
        (),
    )
    # each side changes while apart
    bus.nodes[1].cpg.join("n1", "g", 101)
    bus.nodes[3].cpg.leave("v3", "g")
    bus.flush()
    clear(bus)
    bus.form([1, 2, 3])
    ring = RingId(1, 16)
    everyone = (A(1, 100), A(1, 101), A(2, 200), A(3, 300))
    assert of(bus, 1, "w1") == [
        CpgConfigChange("w1", b"g", everyone, (), (A(3, 300, NODEUP),)),
        CpgTotemConfigChange("w1", ring, (1, 2, 3)),
    ]
    # node 3 learns three processes: corosync keeps joinlist entries newest first
    assert of(bus, 3, "w3") == [
        CpgConfigChange(
            "w3", b"g", everyone, (), (A(2, 200, NODEUP), A(1, 101, NODEUP), A(1, 100, NODEUP))
        ),
        CpgTotemConfigChange("w3", ring, (1, 2, 3)),
    ]
    assert bus.tables([1]) == bus.tables([2]) == bus.tables([3])
    log = [m for _, _, m in bus.nodes[3].host.logs]
    assert "joinlist_messages[0] group:g, ip:3, pid:300" in log
    assert "joinlist_messages[3] group:g, ip:1, pid:100" in log


def test_processes_no_joinlist_names_leave_with_procdown() -> None:
    bus = Bus([1, 2])
    bus.form([1, 2])
    bus.nodes[1].cpg.join("w", "g", 1)
    bus.nodes[2].cpg.join("v", "g", 2)
    bus.flush()
    # node 1 alone believes node 2 also runs pid 99 in g (a process it missed the end of)
    bus.nodes[1].cpg.exec_deliver(2, CpgFn.PROCJOIN, ProcJoin(b"g", 99, JOIN).encode(), 0.0)
    bus.nodes[1].drain()
    clear(bus)
    bus.form([1, 2])
    assert of(bus, 1, "w") == [
        CpgConfigChange("w", b"g", (A(1, 1), A(2, 2)), (A(2, 99, PROCDOWN),), ()),
        CpgTotemConfigChange("w", RingId(1, 8), (1, 2)),
    ]
    assert bus.tables([1]) == bus.tables([2])


def test_a_new_configuration_during_sync_aborts_it_and_the_next_sync_converges() -> None:
    bus = three_in_g()
    bus.form([1, 2], [3])
    bus.nodes[3].cpg.join("late", "g", 333)
    bus.flush()
    clear(bus)
    bus.reconfigure([[1, 2, 3]])
    bus.step()  # part of the merge's sync messages delivered
    bus.step()
    bus.reconfigure([[1, 2, 3]], deliver_pending=False)
    bus.flush()
    tables = bus.tables([1, 2, 3])
    assert tables[0] == tables[1] == tables[2]
    everyone = (A(1, 100), A(2, 200), A(3, 300), A(3, 333))
    assert bus.nodes[1].cpg.membership("g") == everyone
    # node 1 learns node 3's processes exactly once, whatever the abort left behind
    assert of(bus, 1, "w1")[:-1] == [
        CpgConfigChange("w1", b"g", everyone, (), (A(3, 333, NODEUP), A(3, 300, NODEUP))),
    ]
    assert of(bus, 1, "w1")[-1] == CpgTotemConfigChange("w1", RingId(1, 20), (1, 2, 3))


# --- randomized: agreement under any mix of operations and membership changes ------------------
COMPONENTS = [
    ((1, 2, 3, 4),),
    ((1, 2), (3, 4)),
    ((1,), (2, 3, 4)),
    ((1, 3), (2,), (4,)),
    ((1, 2, 4),),
]
KINDS = ["join"] * 3 + ["mcast"] * 6 + ["leave", "finalize", "step", "step", "membership"]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_ring_agrees_on_groups_and_message_order(data: st.DataObject) -> None:
    bus = Bus([1, 2, 3, 4])
    bus.form([1, 2, 3, 4])
    counter = 0
    alive = {1, 2, 3, 4}
    for _ in range(data.draw(st.integers(5, 60), label="operations")):
        kind = data.draw(st.sampled_from(KINDS))
        if kind == "membership":
            components = [list(comp) for comp in data.draw(st.sampled_from(COMPONENTS))]
            complete = data.draw(st.booleans(), label="sync completes")
            for nodeid in {1, 2, 3, 4} - alive:
                bus.restart(nodeid)
            alive = {n for comp in components for n in comp}
            # either the sync completes, or it is left running (requests get TRY_AGAIN, the
            # next change aborts it, old messages move to the new ring)
            bus.reconfigure(components, deliver_pending=complete)
            if complete:
                bus.flush()
            continue
        if kind == "step":
            for _ in range(data.draw(st.integers(0, 12), label="steps")):
                bus.step()
            continue
        nodeid = data.draw(st.sampled_from(sorted(alive)), label="node")
        cpg = bus.nodes[nodeid].cpg
        index = data.draw(st.integers(0, 2), label="handle")
        handle, group = f"{nodeid}.{index}", "ggh"[index]  # two handles in g, one in h
        try:
            if kind == "join":
                cpg.join(handle, group, 1000 * nodeid + index)
            elif kind == "leave":
                cpg.leave(handle, group)
            elif kind == "finalize":
                cpg.finalize(handle)
            else:
                counter += 1
                cpg.mcast(handle, group, f"m{counter}".encode())
        except CpgError:
            pass
    for nodeid in {1, 2, 3, 4} - alive:
        bus.restart(nodeid)
    bus.reconfigure([[1, 2, 3, 4]])
    bus.flush()
    # after a full sync every node holds the same process list
    tables = bus.tables([1, 2, 3, 4])
    assert all(t == tables[0] for t in tables)
    # every handle's view of its group is that list
    for node in bus.nodes.values():
        for local in node.cpg.local_groups():
            changes = [
                e
                for e in node.events
                if isinstance(e, CpgConfigChange) and e.handle == local.handle
            ]
            if local.group and changes and changes[-1].group == local.group:
                assert changes[-1].members == node.cpg.membership(local.group)
    # any two handles order the messages they both got the same way
    streams = [
        [
            (e.nodeid, e.pid, e.payload)
            for e in node.events
            if isinstance(e, CpgDeliver) and e.handle == handle
        ]
        for node in bus.nodes.values()
        for handle in {e.handle for e in node.events}
    ]
    for first in streams:
        for second in streams:
            common = set(first) & set(second)
            assert [m for m in first if m in common] == [m for m in second if m in common]
