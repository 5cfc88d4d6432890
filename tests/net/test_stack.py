"""The node stack built from a corosync.conf with rrp_mode passive and crypto, in process.

What the daemon gets from ``totem.node.assemble``: a NetLayer with the config's
``rrp_*`` timers, the key from ``keyfile``, SRP's ``net_mtu`` lowered by the crypto
overhead; sealed datagrams on both links; and a cfg RINGREENABLE (what
``pycorosync-cfgtool -r`` sends) re-enabling FAULTY rings on every node.
"""

from __future__ import annotations

import heapq
import itertools
from pathlib import Path
from typing import Any

import pytest

from totem.config import ConfigError, load
from totem.net.crypto import MAGIC
from totem.net.rrp import RingFaulty, RingRecovered
from totem.node.assemble import build_net, build_stack, rrp_settings_from_config
from totem.node.stack import NodeStack
from totem.services.cfg import CfgService

IDS = (1, 2, 3)


def conf(tmp: Path, crypto: str = "") -> Path:
    nodes = "".join(
        f"  node {{\n    nodeid: {i}\n    ring0_addr: 10.70.0.{i}\n"
        f"    ring1_addr: 10.71.0.{i}\n  }}\n"
        for i in IDS
    )
    path = tmp / "corosync.conf"
    path.write_text(
        "totem {\n  version: 2\n  cluster_name: stack\n  transport: udpu\n"
        "  rrp_mode: passive\n  token: 1000\n  token_coefficient: 0\n"
        "  rrp_problem_count_threshold: 5\n  rrp_autorecovery_check_timeout: 60000\n"
        f"{crypto}}}\nnodelist {{\n{nodes}}}\n"
    )
    return path


def crypto_conf(tmp: Path) -> str:
    key = tmp / "authkey"
    key.write_bytes(bytes(range(256)))
    return f"  crypto_cipher: aes256\n  crypto_hash: sha256\n  keyfile: {key}\n"


class StackNet:
    """NodeStacks on two virtual links (100 us each), virtual time."""

    def __init__(self, stacks: dict[int, NodeStack]) -> None:
        self.stacks = stacks
        self.now = 0.0
        self.down: set[int] = set()
        self.events: dict[int, list[Any]] = {i: [] for i in stacks}
        self.wire: list[tuple[int, bytes]] = []
        self._queue: list[tuple[float, int, int, int, bytes]] = []
        self._seq = itertools.count()
        for stack in stacks.values():
            stack.start(self.now)
        for i in stacks:
            self._pump(i)

    def _pump(self, i: int) -> None:
        stack = self.stacks[i]
        for datagram in stack.outbox():
            self.wire.append((datagram.link, datagram.data))
            for dest in IDS if datagram.dest is None else (datagram.dest,):
                if datagram.link in self.down and dest != i:
                    continue
                item = (self.now + 0.0001, next(self._seq), dest, datagram.link, datagram.data)
                heapq.heappush(self._queue, item)
        self.events[i].extend(stack.events())

    def run_for(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = [(d, i) for i, s in self.stacks.items() if (d := s.next_deadline()) is not None]
            timer = min(due) if due else None
            packet = self._queue[0][0] if self._queue else None
            if timer is not None and (packet is None or timer[0] < packet):
                if timer[0] > end:
                    break
                self.now = max(self.now, timer[0])
                self.stacks[timer[1]].on_deadline(self.now)
                self._pump(timer[1])
            elif packet is not None and packet <= end:
                when, _, dest, link, data = heapq.heappop(self._queue)
                self.now = max(self.now, when)
                self.stacks[dest].receive(data, self.now, link)
                self._pump(dest)
            else:
                break
        self.now = end

    def formed(self) -> bool:
        return all(s.synced and s.members == IDS for s in self.stacks.values())


def build(tmp: Path) -> StackNet:
    config = load(conf(tmp, crypto_conf(tmp)))
    stacks = {}
    for i in IDS:
        node = config.node_by_id(i)
        assert node is not None
        net = build_net(config, node, salt_source=bytes, epoch=1)
        stacks[i] = build_stack(config, node, [CfgService()], net=net)
    return StackNet(stacks)


def test_assemble_takes_the_rrp_timers_and_the_key(tmp_path: Path) -> None:
    config = load(conf(tmp_path, crypto_conf(tmp_path)))
    settings = rrp_settings_from_config(config)
    assert (settings.mode, settings.interface_count) == ("passive", 2)
    assert settings.problem_count_threshold == 5
    assert settings.problem_count_mcast_threshold == 50  # 10x, as corosync
    assert settings.autorecovery_check_timeout == 60000
    assert settings.token_expired_timeout == config.timers.token_retransmit
    node = config.node_by_id(2)
    assert node is not None
    net = build_net(config, node, salt_source=bytes, epoch=1)
    assert net.rrp.interfaces == ("10.70.0.2", "10.71.0.2")
    assert (net.crypto.cipher, net.crypto.hash, net.overhead) == ("aes256", "sha256", 40)
    stack = build_stack(config, node, [], net=net)
    assert stack.settings.net_mtu == 1500 - 40
    assert stack.srp.settings.max_packet_payload == 1500 - 40 - 98


def test_missing_key_is_a_config_error(tmp_path: Path) -> None:
    crypto = f"  crypto_cipher: aes256\n  crypto_hash: sha256\n  keyfile: {tmp_path}/none\n"
    config = load(conf(tmp_path, crypto))
    node = config.node_by_id(1)
    assert node is not None
    with pytest.raises(ConfigError, match="could not read key"):
        build_net(config, node, salt_source=bytes, epoch=1)


def test_sealed_on_both_rings_and_cfg_ring_reenable(tmp_path: Path) -> None:
    net = build(tmp_path)
    net.run_for(3.0)
    assert net.formed()
    assert {link for link, _ in net.wire} == {0, 1}
    assert all(data[:2] == MAGIC for _, data in net.wire)  # every datagram sealed

    net.down.add(1)
    net.run_for(15.0)
    for i in IDS:
        assert next(e for e in net.events[i] if isinstance(e, RingFaulty)).ring == 1
        assert net.stacks[i].status()["faulty_rings"] == [1]
    assert net.formed()

    net.down.clear()
    net.run_for(2.0)  # autorecovery is 60 s: still FAULTY
    assert all(net.stacks[i].status()["faulty_rings"] == [1] for i in IDS)
    cfg = net.stacks[2].services[0]
    assert cfg.control_ops()["cfg.ring_reenable"]({}) == "re-enabling all the rings"
    net._pump(2)
    net.run_for(1.0)
    for i in IDS:
        assert RingRecovered(1, automatic=False) in net.events[i]
        status = net.stacks[i].status()
        assert status["faulty_rings"] == []
        assert [r["status"] for r in status["rings"]] == [
            "ring 0 active with no faults",
            "ring 1 active with no faults",
        ]
        assert status["crypto"]["dropped"] == {}
    assert net.formed()
