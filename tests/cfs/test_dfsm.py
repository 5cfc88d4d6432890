"""DFSM + DCDB transcripts on a virtual process group (ref cluster-manager.md 4.3-4.6)."""

from __future__ import annotations

import errno
import struct

from pvecluster.cfs.dfsm import Mode
from pvecluster.cfs.memdb import MemDb, MemoryBackend
from pvecluster.cfs.node import CfsNode, FsOp, OpDone
from pvecluster.cfs.wire import (
    DcdbOp,
    FsMessage,
    MessageType,
    decode_fs_message,
    decode_normal,
    encode_fs_message,
    encode_normal,
)

from .bus import PID, Bus


def test_normal_message_layout_is_pmxcfs() -> None:
    node = CfsNode(MemDb(MemoryBackend(), now=5), 3, 77)
    node.initialize()
    node.joined(5)
    node.set_quorate(True)
    count = node.submit(FsOp(DcdbOp.RENAME, "a.new", to="a"), 1_700_000_123.9)
    assert count == 1
    (payload,) = node.outbox()
    assert payload[:24] == struct.pack("<HHIIIQ", 0, 4, 1, 1_700_000_123, 0, 1)
    assert payload[24:] == struct.pack("<IIIII", 0, 0, 6, 2, 0) + b"a.new\0a\0"
    subtype, when, got, body = decode_normal(payload)
    assert (subtype, when, got) == (4, 1_700_000_123, 1)
    assert decode_fs_message(body) == FsMessage("a.new", "a")


def test_three_nodes_converge_and_the_writer_gets_the_result() -> None:
    bus = Bus(3)
    bus.start(1, 2, 3)
    assert all(bus.nodes[n].dfsm.mode == Mode.SYNCED for n in (1, 2, 3))
    assert bus.put(2, "test.cfg", b"hello") == 5
    assert len(set(bus.checksums().values())) == 1
    entry = bus.nodes[1].memdb.lookup("test.cfg")
    assert entry is not None and entry.writer == 2 and entry.data == b"hello"
    assert bus.op(3, FsOp(DcdbOp.MKDIR, "test.cfg")) == -errno.EEXIST


def test_a_joining_node_takes_the_leaders_whole_tree() -> None:
    bus = Bus(3)
    bus.start(1, 2)
    bus.put(1, "cluster.cfg", b"shared")
    # node 3 has a file of its own written standalone (lower version)
    node3 = bus.nodes[3]
    node3.memdb.create("stale.cfg", 0, int(bus.now))
    bus.start(3)
    assert node3.memdb.lookup("stale.cfg") is None
    assert node3.memdb.read("cluster.cfg") == b"shared"
    assert len(set(bus.checksums().values())) == 1
    assert "leader is 1/1001" in bus.logs[3] or "leader is 2/1002" in bus.logs[3]
    assert "waiting for updates from leader" in bus.logs[3]


def test_the_minority_is_read_only_and_resyncs_after_healing() -> None:
    bus = Bus(3)
    bus.start(1, 2, 3)
    bus.partition({1}, {2, 3})
    bus.set_quorate(False, 1)
    assert bus.put(1, "test.cfg", b"x") == -errno.EACCES
    assert bus.nodes[1].refused_inquorate == 1
    assert bus.put(2, "majority.cfg", b"y") == 1
    bus.set_quorate(True, 1)
    bus.heal()
    assert len(set(bus.checksums().values())) == 1
    assert bus.nodes[1].memdb.read("majority.cfg") == b"y"
    assert any(line.startswith("leader is 2/") for line in bus.logs[1])


def test_split_brain_both_quorate_the_higher_version_wins_and_the_other_side_loses() -> None:
    bus = Bus(2)
    bus.start(1, 2)
    bus.partition({1}, {2})  # both forced quorate (pvecm expected 1 on each side)
    assert bus.put(1, "a.cfg", b"a") == 1
    for i in range(3):
        assert bus.put(2, "b.cfg", b"b%d" % i) == 2
    bus.heal()
    for n in (1, 2):
        assert bus.nodes[n].memdb.lookup("a.cfg") is None
        assert bus.nodes[n].memdb.read("b.cfg") == b"b2"
    assert len(set(bus.checksums().values())) == 1


