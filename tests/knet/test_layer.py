"""What totemknet.c adds (ref knet/README.md 1.3, 3): target_nodeid on send, the host filter
on receive, the loopback link, and the configuration built from corosync.conf."""

from __future__ import annotations

from tests.config.conftext import conf, load_text, node
from tests.knet.wirenet import Wire
from totem.knet.layer import KnetLayer, set_target_nodeid, target_nodeid
from totem.knet.setup import build_knet
from totem.node.knet_status import knet_cmap_stats, knet_node_status
from totem.srp.state import Datagram

TOKEN = b"\x70\xc0\x03\x00\x00" + (1).to_bytes(4, "little") + bytes(4) + bytes(60)
JOIN = b"\x70\xc0\x03\x03\x00" + (1).to_bytes(4, "little") + bytes(4) + bytes(28)
MCAST = b"\x70\xc0\x03\x01\x02" + (1).to_bytes(4, "little") + bytes(4) + bytes(40)


def test_target_nodeid_is_set_as_ucast_and_mcast_sendmsg_do() -> None:
    assert target_nodeid(set_target_nodeid(TOKEN, 2)) == 2
    assert set_target_nodeid(TOKEN, 0) is TOKEN  # already 0: no copy
    assert set_target_nodeid(b"short", 5) == b"short"


def layers() -> tuple[Wire, KnetLayer, KnetLayer]:
    wire = Wire()
    one = KnetLayer(wire.add(1, [2, 3]))
    two = KnetLayer(wire.add(2, [1, 3]))
    wire.add(3, [1, 2])
    wire.run_until(3.0)
    return wire, one, two


def test_a_token_is_a_knet_unicast_and_a_join_a_broadcast_with_a_local_copy() -> None:
    wire, one, _two = layers()
    sent = one.outgoing([Datagram(2, TOKEN), Datagram(None, JOIN), Datagram(None, MCAST)])
    by_kind = [(d.dest, d.data[10], d.data[14 + 3]) for d in sent]  # dest, bcast, Totem type
    assert by_kind == [(2, 0, 0), (2, 1, 3), (3, 1, 3), (2, 1, 1), (3, 1, 1)]
    assert target_nodeid(sent[0].data[14:]) == 2
    # the join comes back to node 1 itself at the next deadline; its own MCAST does not
    due = one.next_deadline()
    assert due is not None and due <= wire.now
    assert one.on_deadline(wire.now) == [JOIN]


def test_a_unicast_for_another_host_is_dropped_on_receive() -> None:
    wire, one, _two = layers()
    for datagram in one.outgoing([Datagram(3, TOKEN)]):
        assert datagram.dest == 3
        wire.handles[2].receive(datagram.data, wire.now, 0, "10.0.0.1")
    assert wire.handles[2].drops["not_for_us"] == 1


def test_build_knet_from_corosync_conf() -> None:
    nodes = [node(f"10.0.0.{i}", i, name=f"n{i}", ring1_addr=f"10.1.0.{i}") for i in (1, 2, 3)]
    config = load_text(conf("link_mode: rr\nknet_mtu: 1400", transport="knet", nodes=nodes))
    layer = build_knet(config, config.nodes[1], None, salt_source=bytes)
    handle = layer.handle
    assert handle.host_id == 2 and handle.pmtud.manual_mtu == 1400
    assert handle.host_ids() == [1, 2, 3]
    assert handle.link_ids(1) == [0, 1] and handle.link_ids(2) == [0]  # ours: loopback
    link = handle.link(3, 1)
    assert link is not None
    assert (link.config.local, link.config.remote, link.config.port) == (
        "10.1.0.2",
        "10.1.0.3",
        5406,
    )
    assert (link.ping_interval, link.pong_timeout) == (912_000, 1_825_000)
    assert handle.hosts[3].policy == "rr"
    assert handle.crypto.sealer is None and handle.crypto.rx_clear


def test_node_status_and_cmap_stats_as_the_client_libraries_see_them() -> None:
    _wire, one, _two = layers()
    one.outgoing([Datagram(2, TOKEN)])
    status = knet_node_status(one, 2)
    assert status.reachable and len(status.links) == 1
    [link] = status.links
    assert link.enabled and link.connected and link.mtu > 0
    assert knet_node_status(one, 9).links == () and not knet_node_status(one, 9).reachable
    stats = {key: (vtype, value) for key, vtype, value in knet_cmap_stats(one)}
    assert stats["stats.knet.node2.link0.connected"][1] == 1
    assert stats["stats.knet.node2.link0.tx_data_packets"][1] >= 1
    assert stats["stats.knet.node2.link0.up_count"][1] == 1
    assert "stats.knet.node1.link0.enabled" in stats  # the loopback link, as corosync
    assert "stats.knet.handle.tx_crypt_packets" in stats
    assert all(key.startswith("stats.knet.") for key in stats)
