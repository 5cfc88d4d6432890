"""CpgService on one or two nodes: the local process API, its errors, and exact events."""

from __future__ import annotations

import json

import pytest

from tests.cpg.bus import Bus
from totem.ringid import RingId
from totem.services.cpg import (
    CPG_MAX_ATOMIC_MSGSIZE,
    CpdState,
    CpgAddress,
    CpgConfigChange,
    CpgDeliver,
    CpgError,
    CpgGuarantee,
    CpgIterationEntry,
    CpgIterationType,
    CpgLocalProcess,
    CpgReason,
    CpgTotemConfigChange,
    CsError,
)
from totem.services.cpg.wire import (
    CpgFn,
    JoinList,
    JoinListEntry,
    Mcast,
    PartialMcast,
    PartialType,
    ProcJoin,
    decode,
)
from totem.srp.events import LogLevel

JOIN, LEAVE, PROCDOWN = CpgReason.JOIN, CpgReason.LEAVE, CpgReason.PROCDOWN


def error_of(call: object, *args: object, **kwargs: object) -> CsError:
    with pytest.raises(CpgError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value.error


@pytest.fixture
def one() -> Bus:
    bus = Bus([1])
    bus.form([1])
    return bus


def test_requests_before_the_first_sync_are_refused_with_try_again() -> None:
    bus = Bus([1])
    cpg = bus.nodes[1].cpg
    assert cpg.sync_in_progress
    assert error_of(cpg.join, "h", "g", 100) is CsError.ERR_TRY_AGAIN
    assert cpg.membership("g") == ()
    bus.form([1])
    assert not cpg.sync_in_progress
    cpg.join("h", "g", 100)


def test_join_is_confirmed_by_its_own_delivery(one: Bus) -> None:
    node = one.nodes[1]
    node.cpg.join("h", "g", 100)
    assert node.cpg.local_groups() == (CpgLocalProcess("h", b"g", 100, CpdState.JOIN_STARTED),)
    assert node.cpg.membership("g") == ()
    one.flush()
    me = CpgAddress(1, 100)
    assert node.events == [
        CpgConfigChange("h", b"g", (me,), (), (CpgAddress(1, 100, JOIN),)),
    ]
    assert node.cpg.local_groups()[0].state is CpdState.JOIN_COMPLETED
    assert node.cpg.membership(b"g") == (me,)
    assert [m[0] for _, m in one.wire] == [CpgFn.DOWNLIST, CpgFn.PROCJOIN]
    assert decode(CpgFn.PROCJOIN, one.wire[1][1][16:]) == ProcJoin(b"g", 100, JOIN)


def test_join_errors_follow_corosync(one: Bus) -> None:
    cpg = one.nodes[1].cpg
    assert error_of(cpg.join, "h", "x" * 129, 1) is CsError.ERR_NAME_TOO_LONG
    cpg.join("h", "g", 100)
    assert error_of(cpg.join, "h", "other", 101) is CsError.ERR_EXIST  # JOIN_STARTED
    assert error_of(cpg.join, "h2", "g", 100) is CsError.ERR_EXIST  # same pid and group
    assert error_of(cpg.leave, "h", "g") is CsError.ERR_BUSY  # join not delivered yet
    one.flush()
    assert error_of(cpg.join, "h", "other", 101) is CsError.ERR_EXIST  # JOIN_COMPLETED
    assert error_of(cpg.leave, "nobody", "g") is CsError.ERR_BAD_HANDLE
    assert error_of(cpg.leave, "h", "other") is CsError.ERR_NOT_EXIST
    cpg.leave("h", "g")
    assert error_of(cpg.join, "h", "other", 101) is CsError.ERR_BUSY  # LEAVE_STARTED
    assert error_of(cpg.leave, "h", "g") is CsError.ERR_NOT_EXIST
    assert error_of(cpg.mcast, "h", "g", b"x") is CsError.ERR_NOT_EXIST
    one.flush()
    # Our own leave delivered: the handle is UNJOINED and may join again (see service docs).
    assert cpg.local_groups() == (CpgLocalProcess("h", b"", 0, CpdState.UNJOINED),)
    cpg.join("h", "g", 100)


def test_leave_events_and_rejoin(one: Bus) -> None:
    node = one.nodes[1]
    node.cpg.join("a", "g", 1)
    node.cpg.join("b", "g", 2)
    one.flush()
    node.events.clear()
    node.cpg.leave("a", "g")
    one.flush()
    members, left = (CpgAddress(1, 2),), (CpgAddress(1, 1, LEAVE),)
    # b is newer, so corosync's handle list has it first
    assert node.events == [
        CpgConfigChange("b", b"g", members, left, ()),
        CpgConfigChange("a", b"g", members, left, ()),
    ]
    node.events.clear()
    node.cpg.mcast("b", "g", b"after")
    one.flush()
    assert node.events == [CpgDeliver("b", b"g", 1, 2, b"after")]


def test_finalize_leaves_with_procdown_and_is_not_held_by_sync(one: Bus) -> None:
    cpg = one.nodes[1].cpg
    cpg.join("a", "g", 1)
    cpg.join("b", "g", 2)
    one.flush()
    one.nodes[1].events.clear()
    one.reconfigure([[1]], deliver_pending=True)  # sync in progress, not yet delivered
    assert cpg.sync_in_progress
    assert error_of(cpg.mcast, "a", "g", b"x") is CsError.ERR_TRY_AGAIN
    cpg.finalize("a")
    assert error_of(cpg.finalize, "a") is CsError.ERR_BAD_HANDLE
    one.flush()
    assert decode(CpgFn.PROCLEAVE, one.wire[-1][1][16:]) == ProcJoin(b"g", 1, PROCDOWN)
    ring = RingId(1, 8)
    assert one.nodes[1].events == [
        CpgTotemConfigChange("b", ring, (1,)),
        CpgConfigChange("b", b"g", (CpgAddress(1, 2),), (CpgAddress(1, 1, PROCDOWN),), ()),
    ]


def test_join_while_own_leave_is_in_flight_is_try_again(one: Bus) -> None:
    cpg = one.nodes[1].cpg
    cpg.join("a", "g", 7)
    one.flush()
    cpg.finalize("a")  # PROCDOWN not delivered yet: (1, 7, g) still listed
    assert error_of(cpg.join, "b", "g", 7) is CsError.ERR_TRY_AGAIN
    one.flush()
    cpg.join("b", "g", 7)


def test_initial_totem_conf_follows_the_first_callback(one: Bus) -> None:
    node = one.nodes[1]
    node.cpg.join("h", "g", 5, deliver_initial_totem_conf=True)
    one.flush()
    assert node.events == [
        CpgConfigChange("h", b"g", (CpgAddress(1, 5),), (), (CpgAddress(1, 5, JOIN),)),
        CpgTotemConfigChange("h", RingId(1, 4), (1,)),
    ]
    node.events.clear()
    node.cpg.leave("h", "g")
    one.flush()
    assert node.events == [CpgConfigChange("h", b"g", (), (CpgAddress(1, 5, LEAVE),), ())]


def test_mcast_is_delivered_to_every_member_with_sender_and_pid() -> None:
    bus = Bus([1, 2])
    bus.form([1, 2])
    bus.nodes[1].cpg.join("a", "g", 10)
    bus.nodes[2].cpg.join("b", "g", 20)
    bus.flush()
    for node in bus.nodes.values():
        node.events.clear()
    bus.nodes[2].cpg.mcast("b", "g", b"one", CpgGuarantee.SAFE)  # sent AGREED regardless
    bus.nodes[1].cpg.mcast("a", b"g", b"two")
    bus.flush()
    assert bus.nodes[1].events == [
        CpgDeliver("a", b"g", 2, 20, b"one"),
        CpgDeliver("a", b"g", 1, 10, b"two"),
    ]
    assert bus.nodes[2].events == [
        CpgDeliver("b", b"g", 2, 20, b"one"),
        CpgDeliver("b", b"g", 1, 10, b"two"),
    ]
    assert decode(CpgFn.MCAST, bus.wire[-1][1][16:]) == Mcast(b"g", 10, b"two", 1, 0)
    assert error_of(bus.nodes[1].cpg.mcast, "a", "g", b"x", 7) is CsError.ERR_INVALID_PARAM


def test_large_messages_go_as_partial_mcast_and_reassemble() -> None:
    bus = Bus([1, 2])
    bus.form([1, 2])
    bus.nodes[1].cpg.join("a", "g", 10)
    bus.nodes[2].cpg.join("b", "g", 20)
    bus.flush()
    for node in bus.nodes.values():
        node.events.clear()
    start = len(bus.wire)
    big = bytes(range(256)) * ((2 * CPG_MAX_ATOMIC_MSGSIZE + 1000) // 256)
    bus.nodes[1].cpg.mcast("a", "g", big)
    fragments = [decode(CpgFn.PARTIAL_MCAST, m[16:]) for _, m in bus.wire[start:]]
    assert [(f.type, len(f.fragment), f.msglen) for f in fragments] == [  # type: ignore[union-attr]
        (PartialType.FIRST, CPG_MAX_ATOMIC_MSGSIZE, len(big)),
        (PartialType.CONTINUED, CPG_MAX_ATOMIC_MSGSIZE, len(big)),
        (PartialType.LAST, len(big) - 2 * CPG_MAX_ATOMIC_MSGSIZE, len(big)),
    ]
    bus.flush()
    assert bus.nodes[1].events == [CpgDeliver("a", b"g", 1, 10, big)]
    assert bus.nodes[2].events == [CpgDeliver("b", b"g", 1, 10, big)]
    # the limit itself is one MCAST; one byte more is FIRST + LAST
    start = len(bus.wire)
    bus.nodes[2].cpg.mcast("b", "g", bytes(CPG_MAX_ATOMIC_MSGSIZE))
    bus.nodes[2].cpg.mcast("b", "g", bytes(CPG_MAX_ATOMIC_MSGSIZE + 1))
    assert [m[0:2] for _, m in bus.wire[start:]] == [b"\x03\x00", b"\x06\x00", b"\x06\x00"]
    bus.flush()
    assert [len(e.payload) for e in bus.nodes[1].events[1:]] == [
        CPG_MAX_ATOMIC_MSGSIZE,
        CPG_MAX_ATOMIC_MSGSIZE + 1,
    ]


def test_malformed_and_unknown_messages_are_counted_not_raised(one: Bus) -> None:
    node = one.nodes[1]
    cpg = node.cpg
    cpg.exec_deliver(2, CpgFn.PROCJOIN, b"\x01\x02", 0.0)
    cpg.exec_deliver(2, CpgFn.MCAST, Mcast(b"g", 1, b"abc").encode()[:-1], 0.0)
    cpg.exec_deliver(2, 9, b"", 0.0)
    assert cpg.counters == {"malformed_procjoin": 1, "malformed_mcast": 1, "unknown_fn": 1}
    assert node.host.logs[-1][:2] == (LogLevel.WARNING, "CPG")
    assert "malformed mcast message from node 2" in node.host.logs[-1][2]
    assert cpg.membership("g") == ()
    assert node.cpg.events() == []


def test_messages_from_a_node_without_members_are_not_delivered(one: Bus) -> None:
    node = one.nodes[1]
    node.cpg.join("a", "g", 1)
    one.flush()
    node.events.clear()
    node.cpg.exec_deliver(7, CpgFn.MCAST, Mcast(b"g", 70, b"x", 7).encode(), 0.0)
    assert node.cpg.events() == []
    assert node.cpg.counters == {"unknown_node_mcast": 1}
    assert (LogLevel.WARNING, "CPG", "Unknown node -> we will not deliver message") in (
        node.host.logs
    )
    # the check is only made when a local handle would receive the message
    node.cpg.exec_deliver(7, CpgFn.MCAST, Mcast(b"nobody", 70, b"x", 7).encode(), 0.0)
    assert node.cpg.counters == {"unknown_node_mcast": 1}


def test_partial_reassembly_edge_cases(one: Bus) -> None:
    node = one.nodes[1]
    cpg = node.cpg
    cpg.join("a", "g", 1)
    cpg.exec_deliver(2, CpgFn.PROCJOIN, ProcJoin(b"g", 20, JOIN).encode(), 0.0)
    cpg.exec_deliver(2, CpgFn.PROCJOIN, ProcJoin(b"g", 21, JOIN).encode(), 0.0)
    one.flush()
    node.events.clear()

    def part(pid: int, kind: PartialType, fragment: bytes, msglen: int = 6) -> None:
        body = PartialMcast(b"g", msglen, pid, kind, fragment, 2).encode()
        cpg.exec_deliver(2, CpgFn.PARTIAL_MCAST, body, 0.0)

    part(20, PartialType.CONTINUED, b"ab")  # no FIRST: ignored
    part(20, PartialType.FIRST, b"ab")
    part(21, PartialType.FIRST, b"xy")  # another process interleaves
    part(20, PartialType.FIRST, b"AB")  # restart: the first assembly is dropped
    part(20, PartialType.CONTINUED, b"CD")
    part(21, PartialType.LAST, b"z")  # 3 of 6 bytes: dropped
    part(20, PartialType.LAST, b"EF")
    part(20, PartialType.FIRST, b"1234")
    part(20, PartialType.CONTINUED, b"5678")  # more than msglen: dropped
    assert cpg.events() == [CpgDeliver("a", b"g", 2, 20, b"ABCDEF")]
    assert cpg.counters == {
        "partial_mcast_without_first": 1,
        "partial_mcast_interrupted": 1,
        "partial_mcast_short": 1,
        "partial_mcast_overrun": 1,
    }
    # a process that leaves takes its half-built message with it
    part(21, PartialType.FIRST, b"abc")
    cpg.exec_deliver(2, CpgFn.PROCLEAVE, ProcJoin(b"g", 21, LEAVE).encode(), 0.0)
    cpg.exec_deliver(2, CpgFn.PROCJOIN, ProcJoin(b"g", 21, JOIN).encode(), 0.0)
    cpg.events()
    part(21, PartialType.LAST, b"def")
    assert cpg.events() == []
    assert cpg.counters["partial_mcast_without_first"] == 2


def test_procleave_of_an_unknown_process_still_notifies(one: Bus) -> None:
    # corosync sends the confchg before it looks the process up
    node = one.nodes[1]
    node.cpg.join("a", "g", 1)
    one.flush()
    node.events.clear()
    node.cpg.exec_deliver(3, CpgFn.PROCLEAVE, ProcJoin(b"g", 33, 9).encode(), 0.0)
    assert node.cpg.events() == [
        CpgConfigChange("a", b"g", (CpgAddress(1, 1),), (CpgAddress(3, 33, 9),), ()),
    ]


def test_iteration_groups_like_corosync_cpgtool(one: Bus) -> None:
    cpg = one.nodes[1].cpg
    for sender, pid, group in [(1, 1, b"A"), (1, 2, b"B"), (2, 1, b"A"), (3, 1, b"A")]:
        cpg.exec_deliver(sender, CpgFn.PROCJOIN, ProcJoin(group, pid, JOIN).encode(), 0.0)
    rows = [(r.group, r.nodeid, r.pid) for r in cpg.iteration()]
    # new names go first; later members go right after their name's first row
    assert rows == [(b"B", 1, 2), (b"A", 1, 1), (b"A", 3, 1), (b"A", 2, 1)]
    assert cpg.iteration(CpgIterationType.NAME_ONLY) == [
        CpgIterationEntry(b"B", 0, 0),
        CpgIterationEntry(b"A", 0, 0),
    ]
    assert [(r.nodeid, r.pid) for r in cpg.iteration(CpgIterationType.ONE_GROUP, "A")] == [
        (1, 1),
        (3, 1),
        (2, 1),
    ]
    assert error_of(cpg.iteration, CpgIterationType.ONE_GROUP) is CsError.ERR_INVALID_PARAM
    assert cpg.membership("A") == (CpgAddress(1, 1), CpgAddress(2, 1), CpgAddress(3, 1))
    assert cpg.local_get() == 1


def test_process_list_order_is_nodeid_then_pid_then_arrival(one: Bus) -> None:
    cpg = one.nodes[1].cpg
    for sender, pid, group in [(2, 5, b"x"), (1, 9, b"x"), (2, 3, b"x"), (2, 5, b"y")]:
        cpg.exec_deliver(sender, CpgFn.PROCJOIN, ProcJoin(group, pid, JOIN).encode(), 0.0)
    cpg.exec_deliver(2, CpgFn.PROCJOIN, ProcJoin(b"x", 5, JOIN).encode(), 0.0)  # duplicate
    assert [(r.nodeid, r.pid, r.group) for r in cpg._table] == [
        (1, 9, b"x"),
        (2, 3, b"x"),
        (2, 5, b"x"),
        (2, 5, b"y"),
    ]


def test_status_is_json(one: Bus) -> None:
    cpg = one.nodes[1].cpg
    cpg.join(("conn", 1), b"g\\\x01", 4)
    one.flush()
    status = cpg.status()
    json.dumps(status)
    assert status["groups"] == {"g\\\\\\x01": [{"nodeid": 1, "pid": 4}]}
    assert status["ring_id"] == "1.4"
    assert status["local"][0]["state"] == "JOIN_COMPLETED"


def test_joinlist_is_only_sent_by_nodes_with_local_processes() -> None:
    bus = Bus([1, 2])
    bus.form([1, 2])
    bus.nodes[2].cpg.join("b", "g", 20)
    bus.nodes[2].cpg.join("c", "h", 21)
    bus.flush()
    start = len(bus.wire)
    bus.form([1, 2])
    sent = [(sender, m[0]) for sender, m in bus.wire[start:]]
    assert sent == [(1, CpgFn.DOWNLIST), (2, CpgFn.DOWNLIST), (2, CpgFn.JOINLIST)]
    assert decode(CpgFn.JOINLIST, bus.wire[-1][1][16:]) == JoinList(
        (JoinListEntry(20, b"g"), JoinListEntry(21, b"h"))
    )


def test_the_empty_group_name_is_an_ordinary_group(one: Bus) -> None:
    cpg = one.nodes[1].cpg
    cpg.join("a", b"", 0)
    one.flush()
    assert cpg.membership(b"") == (CpgAddress(1, 0),)
    cpg.finalize("a")  # corosync would skip the PROCDOWN here (it tests the name's length)
    one.flush()
    assert cpg.membership(b"") == ()
    cpg.join("b", b"", 0)  # an UNJOINED handle (pid 0, no name) does not count as a member


def test_mcast_many_sends_what_mcast_sends_message_by_message(one: Bus) -> None:
    """The bulk path (per message on a host without ``mcast_many``, one call on a host with
    it) puts the same MCAST bodies on the wire as ``mcast`` does; its refusals are mcast's."""
    node = one.nodes[1]
    cpg = node.cpg
    assert error_of(cpg.mcast_many, "h", "g", [b"a"]) is CsError.ERR_BAD_HANDLE
    cpg.join("h", "g", 100)
    one.flush()
    assert error_of(cpg.mcast_many, "h", "other", [b"a"]) is CsError.ERR_NOT_EXIST
    assert cpg.mcast_many("h", "g", []) == 0
    start = len(one.wire)
    for payload in (b"a", b"", b"bc"):
        cpg.mcast("h", "g", payload)
    singles = one.wire[start:]
    start = len(one.wire)
    assert cpg.mcast_many("h", "g", [b"a", b"", b"bc"]) == 3
    assert one.wire[start:] == singles
    bulk: list[tuple[int, int, list[bytes]]] = []
    host = cpg.host

    def mcast_many(service_id: int, fn_id: int, bodies: list[bytes]) -> None:
        bulk.append((service_id, fn_id, bodies))
        for body in bodies:
            host.mcast(service_id, fn_id, body)  # type: ignore[union-attr]

    host.mcast_many = mcast_many  # type: ignore[union-attr]
    start = len(one.wire)
    assert cpg.mcast_many("h", "g", [b"a", b"", b"bc"]) == 3
    assert one.wire[start:] == singles
    assert [(s, f, len(b)) for s, f, b in bulk] == [(2, CpgFn.MCAST, 3)]
    one.flush()
    delivered = [e.payload for e in node.events if isinstance(e, CpgDeliver)]
    assert delivered == [b"a", b"", b"bc"] * 3