def test_equal_versions_the_later_mtime_wins_then_the_lower_nodeid() -> None:
    bus = Bus(2)
    bus.start(1, 2)
    bus.partition({1}, {2})
    bus.put(1, "one.cfg", b"1")
    bus.now += 5
    bus.put(2, "two.cfg", b"2")
    bus.heal()
    assert bus.nodes[1].memdb.lookup("two.cfg") is not None
    assert bus.nodes[1].memdb.lookup("one.cfg") is None
    bus2 = Bus(2)
    bus2.start(1, 2)
    bus2.partition({1}, {2})
    bus2.put(1, "one.cfg", b"1")
    bus2.put(2, "two.cfg", b"2")
    bus2.heal()
    assert bus2.nodes[2].memdb.lookup("one.cfg") is not None


def test_a_write_delivered_while_not_quorate_makes_the_receiver_leave() -> None:
    bus = Bus(2)
    bus.start(1, 2)
    bus.set_quorate(False, 2)
    assert bus.put(1, "x.cfg", b"x") >= 0
    assert "received write while not quorate - trigger resync" in bus.logs[2]
    assert bus.nodes[2].dfsm.mode == Mode.LEAVE


def test_messages_queued_during_sync_are_delivered_after_it() -> None:
    bus = Bus(2)
    bus.start(1)
    node1 = bus.nodes[1]
    node1.memdb.create("pre.cfg", 0, int(bus.now))
    node2 = bus.nodes[2]
    node2.initialize()
    node2.joined(bus.now)
    node2.set_quorate(True)
    bus.up.add(2)
    members = [(1, PID + 1), (2, PID + 2)]
    node1.group_confchg(members, [(2, PID + 2)], [], bus.now)
    node2.group_confchg(members, [(2, PID + 2)], [], bus.now)
    bus.components = [{1, 2}]
    count = node1.submit(FsOp(DcdbOp.CREATE, "during.cfg"), bus.now)
    assert isinstance(count, int)
    bus.flush()
    assert bus.results[1][count] == 0
    assert node2.memdb.lookup("during.cfg") is not None
    assert len(set(bus.checksums().values())) == 1


def test_locks_are_exclusive_and_the_lowest_node_expires_them_after_120_s() -> None:
    bus = Bus(2)
    bus.start(1, 2)
    bus.op(1, FsOp(DcdbOp.MKDIR, "priv"))
    bus.op(1, FsOp(DcdbOp.MKDIR, "priv/lock"))
    assert bus.op(2, FsOp(DcdbOp.MKDIR, "priv/lock/file-corosync_conf")) == 0
    assert bus.op(1, FsOp(DcdbOp.MKDIR, "priv/lock/file-corosync_conf")) == -errno.EEXIST
    # the waiter's utime(0, 0): an unlock request, then an mtime the lock refuses
    assert bus.op(1, FsOp(DcdbOp.MTIME, "priv/lock/file-corosync_conf")) == -errno.EACCES
    assert bus.nodes[1].memdb.lookup("priv/lock/file-corosync_conf") is not None
    bus.now += 121
    # the mtime is refused again; the lowest node's UNLOCK follows it in the total order
    assert bus.op(1, FsOp(DcdbOp.MTIME, "priv/lock/file-corosync_conf")) == -errno.EACCES
    for n in (1, 2):
        assert bus.nodes[n].memdb.lookup("priv/lock/file-corosync_conf") is None
    assert bus.op(1, FsOp(DcdbOp.MKDIR, "priv/lock/file-corosync_conf")) == 0


def test_corosync_conf_changes_are_reported_with_the_originator() -> None:
    bus = Bus(2)
    bus.start(1, 2)
    bus.put(2, "corosync.conf.new", b"totem { config_version: 2 }\n")
    assert bus.conf[1] == [] and bus.conf[2] == []
    assert bus.op(2, FsOp(DcdbOp.RENAME, "corosync.conf.new", to="corosync.conf")) == 0
    assert bus.conf[1] == [b"totem { config_version: 2 }\n"]
    assert bus.conf[2] == [b"totem { config_version: 2 }\n"]


def test_bad_messages_make_the_node_leave_and_others_carry_on() -> None:
    bus = Bus(2)
    bus.start(1, 2)
    node2 = bus.nodes[2]
    body = encode_fs_message(FsMessage("x")) + b"junk"
    node2.group_deliver(1, PID + 1, encode_normal(DcdbOp.CREATE, 1, 0, 99, body), bus.now)
    assert node2.dfsm.mode == Mode.LEAVE
    assert "received mailformed fuse message" in [getattr(e, "message", "") for e in node2.events()]
    node1 = bus.nodes[1]
    node1.group_deliver(2, PID + 2, b"short", bus.now)
    assert node1.dfsm.mode == Mode.LEAVE
    assert node1.dfsm.counters["malformed"] == 1


