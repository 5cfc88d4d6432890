"""The virtual network: exact routing, cuts, MTU, loss, duplication, reordering, FIFO links."""

from __future__ import annotations

import random

import pytest

from simulations.latency import BATCH, MIN_DELAY, Delay, DelaySampler, Distribution
from simulations.network import DEFAULT_DELAY, KINDS, LOOPBACK_DELAY, Network, kind_index

Arrival = tuple[float, int, int, bytes]


def make(
    ids: tuple[int, ...] = (1, 2, 3), seed: int = 7, rings: int = 1
) -> tuple[Network, list[Arrival]]:
    arrivals: list[Arrival] = []

    def schedule(at: float, src: int, dst: int, data: bytes, ring: int) -> None:
        arrivals.append((at, src, dst, data) if ring == 0 else (at, src, dst, data + b"@1"))

    net = Network(ids, DelaySampler(seed), random.Random(seed), schedule, rings)
    return net, arrivals


def packet(kind: str, size: int = 60) -> bytes:
    """A datagram whose Totem type byte says ``kind``."""
    body = bytearray(size)
    body[3] = kind_index(kind) if kind != "other" else 99
    return bytes(body)


def fixed(net: Network, seconds: float) -> None:
    net.set_delay(net.pairs(), Delay(seconds))


def test_multicast_reaches_every_node_including_the_sender() -> None:
    net, arrivals = make()
    fixed(net, 0.001)
    data = packet("mcast")
    net.transmit(2, None, data, 10.0)
    assert arrivals == [
        (10.001, 2, 1, data),
        (10.0 + LOOPBACK_DELAY, 2, 2, data),
        (10.001, 2, 3, data),
    ]
    assert net.counters == {"sent": 3, "delivered": 3}


def test_unicast_and_token_to_self() -> None:
    net, arrivals = make()
    fixed(net, 0.002)
    net.transmit(1, 3, b"tok", 0.0)
    net.transmit(1, 1, b"self", 0.0)
    net.transmit(1, 9, b"nobody", 0.0)
    assert arrivals == [(0.002, 1, 3, b"tok"), (LOOPBACK_DELAY, 1, 1, b"self")]
    assert net.counters["dropped_unknown_dest"] == 1


def test_default_delay_is_a_lan() -> None:
    net, arrivals = make()
    assert net.link(1, 2).delay == DEFAULT_DELAY
    for i in range(200):
        net.transmit(1, 2, bytes([i]), float(i))
    delays = [at - i for i, (at, *_rest) in enumerate(arrivals)]
    assert 150e-6 < sum(delays) / len(delays) < 250e-6
    assert min(delays) > 0


def test_partition_and_heal() -> None:
    net, arrivals = make((1, 2, 3, 4))
    net.partition([(1, 2), (3, 4)])
    net.transmit(1, None, b"m", 0.0)
    assert sorted(dst for _, _, dst, _ in arrivals) == [1, 2]
    assert net.counters["dropped_cut"] == 2
    assert not net.reachable(1, 3) and not net.reachable(3, 1) and net.reachable(3, 4)
    net.heal()
    arrivals.clear()
    net.transmit(1, None, b"m", 1.0)
    assert sorted(dst for _, _, dst, _ in arrivals) == [1, 2, 3, 4]


def test_nodes_left_out_of_groups_form_their_own() -> None:
    net, _ = make((1, 2, 3, 4))
    net.partition([(1,), (2,)])
    assert not net.reachable(1, 3) and not net.reachable(2, 3)
    assert net.reachable(3, 4)


def test_oneway_cut_and_partial_heal() -> None:
    net, arrivals = make()
    net.cut([(3, 1)])
    net.transmit(3, 1, b"x", 0.0)
    net.transmit(1, 3, b"y", 0.0)
    assert [(src, dst) for _, src, dst, _ in arrivals] == [(1, 3)]
    net.partition([(1, 2), (3,)])
    net.heal([(3, 1)])
    assert net.reachable(3, 1) and not net.reachable(1, 3)


def test_mtu_black_hole() -> None:
    net, arrivals = make()
    net.set_mtu([(1, 2)], 1400)
    net.transmit(1, 2, packet("mcast", 1401), 0.0)
    net.transmit(1, 2, packet("mcast", 1400), 0.0)
    net.transmit(1, 1, packet("mcast", 9000), 0.0)  # loopback has no MTU
    assert [len(d) for *_x, d in arrivals] == [1400, 9000]
    assert net.counters["dropped_mtu"] == 1


def test_loss_by_kind() -> None:
    net, arrivals = make()
    net.set_loss(net.pairs(), 1.0, [kind_index("mcast")])
    net.transmit(1, 2, packet("mcast"), 0.0)
    net.transmit(1, 2, packet("token"), 0.0)
    net.transmit(1, 2, packet("other"), 0.0)
    assert [d[3] for *_x, d in arrivals] == [0, 99]
    assert net.counters["dropped_loss"] == 1
    net.set_loss(net.pairs(), 0.0)
    assert net.link(1, 2).loss is None


