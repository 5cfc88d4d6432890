"""Three SRP nodes through passive RRP and crypto on two virtual rings.

The claims: either network can fail, flap, or swap with the other, and the Totem
ring goes on with no membership change, delivering every message exactly once in
one total order; a FAULTY ring is recovered automatically; a node with the wrong
key never joins; replayed and corrupted datagrams never reach SRP.
"""

from __future__ import annotations

import random

import pytest

from tests.net.netsim import KEY, RingNetwork
from totem.net.rrp import RingFaulty, RingRecovered, RrpSettings

pytestmark = pytest.mark.timeout(120)

IDS = (1, 2, 3)


def formed(**kwargs: object) -> RingNetwork:
    net = RingNetwork(IDS, **kwargs)  # type: ignore[arg-type]
    net.start()
    net.run_until(lambda: net.operational(IDS))
    net.run_for(1.0)
    return net


def configurations(net: RingNetwork) -> dict[int, int]:
    return {i: len(net.logs[i].configurations()) for i in net.ids}


def assert_exactly_once_in_one_order(net: RingNetwork, sent: list[bytes]) -> None:
    delivered = {i: [p for p in net.logs[i].payloads() if p in set(sent)] for i in net.ids}
    for i in net.ids:
        assert len(delivered[i]) == len(set(delivered[i])), f"node {i} delivered a duplicate"
        assert sorted(delivered[i]) == sorted(sent), f"node {i} lost messages"
        assert delivered[i] == delivered[net.ids[0]], f"node {i} delivered in another order"


def test_two_rings_share_the_load() -> None:
    net = formed()
    before = list(net.sent)
    sent = net.traffic(2.0, 0.01, "load")
    net.run_for(1.0)
    assert_exactly_once_in_one_order(net, sent)
    per_ring = [after - start for after, start in zip(net.sent, before, strict=True)]
    assert min(per_ring) > 0.4 * sum(per_ring)
    for i in IDS:
        rings = net.nodes[i].net.ring_status()
        assert [r.faulty for r in rings] == [False, False]
        assert all(r.token_rx > 0 and r.mcast_rx > 0 for r in rings)


@pytest.mark.parametrize("dead", [0, 1])
def test_one_ring_dies_then_recovers(dead: int) -> None:
    net = formed()
    start = configurations(net)
    net.ring_down(dead)
    sent = net.traffic(20.0, 0.05, "cut")
    for i in IDS:
        assert net.logs[i].faults() == [RingFaulty(dead, net.logs[i].faults()[0].reason)]
        assert net.faulty(i)[dead] and not net.faulty(i)[1 - dead]
        marked = f"Marking ringid {dead} interface 10.{dead}.0.{i} FAULTY"
        assert marked in net.logs[i].lines()
        assert net.nodes[i].net.ring_status()[dead].status == marked
    # once marked, nothing more is sent on the dead ring (ring tests aside)
    sent_on_dead = net.sent[dead]
    sent += net.traffic(3.0, 0.05, "after")
    tests = sum(net.nodes[i].net.rrp.stats.ring_tests_sent for i in IDS)
    assert net.sent[dead] - sent_on_dead <= 3 * tests
    net.ring_up(dead)
    net.run_until(lambda: not any(net.faulty(i)[dead] for i in IDS), timeout=3.0)
    sent += net.traffic(2.0, 0.05, "healed")
    net.run_for(1.0)
    for i in IDS:
        assert net.logs[i].recoveries() == [RingRecovered(dead, automatic=True)]
        assert f"Automatically recovered ring {dead}" in net.logs[i].lines()
    assert configurations(net) == start
    assert_exactly_once_in_one_order(net, sent)


def test_ring_0_then_ring_1() -> None:
    net = formed()
    start = configurations(net)
    sent: list[bytes] = []
    for dead in (0, 1):
        net.ring_down(dead)
        sent += net.traffic(20.0, 0.05, f"down{dead}")
        assert all(net.faulty(i)[dead] for i in IDS)
        net.ring_up(dead)
        sent += net.traffic(3.0, 0.05, f"up{dead}")
        assert not any(any(net.faulty(i)) for i in IDS)
    net.run_for(1.0)
    assert configurations(net) == start
    assert_exactly_once_in_one_order(net, sent)


