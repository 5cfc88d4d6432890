"""A configuration reload applied to running knet handles, in virtual time (ref knet/README.md
2-4; corosync 3.1.7 ``totemconfig_commit_new_params`` and ``totemknet_refresh_config``).

Three handles built from a corosync.conf (``totem.knet.setup.build_knet``) run on the core
test network (:mod:`tests.knet.wirenet`: node ``i`` is ``10.0.<link>.<i>``); each node plans
the new file (``totem.node.reload.plan_reload``) and applies it (``apply_reload``) at an
explicit time, as every daemon does on cfg RELOAD_CONFIG.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.knet.wirenet import Wire
from totem.config import CorosyncConfig, parse_text
from totem.knet.constants import TYPE_DATA
from totem.knet.events import HostStateChanged, LinkStateChanged
from totem.knet.layer import KnetLayer
from totem.knet.reload import KnetReload, apply_reload
from totem.knet.setup import build_knet
from totem.node.reload import ReloadRefused, plan_reload

PATH = "corosync.conf"


def conf_text(
    nodes: Sequence[int] = (1, 2, 3),
    links: Sequence[int] = (0,),
    *,
    totem: str = "",
    interfaces: str = "",
) -> str:
    """A knet corosync.conf: node i has ``ringL_addr: 10.0.L.i`` for every link L."""
    body = "".join(
        f"    node {{\n        nodeid: {i}\n        name: n{i}\n"
        + "".join(f"        ring{link}_addr: 10.0.{link}.{i}\n" for link in links)
        + "    }\n"
        for i in nodes
    )
    return (
        "totem {\n    version: 2\n    cluster_name: c\n    transport: knet\n"
        f"{totem}{interfaces}}}\n"
        f"nodelist {{\n{body}}}\n"
        "quorum {\n    provider: corosync_votequorum\n}\n"
    )


def conf(
    nodes: Sequence[int] = (1, 2, 3),
    links: Sequence[int] = (0,),
    *,
    totem: str = "",
    interfaces: str = "",
) -> CorosyncConfig:
    return parse_text(conf_text(nodes, links, totem=totem, interfaces=interfaces), PATH)


def ring(config: CorosyncConfig) -> tuple[Wire, dict[int, KnetLayer]]:
    """The nodes of ``config`` on a wire, every link up (20 s of virtual time)."""
    wire = Wire()
    layers = {}
    for node in config.nodes:
        layer = build_knet(config, node, None, salt_source=bytes)
        layers[node.nodeid] = layer
        wire.handles[node.nodeid] = layer.handle
        wire.delivered[node.nodeid] = []
        layer.handle.start(wire.now)
    wire.run_until(20.0)
    for layer in layers.values():
        layer.handle.events()
    return wire, layers


def reload_all(
    layers: dict[int, KnetLayer], current: CorosyncConfig, new: CorosyncConfig
) -> dict[int, list[str]]:
    """Every node plans and applies ``new``; the knet log lines of each."""
    texts = {}
    for node_id, layer in layers.items():
        me = current.node_by_id(node_id)
        assert me is not None
        plan = plan_reload(current, new, me)
        changed, records = apply_reload(
            KnetReload(layer), current, plan.config, plan.local_node, None
        )
        assert not changed
        texts[node_id] = [record.message for record in records]
    return texts


def connected(layer: KnetLayer, host: int) -> dict[int, bool]:
    handle = layer.handle
    return {
        link: status.connected
        for link in handle.link_ids(host)
        if (status := handle.link_status(host, link)) is not None
    }


def test_a_link_added_by_reload_comes_up_beside_link_0() -> None:
    current, new = conf(links=(0,)), conf(links=(0, 1))
    wire, layers = ring(current)
    plan = plan_reload(current, new, current.nodes[0])
    assert (plan.links_added, plan.links_removed) == ((1,), ())
    texts = reload_all(layers, current, new)
    assert [t for t in texts[1] if "member_" in t] == [
        "knet: member_add: 1 (10.0.1.1), link=1",
        "knet: member_add: 2 (10.0.1.2), link=1",
        "knet: member_add: 3 (10.0.1.3), link=1",
    ]
    # the new link starts down; pings and pongs bring it up
    assert connected(layers[1], 2) == {0: True, 1: False}
    wire.run_until(wire.now + 10.0)
    for node_id, layer in layers.items():
        for host in {1, 2, 3} - {node_id}:
            assert connected(layer, host) == {0: True, 1: True}
        events = layer.handle.events()
        assert LinkStateChanged(1 if node_id != 1 else 2, 1, True) in events
        assert not any(isinstance(e, HostStateChanged) for e in events)
        assert not any(isinstance(e, LinkStateChanged) and e.link == 0 for e in events)
    # the local node keeps only its loopback link
    assert layers[1].handle.link_ids(1) == [0]


PRIORITY_1 = "    interface {\n        linknumber: 1\n        knet_link_priority: 9\n    }\n"


def test_removing_the_busy_link_moves_traffic_to_link_0_without_losing_a_host() -> None:
    current, new = conf(links=(0, 1), interfaces=PRIORITY_1), conf(links=(0,))
    wire, layers = ring(current)
    assert layers[1].handle.hosts[2].active_links == [1]  # passive: the higher priority
    texts = reload_all(layers, current, new)
    assert [t for t in texts[2] if "member_" in t] == [
        "knet: member_remove: 1, link=1",
        "knet: member_remove: 2, link=1",
        "knet: member_remove: 3, link=1",
    ]
    for node_id, layer in layers.items():
        events = layer.handle.events()
        assert not any(isinstance(e, HostStateChanged) for e in events)
        for host in {1, 2, 3} - {node_id}:
            assert layer.handle.link_ids(host) == [0]
            assert layer.handle.hosts[host].active_links == [0]
            assert layer.handle.reachable(host)
    start = wire.now
    message = b"\x70\xc0\x03\x01" + bytes(40)
    assert wire.send(1, message)
    wire.run_until(start + 1.0)
    assert [at for at in wire.packets(1, 2, TYPE_DATA) if at >= start] == [start]
    assert wire.packets(1, 2, TYPE_DATA, link=0)[-1] == start
    assert wire.delivered[2][-1] == message


def test_nodes_come_and_go_link_by_link() -> None:
    current = conf(nodes=(1, 2, 3), links=(0, 1))
    new = conf(nodes=(1, 2, 4), links=(0, 1))
    _wire, layers = ring(current)
    layer = layers[1]
    me = current.node_by_id(1)
    assert me is not None
    plan = plan_reload(current, new, me)
    _changed, records = apply_reload(KnetReload(layer), current, plan.config, plan.local_node, None)
    assert [r.message for r in records if "member_" in r.message] == [
        "knet: member_remove: 3, link=0",
        "knet: member_remove: 3, link=1",
        "knet: member_add: 4 (10.0.0.4), link=0",
        "knet: member_add: 4 (10.0.1.4), link=1",
    ]
    handle = layer.handle
    assert handle.host_ids() == [1, 2, 4]
    assert handle.link_ids(4) == [0, 1] and not handle.reachable(4)
    assert handle.hosts[4].policy == "passive"


def test_timers_and_priorities_change_but_link_mode_is_kept() -> None:
    current = conf(links=(0, 1), totem="    link_mode: passive\n")
    new = conf(
        links=(0, 1),
        totem="    link_mode: active\n",
        interfaces=(
            "    interface {\n        linknumber: 1\n        knet_link_priority: 5\n"
            "        knet_ping_interval: 400\n        knet_ping_timeout: 900\n    }\n"
        ),
    )
    _wire, layers = ring(current)
    handle = layers[1].handle
    assert handle.hosts[2].active_links == [0]  # passive: the lowest id on a tie
    me = current.node_by_id(1)
    assert me is not None
    plan = plan_reload(current, new, me)
    assert plan.ignored == ("totem.link_mode",)
    apply_reload(KnetReload(layers[1]), current, plan.config, plan.local_node, None)
    assert handle.hosts[2].policy == "passive"
    assert handle.hosts[2].active_links == [1]  # priority 5 beats 1
    link = handle.link(2, 1)
    assert link is not None
    assert (link.ping_interval, link.pong_timeout) == (400_000, 900_000)  # microseconds


def test_an_added_link_takes_its_interface_section_an_existing_one_keeps_its_port() -> None:
    current = conf(
        links=(0,),
        interfaces="    interface {\n        linknumber: 0\n        mcastport: 6000\n    }\n",
    )
    new = conf(
        links=(0, 1),
        interfaces=(
            "    interface {\n        linknumber: 0\n        mcastport: 6100\n    }\n"
            "    interface {\n        linknumber: 1\n        mcastport: 7000\n    }\n"
        ),
    )
    me = current.node_by_id(1)
    assert me is not None
    plan = plan_reload(current, new, me)
    assert plan.ignored == ("totem.interface.0.mcastport",)
    assert plan.config.totem.interface(0).mcastport == 6000  # type: ignore[union-attr]
    _wire, layers = ring(current)
    apply_reload(KnetReload(layers[1]), current, plan.config, plan.local_node, None)
    handle = layers[1].handle
    ports = {lk: handle.link(2, lk).config.port for lk in (0, 1)}  # type: ignore[union-attr]
    assert ports == {0: 6000, 1: 7000}


def test_a_changed_link_address_is_still_refused() -> None:
    current = conf(links=(0, 1))
    moved = parse_text(
        conf_text(links=(0, 1)).replace("ring1_addr: 10.0.1.2", "ring1_addr: 10.0.1.22"), PATH
    )
    me = current.node_by_id(1)
    assert me is not None
    with pytest.raises(ReloadRefused, match="different address for link 1 of node 2"):
        plan_reload(current, moved, me)