def test_loss_rate_is_close_to_the_probability() -> None:
    net, _arrivals = make()
    net.set_loss([(1, 2)], 0.25)
    for i in range(4000):
        net.transmit(1, 2, packet("mcast"), float(i))
    assert 0.22 < net.counters["dropped_loss"] / 4000 < 0.28


def test_duplication() -> None:
    net, arrivals = make()
    net.set_dup([(1, 2)], 1.0)
    net.transmit(1, 2, packet("join"), 0.0)
    assert len(arrivals) == 2 and net.counters["duplicated"] == 1
    assert arrivals[0][0] <= arrivals[1][0]


def test_links_are_fifo_despite_jitter() -> None:
    net, arrivals = make()
    net.set_delay(net.pairs(), Delay(0.010, 0.008, Distribution.UNIFORM))
    for i in range(500):
        net.transmit(1, 2, bytes([i % 256]), i * 0.002)
    times = [at for at, *_rest in arrivals]
    assert times == sorted(times)
    assert len(set(times)) > 100


def test_different_links_overtake_each_other() -> None:
    net, arrivals = make()
    net.set_delay([(1, 3)], Delay(0.9))
    net.set_delay([(2, 3)], Delay(0.001))
    net.transmit(1, 3, packet("mcast"), 0.0)
    net.transmit(2, 3, packet("token"), 0.1)
    assert [d[3] for *_x, d in sorted(arrivals)] == [0, 1]


def test_reorder_leaves_fifo_order() -> None:
    net, arrivals = make()
    fixed(net, 0.001)
    net.set_reorder([(1, 2)], 1.0, 0.5, [kind_index("mcast")])
    net.transmit(1, 2, packet("mcast"), 0.0)
    net.transmit(1, 2, packet("token"), 0.01)
    assert [(round(at, 6), d[3]) for at, _s, _d, d in sorted(arrivals)] == [(0.011, 0), (0.501, 1)]
    assert net.counters["reordered"] == 1
    net.set_reorder([(1, 2)], 0.0, 0.0)
    assert net.link(1, 2).reorder is None


def test_same_seed_same_arrivals_other_seed_differs() -> None:
    def run(seed: int) -> list[Arrival]:
        net, arrivals = make(seed=seed)
        net.set_loss(net.pairs(), 0.3)
        net.set_delay(net.pairs(), Delay(0.001, 0.0005, Distribution.EXPONENTIAL))
        for i in range(300):
            net.transmit(1 + i % 3, None, bytes([i % 256]), i * 0.001)
        return arrivals

    assert run(3) == run(3)
    assert run(3) != run(4)


@pytest.mark.parametrize("distribution", list(Distribution))
def test_delay_distributions(distribution: Distribution) -> None:
    sampler = DelaySampler(1)
    delay = Delay(0.010, 0.002, distribution)
    draws = [sampler.draw(delay) for _ in range(3 * BATCH)]
    assert min(draws) >= MIN_DELAY
    mean = sum(draws) / len(draws)
    if distribution in (Distribution.NORMAL, Distribution.UNIFORM):
        assert abs(mean - 0.010) < 0.0002
    else:
        assert mean > 0.010 and min(draws) >= 0.010
    assert sampler.draw(Delay(0.0)) == MIN_DELAY
    assert sampler.draw(Delay(0.5)) == 0.5


def test_delay_validation_and_text() -> None:
    with pytest.raises(ValueError):
        Delay(-1.0)
    assert str(Delay(0.05, 0.01)) == "50ms±10ms"
    assert str(Delay(200e-6, 0.0, Distribution.PARETO)) == "200us dist=pareto"
    assert KINDS[1] == "mcast"


def test_each_ring_is_its_own_network() -> None:
    net, arrivals = make(rings=2)
    fixed(net, 0.001)
    net.partition([(1,), (2, 3)], rings=[1])
    net.set_loss(net.pairs(), 1.0, rings=[0])
    net.transmit(1, None, b"m", 0.0, 0)
    net.transmit(1, None, b"m", 0.0, 1)
    assert sorted(dst for _, _, dst, _ in arrivals) == [1, 1]
    assert not net.reachable(1, 2, 1) and net.reachable(1, 2, 0)
    net.heal(rings=[1])
    net.set_loss(net.pairs(), 0.0)
    arrivals.clear()
    net.transmit(2, 3, b"x", 1.0, 1)
    assert arrivals == [(1.001, 2, 3, b"x@1")]
    net.transmit(2, 3, b"x", 1.0, 5)
    assert net.counters["dropped_no_ring"] == 1
    with pytest.raises(ValueError, match="ring 2 does not exist"):
        net.cut([(1, 2)], rings=[2])
