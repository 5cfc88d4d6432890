"""Our full node stack sends what real corosync 3.1.7 sent, byte for byte.

In ``ref/pcap/udpu-3node-join-steady-fail.pcap`` each real node starts alone,
forms a singleton ring (1.5, then 2.5) and runs sync there: votequorum's first
NODEINFO, SERVICE_BUILD, cmap, cpg's DOWNLIST (two fragments), quorum and
votequorum rounds. Our stack, built from the same corosync.conf with the
daemon's service engines, must multicast the same datagrams. Only
``this_seqno`` (offset 21, a private counter never read by receivers) may differ.
"""

from __future__ import annotations

import pytest

from tests.fixtures import PCAP
from tests.pcap import read_udp
from totem.config import parse_text
from totem.node.assemble import build_net, build_stack
from totem.node.services import load_services
from totem.service import ServiceContext
from totem.wire import Mcast, decode

CAPTURE = PCAP / "udpu-3node-join-steady-fail.pcap"

CONF = """\
totem {
    version: 2
    cluster_name: realcluster
    transport: udpu
    crypto_cipher: none
    crypto_hash: none
    ip_version: ipv4
    interface {
        linknumber: 0
        mcastport: 5405
    }
}
quorum {
    provider: corosync_votequorum
}
nodelist {
    node {
        nodeid: 1
        name: cs1
        ring0_addr: 10.99.0.1
    }
    node {
        nodeid: 2
        name: cs2
        ring0_addr: 10.99.0.2
    }
    node {
        nodeid: 3
        name: cs3
        ring0_addr: 10.99.0.3
    }
}
"""


def _singleton_mcasts(node_id: int) -> list[bytes]:
    """Run one node alone (it hears itself, as over loopback) until its first ring is synced."""
    config = parse_text(CONF)
    node = config.node_by_id(node_id)
    assert node is not None
    services = load_services(ServiceContext(config, node))
    net = build_net(config, node, salt_source=bytes, epoch=1)
    stack = build_stack(config, node, services, 0, net=net)
    now = 0.0
    stack.start(now)
    sent: list[bytes] = []
    while True:
        out = stack.outbox()
        if not out:
            deadline = stack.next_deadline()
            if deadline is None or deadline > 0.15:
                return sent
            now = deadline
            stack.on_deadline(now)
            continue
        for datagram in out:
            if isinstance(decode(datagram.data), Mcast):
                sent.append(datagram.data)
            stack.receive(datagram.data, now)
        stack.events()


def _captured_singleton_mcasts(node_id: int) -> list[bytes]:
    out = []
    for frame in read_udp(CAPTURE):
        if frame.src != f"10.99.0.{node_id}" or frame.payload[3] != 1:
            continue
        message = decode(frame.payload)
        assert isinstance(message, Mcast)
        if message.ring_id.rep == node_id and message.ring_id.seq == 5:
            out.append(frame.payload)
    # udpu sends one copy per member: keep each sequence number once
    seen: dict[int, bytes] = {}
    for payload in out:
        seen.setdefault(int.from_bytes(payload[17:21], "little"), payload)
    return [seen[seq] for seq in sorted(seen)]


def _without_this_seqno(data: bytes) -> bytes:
    return data[:21] + bytes(4) + data[25:]


@pytest.mark.parametrize(("node_id", "captured"), [(1, 8), (2, 2)])
def test_singleton_ring_sync_is_byte_identical_to_real_corosync(
    node_id: int, captured: int
) -> None:
    """Node 1's whole first-ring sync is in the capture; node 2's was cut short by the merge."""
    real = _captured_singleton_mcasts(node_id)
    assert len(real) == captured
    ours = _singleton_mcasts(node_id)[:captured]
    assert [len(d) for d in ours] == [len(d) for d in real]
    for index, (mine, theirs) in enumerate(zip(ours, real, strict=True)):
        assert _without_this_seqno(mine) == _without_this_seqno(theirs), f"datagram {index}"
