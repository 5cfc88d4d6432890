"""Mixed rings: pycorosync daemons and real corosync 3.1.7 nodes in one Totem ring (root only).

What "corosync-compatible" means, shown against the real program (``ref/totem-wire.md`` §14,
the interop checklist; ``ref/real-corosync.md`` §4 foreign-node slot, §5 timings, §9 gotchas):

* 2 real + 1 ours: ours joins; the real ``corosync-quorumtool -s`` shows 3 nodes, 3 votes,
  quorate, and ``corosync-cfgtool -n`` lists ours at its address;
* 1 real + 2 ours, one of ours the representative (lowest node id): the ring forms on our
  commit token and stays put while ours holds the idle token and sends merge_detect;
* SIGKILL of a real node, then of ours, each restarted: the ring re-forms every time and all
  nodes agree on the membership and the ring id;
* SIGTERM (LEAVE) of a real node, then of ours: the others re-form before any token timeout;
* the same over ``transport: udp`` (multicast).
"""

from __future__ import annotations

import signal
import struct
import time
from pathlib import Path

import pytest

from tests.interop.conftest import MakeCluster
from tests.interop.mixed import MixedCluster, NodeView
from tests.interop.pcap import read_udp_frames
from tests.interop.tools import parse_ring_id

pytestmark = pytest.mark.interop

TOTEM_HEADER = struct.Struct("<HBBBII")  # magic, version, type, encapsulated, nodeid, target
ORF_TOKEN, MERGE_DETECT = 0, 2


def _seq(view: NodeView) -> int:
    return parse_ring_id(view.ring_id)[1]


def _one_ring(views: dict[int, NodeView]) -> str:
    (ring,) = {v.ring_id for v in views.values()}
    return ring


def _quorum_figures(view: NodeView) -> tuple[object, ...]:
    q = view.quorum
    return (q["nodes"], q["expected_votes"], q["total_votes"], q["quorum"], q["quorate"])


@pytest.mark.timeout(90)
def test_two_real_one_ours_udpu(make_cluster: MakeCluster) -> None:
    c = make_cluster(3, "udpu", skip={3})
    m = MixedCluster(c, ours={3})
    t0 = time.monotonic()
    m.start(3)
    views = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    print(f"pycorosync joined the real ring after {time.monotonic() - t0:.3f} s")
    ring = _one_ring(views)
    assert ring.startswith("1."), ring  # node 1 (real, lowest id) represents the ring
    for i in (1, 2, 3):
        q = views[i].quorum
        assert q["node_id"] == i and q["provider"] == "corosync_votequorum"
        assert _quorum_figures(views[i]) == (3, 3, 3, 2, True)
        assert (q["highest_expected"], q["flags"]) == (3, ["Quorate"])
        assert [(r["nodeid"], r["votes"], r["name"], r["local"]) for r in q["members"]] == [
            (j, 1, c.name(j), j == i) for j in (1, 2, 3)
        ]
    # The real tools list ours like any member: connected on link 0, reachable at its address.
    for i in (1, 2):
        cfg = c.cfg_status(i)
        assert (cfg["local_nodeid"], cfg["transport"]) == (i, "udpu")
        assert {n["nodeid"]: n["status"] for n in cfg["links"][0]["nodes"]}[3] == "connected"
        link = cfg["reachable"][3]["links"][0]
        assert (link["src"], link["enabled"], link["connected"]) == (c.addr(3), True, True)
    # And ours counted nothing odd on the way in.
    status = m.py_status(3)
    assert status["node"]["members"] == [1, 2, 3]
    assert status["node"]["stats"]["rx_msg_dropped"] == 0, status["node"]["stats"]["dropped"]
    assert status["links"][0]["counters"]["rx_unlisted"] == 0


@pytest.mark.timeout(90)
def test_one_real_two_ours_with_ours_as_representative(
    make_cluster: MakeCluster, tmp_path: Path
) -> None:
    c = make_cluster(3, "udpu", skip={1, 2})
    m = MixedCluster(c, ours={1, 2})
    m.start_ours()
    views = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    ring = _one_ring(views)
    assert ring.startswith("1."), ring  # ours (node 1) created the ring as its representative
    assert all(_quorum_figures(v) == (3, 3, 3, 2, True) for v in views.values())
    assert set(c.cfg_status(3)["reachable"]) == {1, 2}
    # Steady state with ours as the representative: the idle ring does not move, the token
    # keeps going round all three nodes and ours sends merge_detect about every hold period
    # to every node of the nodelist, as corosync's representative does (ref real-corosync §6).
    hold = c.runtime_totem(3)["hold"] / 1000
    pcap = tmp_path / "rep.pcap"
    with c.capture(pcap):
        time.sleep(3 * hold + 0.3)
    after = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=5)
    assert _one_ring(after) == ring
    frames, _ = read_udp_frames(pcap)
    totem = [
        (f, TOTEM_HEADER.unpack_from(f.payload))
        for f in frames
        if len(f.payload) >= TOTEM_HEADER.size and f.dport == 5405
    ]
    merge = [f for f, h in totem if h[2] == MERGE_DETECT]
    assert merge and {(f.src, h[4]) for f, h in totem if h[2] == MERGE_DETECT} == {(c.addr(1), 1)}
    # (its copy to itself goes over loopback, not through the bridge)
    assert {f.dst for f in merge} == {c.addr(2), c.addr(3)}
    per_target = len(merge) / 2
    assert 2 <= per_target <= 4, [(f.time, f.dst) for f in merge]
    token_hops = {(f.src, f.dst) for f, h in totem if h[2] == ORF_TOKEN}
    assert token_hops == {
        (c.addr(1), c.addr(2)),
        (c.addr(2), c.addr(3)),
        (c.addr(3), c.addr(1)),
    }