def test_a_newer_protocol_stops_the_node_for_good() -> None:
    bus = Bus(2)
    bus.start(1, 2)
    node2 = bus.nodes[2]
    newer = struct.pack("<HHIIIQ", MessageType.NORMAL, 1, 2, 0, 0, 1)
    node2.group_deliver(1, PID + 1, newer, bus.now)
    assert node2.dfsm.mode == Mode.VERSION_ERROR
    assert not node2.dfsm.restartable


def test_verification_detects_a_silently_diverged_node() -> None:
    bus = Bus(2)
    bus.start(1, 2)
    bus.put(1, "x.cfg", b"same")
    bus.nodes[2].memdb.index[bus.nodes[2].memdb.lookup("x.cfg").inode].data = b"diff"  # type: ignore[union-attr]
    node1 = bus.nodes[1]
    node1.on_deadline(bus.now + 3600)
    bus.flush()
    assert bus.nodes[2].dfsm.mode == Mode.LEAVE
    assert any("wrong checksum" in line for line in bus.logs[2])
    assert "data verification successful" in bus.logs[1]


def test_local_mode_applies_at_once_with_writer_0() -> None:
    node = CfsNode(MemDb(MemoryBackend(), now=10), 1, 5, local_mode=True)
    assert node.quorate
    assert node.submit(FsOp(DcdbOp.CREATE, "x"), 20) == OpDone(0, 0)
    entry = node.memdb.lookup("x")
    assert entry is not None and entry.writer == 0 and entry.mtime == 20
    assert node.outbox() == []


def test_watched_directories_are_reported_to_every_node_and_after_a_resync() -> None:
    from pvecluster.cfs.dcdb import TreeUpdated

    bus = Bus(3)
    for n in (1, 2, 3):
        bus.nodes[n].dcdb.watched = ("priv/qdevice/net",)
    bus.start(1, 2, 3)
    for path in ("priv", "priv/qdevice", "priv/qdevice/net"):
        assert bus.op(1, FsOp(DcdbOp.MKDIR, path)) == 0
    assert bus.put(1, "priv/qdevice/net/ca.crt", b"CA") == 2
    assert bus.put(1, "other.cfg", b"not watched") >= 0
    full = TreeUpdated("priv/qdevice/net", (("ca.crt", b"CA"),))
    for n in (1, 2, 3):
        # mkdir of the directory itself, the create and the write of ca.crt
        assert bus.trees[n] == [
            TreeUpdated("priv/qdevice/net", ()),
            TreeUpdated("priv/qdevice/net", (("ca.crt", b""),)),
            full,
        ]
        bus.trees[n].clear()
    # node 3 misses the removal, and learns it from the sync when it comes back
    bus.partition({1, 2}, {3})
    assert bus.op(1, FsOp(DcdbOp.DELETE, "priv/qdevice/net/ca.crt")) == 0
    assert bus.op(2, FsOp(DcdbOp.DELETE, "priv/qdevice/net")) == 0
    assert (
        bus.trees[1]
        == bus.trees[2]
        == [
            TreeUpdated("priv/qdevice/net", ()),
            TreeUpdated("priv/qdevice/net", None),
        ]
    )
    assert bus.trees[3] == []
    bus.heal()
    assert bus.trees[3] == [TreeUpdated("priv/qdevice/net", None)]
    assert len(set(bus.checksums().values())) == 1


def _merge_with_a_restarted_node_1(bus: Bus, *, pmxcfs: bool = False) -> tuple[int, bytes]:
    """Nodes 2 and 3 in the group (version 3), node 1 alone; node 2 multicasts a write, then
    the group merges before node 2 got its write back: the change reaches everyone first
    (the write was in flight). Returns the write's count and payload."""
    bus.start(2, 3)
    assert bus.put(2, "a.cfg", b"one") == 3
    assert bus.nodes[2].memdb.root.version == 3
    node1 = bus.nodes[1]
    node1.initialize()
    node1.joined(bus.now)
    node1.set_quorate(True)
    bus.up.add(1)
    bus.partition({1}, {2, 3})
    count = bus.nodes[2].submit(FsOp(DcdbOp.WRITE, "a.cfg", data=b"two", flags=1), bus.now)
    assert isinstance(count, int)
    (original,) = bus.nodes[2].outbox()
    if pmxcfs:  # pmxcfs keeps no record of what is in flight
        bus.nodes[2].dfsm._in_flight.clear()
    members = [(n, PID + n) for n in (1, 2, 3)]
    node1.group_confchg(members, [(2, PID + 2), (3, PID + 3)], [], bus.now)
    for n in (2, 3):
        bus.nodes[n].group_confchg(members, [(1, PID + 1)], [], bus.now)
    bus.components = [{1, 2, 3}]
    return count, original


