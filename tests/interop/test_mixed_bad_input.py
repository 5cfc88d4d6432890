"""Bad input must not disturb a mixed ring (real corosync 3.1.7 + pycorosync).

* A *listed* node's address sends garbage (`tests.interop.hostile.garbage_frames`): header
  and length violations every 3.1.7 (Debian ``+deb12u2``) receiver rejects, and a stale-ring
  token.  Everybody drops them: the ring id stays, nobody even enters GATHER, and ours counts
  each datagram under the exact reason.
* An address *outside* the nodelist sends well-formed current-ring frames
  (`tests.interop.hostile.member_impostor_frames`), which would each disturb the ring if they
  were accepted.  udpu's ``block_unlisted_ips`` (``ref/totem-wire.md`` §2.1) drops them on real
  nodes and ours alike, before the protocol sees them.
* udp (multicast) has no address filter in corosync (§2.2), so there the stranger sends only
  what corosync ignores anyway (garbage and stale tokens), to the group and to the token port.

The frames themselves are checked offline first: ours must reject each garbage frame with the
reason the interop test then expects in its counters.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.interop.conftest import MakeCluster
from tests.interop.harness import Cluster
from tests.interop.hostile import Hostile, garbage_frames, member_impostor_frames
from tests.interop.mixed import Datagram, MixedCluster, NodeView, send_datagrams
from tests.interop.tools import parse_cmapctl
from totem.ringid import RingId
from totem.wire import WireError, decode

ROUNDS = 5
"""Each hostile frame is sent this many times to each destination."""


def _reason(data: bytes) -> str | None:
    try:
        decode(data)
    except WireError as err:
        return err.reason
    return None


def test_garbage_frames_are_rejected_for_the_stated_reason() -> None:
    frames = garbage_frames(2, RingId(1, 0x1D))
    assert len({f.label for f in frames}) == len(frames)
    assert [(f.label, _reason(f.data)) for f in frames] == [(f.label, f.reason) for f in frames]
    assert sum(f.reason is None for f in frames) == 1  # the stale-ring token is well formed


def test_impostor_frames_are_well_formed() -> None:
    frames = member_impostor_frames(RingId(1, 0x1D), (1, 2, 3), 9)
    assert [_reason(f.data) for f in frames] == [None] * len(frames)
    assert all(f.reason is None for f in frames)


# ---------------------------------------------------------------------------- helpers


def _srp_stats_real(c: Cluster, i: int) -> dict[str, Any]:
    out = c.exec(i, ["corosync-cmapctl", "-m", "stats", "-b", "stats.srp"], check=True).stdout
    return {k.removeprefix("stats.srp."): v for k, v in parse_cmapctl(out).items()}


def _snapshot(m: MixedCluster) -> dict[int, dict[str, Any]]:
    """Per node: the SRP counters that a disturbance would move, and ours' drop counters."""
    snap: dict[int, dict[str, Any]] = {}
    for i in m.cluster.nodes:
        if m.is_ours(i):
            status = m.py_status(i)
            stats = status["node"]["stats"]
            snap[i] = {
                "gather_entered": stats["gather_entered"],
                "operational_entered": stats["operational_entered"],
                "dropped": Counter(stats["dropped"]),
                "transport": dict(status["links"][0]["counters"]),
                "memb_join_rx": stats["memb_join_rx"],
                "memb_commit_token_rx": stats["memb_commit_token_rx"],
            }
        else:
            stats = _srp_stats_real(m.cluster, i)
            snap[i] = {
                "gather_entered": stats["gather_entered"],
                "operational_entered": stats["operational_entered"],
                "rx_msg_dropped": stats["rx_msg_dropped"],
            }
    return snap


def _ring(views: dict[int, NodeView]) -> RingId:
    (text,) = {v.ring_id for v in views.values()}
    return RingId.parse(text)


def _to_every_node(c: Cluster, frames: list[Hostile], *, group: bool) -> list[Datagram]:
    out = [Datagram(c.addr(i), 5405, f.data) for f in frames for i in c.nodes]
    if group:
        out += [Datagram("239.192.99.1", 5405, f.data) for f in frames]
    return out