@pytest.mark.timeout(120)
def test_kill_and_restart_real_then_ours(make_cluster: MakeCluster) -> None:
    c = make_cluster(3, "udpu", skip={3}, token=1000)
    m = MixedCluster(c, ours={3})
    m.start(3)
    before = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    timers = c.runtime_totem(1)
    ours_timers = m.py_status(3)["timers"]
    # Ours computes the same effective timers from the same file (token_coefficient etc).
    assert (ours_timers["token"], ours_timers["consensus"]) == (
        timers["token"],
        timers["consensus"],
    )
    window = (timers["token"] + timers["consensus"]) / 1000
    seq = _seq(before[1])
    for victim, survivors in ((2, [1, 3]), (3, [1, 2])):
        m.kill(victim)
        views = m.wait_agree(survivors, set(survivors), quorate=True, timeout=window + 5)
        assert _seq(views[survivors[0]]) > seq
        seq = _seq(views[survivors[0]])
        for v in views.values():
            assert (v.quorum["total_votes"], v.quorum["expected_votes"]) == (2, 3)
        m.start(victim)
        views = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
        assert _seq(views[1]) > seq
        seq = _seq(views[1])
    logs = m.log(1) + m.log(2)
    assert "A processor failed, forming new configuration" in logs


@pytest.mark.timeout(90)
def test_udp_multicast_mixed_ring(make_cluster: MakeCluster) -> None:
    c = make_cluster(3, "udp", skip={3}, token=1000)
    m = MixedCluster(c, ours={3})
    m.start(3)
    views = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    assert all(_quorum_figures(v) == (3, 3, 3, 2, True) for v in views.values())
    assert c.cfg_status(1)["transport"] == "udp"
    assert m.py_status(3)["links"][0]["transport"] == "udp"
    # Kill the real representative: ours and node 2 form a new ring represented by node 2.
    timers = c.runtime_totem(2)
    m.kill(1)
    window = (timers["token"] + timers["consensus"]) / 1000
    views = m.wait_agree([2, 3], {2, 3}, quorate=True, timeout=window + 5)
    assert _one_ring(views).startswith("2.")
    m.start(1)
    views = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    assert _one_ring(views).startswith("1.")


@pytest.mark.timeout(90)
def test_udp_multicast_ours_as_representative(make_cluster: MakeCluster) -> None:
    c = make_cluster(3, "udp", skip={1})
    m = MixedCluster(c, ours={1})
    m.start(1)
    views = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    ring = _one_ring(views)
    assert ring.startswith("1.")
    time.sleep(1.5)  # two idle hold periods with ours holding the token
    assert _one_ring(m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=5)) == ring


@pytest.mark.timeout(90)
def test_graceful_leave_both_ways(make_cluster: MakeCluster) -> None:
    # SIGTERM sends corosync's LEAVE (a join from node id 0): the others re-form at once, well
    # before a token timeout would notice (ref real-corosync.md §5: 0.42-0.48 s for real nodes).
    c = make_cluster(3, "udpu", skip={3}, token=1000)
    m = MixedCluster(c, ours={3})
    m.start(3)
    m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    token = c.runtime_totem(1)["token"] / 1000
    for leaver, survivors in ((2, [1, 3]), (3, [1, 2])):
        t0 = time.monotonic()
        handle = m.handle(leaver)
        assert handle is not None and handle.signal(signal.SIGTERM)
        m.wait_agree(survivors, set(survivors), quorate=True, timeout=10)
        elapsed = time.monotonic() - t0
        print(f"node {leaver} left gracefully; survivors agreed after {elapsed:.3f} s")
        assert elapsed < token, "the LEAVE was not honoured: the ring waited for a token timeout"
        assert handle.wait(5.0) is not None
        m.start(leaver)
        m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)


@pytest.mark.timeout(90)
def test_real_cfgtool_kill_reaches_our_node(make_cluster: MakeCluster) -> None:
    # corosync-cfgtool -k N multicasts cfg KILLNODE (exec 0x00010001); the named node exits at
    # once ("Killed by node 1 : ..."), without a LEAVE, so the others wait out the token.
    c = make_cluster(3, "udpu", skip={3}, token=1000)
    m = MixedCluster(c, ours={3})
    m.start(3)
    m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    handle = m.handle(3)
    assert handle is not None
    result = c.exec(1, ["corosync-cfgtool", "-k", "3"])
    assert result.returncode == 0, result.stderr
    assert handle.wait(10.0) is not None, "our node did not exit on cfg KILLNODE"
    m.wait_agree([1, 2], {1, 2}, quorate=True, timeout=15)
    log = (c.log_dir(3) / "pycorosync.log").read_text(errors="replace")
    assert "[CFG   ] Killed by node 1 : " in log