def test_a_flapping_ring() -> None:
    net = formed()
    start = configurations(net)
    sent: list[bytes] = []
    for k in range(16):
        (net.ring_down if k % 2 == 0 else net.ring_up)(0)
        sent += net.traffic(1.5, 0.02, f"flap{k}")
    net.ring_up(0)
    net.run_for(5.0)
    assert configurations(net) == start
    assert_exactly_once_in_one_order(net, sent)
    assert not any(any(net.faulty(i)) for i in IDS)


def test_rings_taking_turns() -> None:
    """Ring 0 down while 1 is up, then the other way round, every 3 seconds."""
    net = formed()
    start = configurations(net)
    sent: list[bytes] = []
    for k in range(10):
        net.ring_up(1 - k % 2)
        net.ring_down(k % 2)
        sent += net.traffic(3.0, 0.02, f"swap{k}")
    net.ring_up(0)
    net.ring_up(1)
    net.run_for(5.0)
    assert configurations(net) == start
    assert_exactly_once_in_one_order(net, sent)


def test_a_faulty_ring_that_then_swaps() -> None:
    """Ring 0 is marked FAULTY; then it comes back just as ring 1 dies. Everything is
    sent on the dead ring 1 until the ring test re-enables ring 0 -- within one
    autorecovery period, well inside the token timeout."""
    net = formed()
    start = configurations(net)
    net.ring_down(0)
    sent = net.traffic(20.0, 0.05, "a")
    assert all(net.faulty(i) == [True, False] for i in IDS)
    net.ring_up(0)
    net.ring_down(1)
    sent += net.traffic(25.0, 0.05, "b")
    assert all(net.faulty(i) == [False, True] for i in IDS)
    net.ring_up(1)
    net.run_for(5.0)
    assert configurations(net) == start
    assert_exactly_once_in_one_order(net, sent)


def test_one_node_loses_one_interface() -> None:
    net = formed()
    start = configurations(net)
    net.cut.add((2, 1))
    sent = net.traffic(20.0, 0.05, "nic")
    net.run_for(1.0)
    assert configurations(net) == start
    assert_exactly_once_in_one_order(net, sent)
    for i in IDS:  # everyone hears node 2's silence on ring 1 at some point
        assert net.faulty(i)[1]
    net.cut.clear()
    net.run_until(lambda: not any(net.faulty(i)[1] for i in IDS), timeout=5.0)


def test_rrp_mode_none_single_ring() -> None:
    net = formed(rrp=RrpSettings(), latency=(0.0001,))
    sent = net.traffic(1.0, 0.01, "single")
    net.run_for(1.0)
    assert_exactly_once_in_one_order(net, sent)
    assert net.nodes[1].net.ring_status()[0].status == "ring 0 active with no faults"


def test_administrative_reenable_while_the_ring_is_still_dead() -> None:
    net = formed()
    net.ring_down(1)
    net.traffic(20.0, 0.05, "x")
    assert all(net.faulty(i)[1] for i in IDS)
    assert net.nodes[1].net.ring_reenable() == [1]
    assert net.faulty(1)[1] is False
    net.traffic(20.0, 0.05, "y")  # still dead: detected again
    assert net.faulty(1)[1] is True
    assert net.logs[1].recoveries() == [RingRecovered(1, automatic=False)]
    assert len(net.logs[1].faults()) == 2


# -- crypto --------------------------------------------------------------------------------


