"""Link up and down, failover, link policies, PMTUd: knet handles on a virtual wire,
driven with explicit time (ref knet/README.md 1.5, 2)."""

from __future__ import annotations

import pytest

from tests.knet.wirenet import Wire
from totem.knet.constants import TYPE_DATA, TYPE_PING, TYPE_PMTUD, TYPE_PONG
from totem.knet.events import DataMtuChanged, HostStateChanged, LinkStateChanged
from totem.srp.events import LogRecord


def pair(**kwargs: object) -> Wire:
    wire = Wire()
    wire.add(1, [2], **kwargs)  # type: ignore[arg-type]
    wire.add(2, [1], **kwargs)  # type: ignore[arg-type]
    return wire


def test_pings_follow_the_200ms_grid_and_the_interval() -> None:
    wire = pair()
    wire.run_until(5.0)
    pings = wire.packets(1, 2, TYPE_PING)
    # ticks at 0.2, 0.4, ...; interval 912 ms: every fifth tick, i.e. every second
    assert pings == pytest.approx([0.2, 1.2, 2.2, 3.2, 4.2])
    assert len(wire.packets(2, 1, TYPE_PONG)) == 5


def test_link_comes_up_on_the_third_pong_then_pmtud_runs_once() -> None:
    wire = pair()
    wire.run_until(2.19)
    handle = wire.handles[1]
    assert not handle.reachable(2)
    wire.run_until(2.21)
    events = handle.events()
    assert LinkStateChanged(2, 0, True) in events
    assert HostStateChanged(2, True) in events
    up = [e.message for e in events if isinstance(e, LogRecord) and "is up" in e.message]
    assert up == ["rx: host: 2 link: 0 is up"]
    # the link starts from the 576-byte minimum: 522 bytes of data; the data MTU was
    # reset to knet's minimum (482) on link up
    assert handle.link_status(2, 0).mtu == 522  # type: ignore[union-attr]
    assert DataMtuChanged(482) in events or handle.data_mtu == 482
    wire.run_until(3.0)
    # one 1500-byte probe (the kernel refused 65535), one reply: 1446 bytes of data
    probes = [d for t, s, dst, lk, d in wire.sent if s == 1 and d[1] == TYPE_PMTUD]
    assert [len(p) + 28 for p in probes] == [1500]
    assert handle.link_status(2, 0).mtu == 1446  # type: ignore[union-attr]
    assert handle.data_mtu == 1446
    assert DataMtuChanged(1446) in handle.events()


def test_link_goes_down_after_the_adjusted_pong_timeout() -> None:
    wire = pair()
    wire.run_until(20.0)  # long enough for the back-off to reach 1
    handle = wire.handles[1]
    link = handle.link(2, 0)
    assert link is not None and link.connected
    assert link.pong_timeout_adj == 1825 * 1000 + 2 * link.latency
    wire.cut |= {(2, 1, 0), (1, 2, 0)}
    handle.events()
    last_pong = link.pong_last
    assert last_pong is not None
    wire.run_until(25.0)
    events = handle.events()
    assert LinkStateChanged(2, 0, False) in events
    assert HostStateChanged(2, False) in events
    down = [
        e
        for e in events
        if isinstance(e, LogRecord) and e.message == "link: host: 2 link: 0 is down"
    ]
    assert len(down) == 1
    assert link.stats.down_count == 1 and link.stats.up_count == 1
    assert not handle.reachable(2)


def test_the_back_off_counts_from_the_start_not_from_link_up() -> None:
    wire = pair()
    wire.run_until(2.3)  # up at 2.2, back-off already down to 8
    wire.cut |= {(2, 1, 0), (1, 2, 0)}
    # at 7.0 the back-off is 3 (5.475 s): the tick of 7.8 finds the pong 5.6 s old
    wire.run_until(7.7)
    assert wire.handles[1].reachable(2)
    wire.run_until(7.81)
    assert not wire.handles[1].reachable(2)


def test_data_flows_only_between_reachable_hosts_and_takes_no_seq_before() -> None:
    wire = pair()
    assert not wire.send(1, b"early" * 3)
    assert wire.handles[1].tx_seq == 0  # EHOSTDOWN: no sequence number used
    wire.run_until(3.0)
    assert wire.send(1, b"\x70\xc0\x03\x01" + bytes(20))
    wire.run_until(3.1)
    assert wire.delivered[2] == [b"\x70\xc0\x03\x01" + bytes(20)]
    assert wire.handles[1].tx_seq == 1


def test_broadcast_is_delivered_locally_even_alone() -> None:
    wire = Wire()
    wire.add(1, [2])
    assert not wire.send(1, b"join")
    assert wire.delivered[1] == [b"join"]


def two_links(policy: str = "passive", priorities: dict[int, int] | None = None) -> Wire:
    wire = Wire()
    for host, peer in ((1, 2), (2, 1)):
        wire.add(host, [peer], links=(0, 1), policy=policy, priorities=priorities)
    wire.run_until(20.0)
    return wire


def data_links(wire: Wire, src: int, since: float) -> list[int]:
    return [lk for at, s, d, lk, data in wire.sent if s == src and at >= since and data[1] == 0]