def test_a_write_cut_across_a_join_reaches_the_joined_node_once() -> None:
    # The engine completes node 2's write after the change only on the old members 2 and 3:
    # node 1 joined in the new ring and threw the rest of it away (corosync's totempg).
    bus = Bus(3)
    count, original = _merge_with_a_restarted_node_1(bus)
    # node 2 multicasts it again, unchanged, before anything else of its own
    copy = bus.nodes[2].outbox()
    assert copy == [original]
    assert "resending 1 messages in flight across the membership change" in [
        e.message for e in bus.nodes[2].events() if hasattr(e, "message")
    ]
    for n in (2, 3):
        bus.nodes[n].group_deliver(2, PID + 2, original, bus.now)
    for n in (1, 2, 3):
        bus.nodes[n].group_deliver(2, PID + 2, copy[0], bus.now)
    bus.flush()
    assert bus.nodes[1].memdb.read("a.cfg") == b"two"
    assert len(set(bus.checksums().values())) == 1
    assert {n: bus.nodes[n].memdb.root.version for n in (1, 2, 3)} == dict.fromkeys((1, 2, 3), 4)
    assert bus.results[2] == {count: 3}  # the writer learns its result once
    assert {n: bus.nodes[n].dfsm.counters["duplicates"] for n in (1, 2, 3)} == {1: 0, 2: 1, 3: 1}


def test_without_the_copy_the_joined_node_would_diverge() -> None:
    # pmxcfs's DFSM, which does not send it again: node 1 syncs without the write
    bus = Bus(3)
    count, original = _merge_with_a_restarted_node_1(bus, pmxcfs=True)
    assert bus.nodes[2].outbox() == []
    for n in (2, 3):
        bus.nodes[n].group_deliver(2, PID + 2, original, bus.now)
    bus.flush()
    assert bus.results[2] == {count: 3}
    assert bus.nodes[1].memdb.read("a.cfg") == b"one"
    assert bus.nodes[2].memdb.read("a.cfg") == b"two"
    assert {n: bus.nodes[n].memdb.root.version for n in (1, 2, 3)} == {1: 3, 2: 4, 3: 4}


def test_a_copy_of_a_write_everybody_got_is_dropped_everywhere() -> None:
    bus = Bus(3)
    count, original = _merge_with_a_restarted_node_1(bus)
    (copy,) = bus.nodes[2].outbox()
    for payload in (original, copy):
        for n in (1, 2, 3):
            bus.nodes[n].group_deliver(2, PID + 2, payload, bus.now)
    bus.flush()
    assert len(set(bus.checksums().values())) == 1
    assert {n: bus.nodes[n].memdb.root.version for n in (1, 2, 3)} == dict.fromkeys((1, 2, 3), 4)
    assert bus.results[2] == {count: 3}
    assert {n: bus.nodes[n].dfsm.counters["duplicates"] for n in (1, 2, 3)} == dict.fromkeys(
        (1, 2, 3), 1
    )


def test_queued_messages_of_equal_counts_are_ordered_by_sender() -> None:
    members = [(n, PID + n) for n in (1, 2, 3)]
    a = encode_normal(DcdbOp.CREATE, 1, 0, 7, encode_fs_message(FsMessage("a.cfg")))
    b = encode_normal(DcdbOp.CREATE, 1, 0, 7, encode_fs_message(FsMessage("b.cfg")))
    orders = []
    for arrivals in (((2, a), (3, b)), ((3, b), (2, a))):
        node = CfsNode(MemDb(MemoryBackend(), now=5), 1, PID + 1)
        node.initialize()
        node.joined(5)
        node.group_confchg(members, members, [], 5)
        assert node.dfsm.mode == Mode.START_SYNC
        for sender, payload in arrivals:
            node.group_deliver(sender, PID + sender, payload, 5)
        orders.append([(q.nodeid, q.count) for q in node.dfsm.msg_queue])
    assert orders[0] == orders[1] == [(2, 7), (3, 7)]