def _assert_undisturbed(
    m: MixedCluster, ring: RingId, before: dict[int, dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    time.sleep(1.0)  # a GATHER would have re-formed the ring (new id) well within this
    views = m.wait_agree(m.cluster.nodes, set(m.cluster.nodes), quorate=True, timeout=5)
    assert _ring(views) == ring
    after = _snapshot(m)
    for i in m.cluster.nodes:
        assert after[i]["gather_entered"] == before[i]["gather_entered"], i
        assert after[i]["operational_entered"] == before[i]["operational_entered"], i
    assert all(m.running(i) for i in m.cluster.nodes)
    return after


# ---------------------------------------------------------------------------- interop


@pytest.mark.interop
@pytest.mark.timeout(90)
def test_garbage_from_a_real_nodes_address_udpu(make_cluster: MakeCluster) -> None:
    # ours is node 1, the representative: it holds the token while the garbage arrives.
    c = make_cluster(3, "udpu", skip={1}, token=1000)
    m = MixedCluster(c, ours={1})
    m.start(1)
    ring = _ring(m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15))
    before = _snapshot(m)
    frames = garbage_frames(2, ring)
    sent = send_datagrams(c, 2, _to_every_node(c, frames, group=False), rounds=ROUNDS, gap=0.0005)
    assert sent == ROUNDS * len(frames) * 3
    after = _assert_undisturbed(m, ring, before)
    dropped = after[1]["dropped"] - before[1]["dropped"]
    expected = {k: ROUNDS * n for k, n in Counter(f.reason for f in frames if f.reason).items()}
    assert {k: dropped[k] for k in expected} == expected
    print("ours dropped:", dict(dropped))
    for i in (2, 3):
        more = after[i]["rx_msg_dropped"] - before[i]["rx_msg_dropped"]
        print(f"real node {i} rx_msg_dropped +{more}")


@pytest.mark.interop
@pytest.mark.timeout(90)
def test_valid_looking_frames_from_a_non_member_udpu(make_cluster: MakeCluster) -> None:
    c = make_cluster(3, "udpu", skip={3}, extra=1, token=1000)
    m = MixedCluster(c, ours={3})
    m.start(3)
    ring = _ring(m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15))
    before = _snapshot(m)
    frames = member_impostor_frames(ring, (1, 2, 3), 4)
    # From the stranger's address, to every node, from an ephemeral port and from 5405.
    for port in (0, 5405):
        send_datagrams(
            c, 4, _to_every_node(c, frames, group=False), source_port=port, rounds=ROUNDS
        )
    after = _assert_undisturbed(m, ring, before)
    unlisted = after[3]["transport"]["rx_unlisted"] - before[3]["transport"]["rx_unlisted"]
    assert unlisted == 2 * ROUNDS * len(frames)
    assert after[3]["dropped"] == before[3]["dropped"]
    assert after[3]["memb_join_rx"] - before[3]["memb_join_rx"] < 10  # only the ring's own
    assert after[3]["memb_commit_token_rx"] == before[3]["memb_commit_token_rx"]


@pytest.mark.interop
@pytest.mark.timeout(90)
def test_garbage_and_stale_frames_udp_multicast(make_cluster: MakeCluster) -> None:
    c = make_cluster(3, "udp", skip={3}, extra=1, token=1000)
    m = MixedCluster(c, ours={3})
    m.start(3)
    ring = _ring(m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15))
    before = _snapshot(m)
    frames = garbage_frames(1, ring)
    datagrams = _to_every_node(c, frames, group=True)
    send_datagrams(c, 1, datagrams, source_port=0, rounds=ROUNDS, gap=0.0005)  # a member
    send_datagrams(c, 4, datagrams, source_port=5404, rounds=ROUNDS, gap=0.0005)  # a stranger
    after = _assert_undisturbed(m, ring, before)
    dropped = after[3]["dropped"] - before[3]["dropped"]
    # ours gets each frame twice per round and sender (its token port and the group), from two
    # senders.
    expected = {
        k: 2 * 2 * ROUNDS * n for k, n in Counter(f.reason for f in frames if f.reason).items()
    }
    assert {k: dropped[k] for k in expected} == expected
    print("ours dropped:", dict(dropped))