def test_passive_failover_moves_data_to_the_other_link_without_unreachability() -> None:
    wire = two_links(priorities={0: 2, 1: 1})
    assert wire.handles[1].hosts[2].active_links == [0]
    start = wire.now
    wire.send(1, b"a" * 100)
    assert data_links(wire, 1, start) == [0]
    wire.handles[1].events()
    wire.cut |= {(1, 2, 0), (2, 1, 0)}
    wire.run_until(wire.now + 3.0)
    events = wire.handles[1].events()
    assert LinkStateChanged(2, 0, False) in events
    assert not any(isinstance(e, HostStateChanged) for e in events)
    assert wire.handles[1].reachable(2)
    later = wire.now
    wire.send(1, b"b" * 100)
    wire.run_until(wire.now + 0.1)
    assert data_links(wire, 1, later) == [1]
    assert wire.delivered[2][-1] == b"b" * 100
    # link 0 heals: back to the higher priority
    wire.cut.clear()
    wire.run_until(wire.now + 4.0)
    assert wire.handles[1].hosts[2].active_links == [0]


def test_passive_ties_go_to_the_lowest_link() -> None:
    wire = two_links()
    assert wire.handles[1].hosts[2].active_links == [0]
    logs = [e.message for e in wire.handles[1].events() if isinstance(e, LogRecord)]
    assert "host: host: 2 (passive) best link: 0 (pri: 1)" in logs


def test_active_sends_on_every_link_and_the_receiver_drops_the_copy() -> None:
    wire = two_links("active")
    start = wire.now
    wire.send(1, b"x" * 50)
    wire.run_until(wire.now + 0.1)
    assert sorted(data_links(wire, 1, start)) == [0, 1]
    assert wire.delivered[2] == [b"x" * 50]
    assert wire.handles[2].drops["duplicate"] == 1


def test_rr_alternates_links() -> None:
    wire = two_links("rr")
    start = wire.now
    for _ in range(4):
        wire.send(1, b"y" * 40)
    assert data_links(wire, 1, start) == [0, 1, 0, 1]


def test_pmtud_finds_a_black_hole_by_bisection() -> None:
    wire = Wire(mtu={0: 1400})
    wire.add(1, [2])
    wire.add(2, [1])
    wire.run_until(60.0)
    handle = wire.handles[1]
    link = handle.link(2, 0)
    assert link is not None
    assert link.mtu == 1400 - 28 - 26
    probes = [len(d) + 28 for t, s, dst, lk, d in wire.sent if s == 1 and d[1] == TYPE_PMTUD]
    # 1500 times out, then bisection from the ping size (26 + 28) up to exactly 1400
    first = probes[: probes.index(1400) + 1]
    assert first[:3] == [1500, (54 + 1500) // 2, (777 + 1500) // 2]
    assert max(first[1:]) < 1500
    warnings = [
        e.message
        for e in handle.events()
        if isinstance(e, LogRecord) and "possible MTU misconfiguration" in e.message
    ]
    assert warnings
    assert handle.data_mtu == 1346


def test_pmtud_reruns_every_interval() -> None:
    wire = pair()
    wire.run_until(70.0)
    probes = [t for t, s, d, lk, data in wire.sent if s == 1 and data[1] == TYPE_PMTUD]
    assert len(probes) == 3  # on link up, then every 30 s
    assert probes[1] - probes[0] == pytest.approx(30.0, abs=0.25)


def test_manual_mtu_skips_probes() -> None:
    wire = pair()
    for handle in wire.handles.values():
        handle.set_manual_mtu(1200)
    wire.run_until(5.0)
    assert not [d for t, s, dst, lk, d in wire.sent if d[1] == TYPE_PMTUD]
    assert wire.handles[1].data_mtu == 1200 - 28 - 26


def test_large_messages_are_fragmented_at_the_data_mtu() -> None:
    wire = pair()
    wire.run_until(3.0)
    message = bytes(range(256)) * 20
    start = wire.now
    wire.send(1, message)
    wire.run_until(wire.now + 0.1)
    sizes = [len(d) for t, s, dst, lk, d in wire.sent if s == 1 and t >= start and d[1] == 0]
    assert sizes == [14 + 1446, 14 + 1446, 14 + 1446, 14 + 5120 - 3 * 1446]
    assert wire.delivered[2] == [message]


def test_restarted_sender_is_accepted_again() -> None:
    wire = pair()
    wire.run_until(3.0)
    for i in range(30):
        wire.send(1, b"old %d" % i)
    wire.run_until(4.0)
    assert len(wire.delivered[2]) == 30
    # node 1 restarts: a fresh handle, sequence numbers from 1 again
    del wire.handles[1]
    wire.run_until(4.5)
    wire.add(1, [2])
    wire.run_until(8.0)
    for i in range(3):
        wire.send(1, b"new %d" % i)
    wire.run_until(8.5)
    assert wire.delivered[2][-3:] == [b"new 0", b"new 1", b"new 2"]


def test_only_data_to_reachable_hosts_counts_and_pongs_answer_pings() -> None:
    wire = pair()
    wire.run_until(1.0)
    assert wire.packets(2, 1, TYPE_PONG) == pytest.approx([0.2 + 0.0001])
    assert not wire.packets(1, 2, TYPE_DATA)