def test_a_node_with_the_wrong_key_never_joins() -> None:
    net = RingNetwork(IDS, keys={3: bytes(reversed(KEY))})
    net.start()
    net.run_until(lambda: net.operational([1, 2]))
    net.run_for(10.0)
    assert net.operational([1, 2])
    assert net.nodes[3].srp.members == (3,)
    for i in (1, 2):
        assert all(3 not in c.members for c in net.logs[i].configurations())
        assert net.nodes[i].net.crypto.stats.dropped["bad_tag"] > 0
    assert net.nodes[3].net.crypto.stats.dropped["bad_tag"] > 0
    assert net.nodes[1].srp.stats.rx_msg_dropped == 0  # nothing forged reached SRP


def test_a_node_without_crypto_never_joins() -> None:
    net = RingNetwork(IDS)
    net.start(1, 2)
    plain = RingNetwork(IDS, cipher="none", hash="none")
    net.nodes[3] = plain.make_node(3)
    net.nodes[3].srp.start(net.now)
    net.run_until(lambda: net.operational([1, 2]))
    net.run_for(5.0)
    assert net.operational([1, 2]) and net.nodes[3].srp.members == (3,)
    assert net.nodes[1].net.crypto.stats.dropped["plaintext"] > 0


@pytest.mark.parametrize(
    ("cipher", "hash", "regathers"), [("none", "none", True), ("aes256", "sha256", False)]
)
def test_an_old_ring_replayed(cipher: str, hash: str, regathers: bool) -> None:
    """Datagrams captured on an old ring, re-injected after the ring changed. Without
    crypto they make the healthy ring regather; sealed, they never reach SRP."""
    net = formed(cipher=cipher, hash=hash)
    net.capturing = True
    net.traffic(0.5, 0.05, "old")
    net.capturing = False
    old_ring = net.nodes[1].srp.ring.ring_id
    captured = [c for c in net.capture if c[0] == 2 and c[1] == 1]
    net.crash(3)
    net.run_until(lambda: net.operational([1, 2]), timeout=30.0)
    net.start(3)
    net.run_until(lambda: net.operational(IDS), timeout=30.0)
    net.run_for(1.0)
    assert net.nodes[1].srp.ring.ring_id != old_ring
    start = configurations(net)
    opened = net.nodes[1].net.crypto.stats.opened
    for _src, _dest, link, data in captured:
        net.inject(1, link, data)
    net.run_for(10.0)
    assert (configurations(net) != start) is regathers
    if not regathers:
        assert net.nodes[1].net.crypto.stats.dropped == {"replayed": len(captured)}
        assert net.nodes[1].net.crypto.stats.opened > opened  # live traffic still opens


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_corruption_in_flight(seed: int) -> None:
    """5% of datagrams get bytes flipped, cut or extended: dropped, counted, and Totem
    re-sends as for any loss. No membership change, nothing delivered twice or wrong."""
    rng = random.Random(seed)

    def mangle(src: int, dest: int, link: int, data: bytes) -> bytes:
        if rng.random() >= 0.05:
            return data
        corrupt = bytearray(data)
        action = rng.randrange(3)
        if action == 0:
            for _ in range(rng.randint(1, 4)):
                corrupt[rng.randrange(len(corrupt))] ^= rng.randint(1, 255)
        elif action == 1:
            del corrupt[rng.randrange(len(corrupt)) :]
        else:
            corrupt += rng.randbytes(rng.randint(1, 16))
        return bytes(corrupt)

    net = formed()
    start = configurations(net)
    net.mangle = mangle
    sent = net.traffic(10.0, 0.02, "noisy")
    net.mangle = None
    net.run_for(5.0)
    assert configurations(net) == start
    assert_exactly_once_in_one_order(net, sent)
    dropped = sum(sum(net.nodes[i].net.crypto.stats.dropped.values()) for i in IDS)
    assert dropped > 50
    assert all(net.nodes[i].srp.stats.rx_msg_dropped == 0 for i in IDS)


def test_hmac_only_ring_with_two_rings() -> None:
    net = formed(cipher="none", hash="sha1")
    net.ring_down(0)
    sent = net.traffic(15.0, 0.05, "auth")
    net.run_for(1.0)
    assert_exactly_once_in_one_order(net, sent)
    assert all(net.faulty(i)[0] for i in IDS)
