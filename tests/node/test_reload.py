"""Configuration reload (cfg RELOAD_CONFIG, ``pycorosync-cfgtool -R``).

Core tests drive the pure parts with explicit inputs: the plan (``totem.node.reload``),
the cfg service's message, SRP's timers and nodelist filter, the stack. Socket tests run
real daemons on 127.0.0.1-4 that share one corosync.conf, edit it, and reload.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.node.cluster import LoopbackCluster, conf_text
from tests.qdevice.entrypoints import source_tree_env
from tests.qdevice.test_sockets import device_block, qnetd_list
from tests.qnetd.servers import start_ours
from tests.srp.harness import Network
from tests.sync.fakebus import FakeBus
from totem.config import ConfigError, CorosyncConfig, parse_text
from totem.node.assemble import build_net, build_stack, settings_from_config
from totem.node.async_client import AsyncControlClient
from totem.node.client import RequestFailed
from totem.node.control import SOCKET_NAME, ControlConnection, ControlError, ControlServer
from totem.node.reload import (
    NodeChange,
    ReloadRefused,
    TimerChange,
    apply_to_stack,
    plan_log,
    plan_reload,
    read_only_changes,
)
from totem.service import ServiceContext
from totem.services.cfg import (
    CfgReloadRequested,
    CfgService,
    decode_message_source,
    encode_message_source,
)
from totem.services.cmap import CmapService, decode_config_version_mcast
from totem.srp.events import LogLevel, LogRecord
from totem.srp.settings import SrpSettings
from totem.tools import cfgtool
from votequorum.plugin import ConfiguredVotequorum, service_factory

PATH = "corosync.conf"


def conf(
    n: int = 3,
    *,
    totem: str = "",
    quorum: str = "",
    nodes: list[int] | None = None,
    addr: str = "10.0.0.{}",
) -> str:
    """A udpu corosync.conf whose node i (name n<i>) is at ``addr.format(i)``."""
    body = "".join(
        f"    node {{\n        nodeid: {i}\n        name: n{i}\n"
        f"        ring0_addr: {addr.format(i)}\n    }}\n"
        for i in (nodes or list(range(1, n + 1)))
    )
    return (
        "totem {\n    version: 2\n    cluster_name: c\n    transport: udpu\n" + totem + "}\n"
        "nodelist {\n" + body + "}\n"
        "quorum {\n    provider: corosync_votequorum\n" + quorum + "}\n"
    )


def parsed(text: str) -> CorosyncConfig:
    return parse_text(text, PATH)


def local(config: CorosyncConfig, node_id: int = 1):  # type: ignore[no-untyped-def]
    node = config.node_by_id(node_id)
    assert node is not None
    return node


# ------------------------------------------------------------------------------ the plan


def test_a_fourth_node_is_added_and_the_token_grows_by_the_coefficient() -> None:
    current = parsed(conf(3))
    plan = plan_reload(current, parsed(conf(4)), local(current))
    assert plan.added == (NodeChange(4, 0, "10.0.0.4"),)
    assert plan.removed == ()
    assert plan.timers == (
        TimerChange("token", 3650, 4300),
        TimerChange("token_retransmit", 869, 1023),
        TimerChange("hold", 685, 808),
        TimerChange("consensus", 4380, 5160),
    )
    assert plan.ignored == () and plan.notices == () and plan.flags == ()
    assert plan.config_version is None
    assert plan.members(0) == {i: f"10.0.0.{i}" for i in (1, 2, 3, 4)}
    assert plan.local_node.nodeid == 1
    assert plan.summary() == {
        "node_id": 1,
        "nodes": [1, 2, 3, 4],
        "added": [4],
        "removed": [],
        "timers": {
            "token": {"old": 3650, "new": 4300},
            "token_retransmit": {"old": 869, "new": 1023},
            "hold": {"old": 685, "new": 808},
            "consensus": {"old": 4380, "new": 5160},
        },
        "flags": {},
        "ignored": [],
        "config_version": None,
        "links_added": [],
        "links_removed": [],
    }
    assert plan_log(plan)[:2] == [
        LogRecord(LogLevel.DEBUG, "TOTEM", "adding dynamic member 10.0.0.4 for ring 0"),
        LogRecord(
            LogLevel.INFO,
            "TOTEM",
            "Totem settings changed: token 3650 -> 4300, token_retransmit 869 -> 1023, "
            "hold 685 -> 808, consensus 4380 -> 5160",
        ),
    ]


def test_removing_a_node_and_explicit_timers() -> None:
    current = parsed(conf(4))
    new = parsed(conf(3, totem="    token: 1000\n    token_coefficient: 0\n    join: 60\n"))
    plan = plan_reload(current, new, local(current, 2))
    assert plan.removed == (NodeChange(4, 0, "10.0.0.4"),)
    assert plan.added == ()
    assert plan.timers == (
        TimerChange("token", 4300, 1000),
        TimerChange("token_retransmit", 1023, 238),
        TimerChange("hold", 808, 180),
        TimerChange("join", 50, 60),
        TimerChange("consensus", 5160, 1200),
    )
    assert plan.config.timers.token == 1000
    assert settings_from_config(plan.config).token == 1000


def test_run_time_flags_and_config_version() -> None:
    current = parsed(conf(3, totem="    config_version: 4\n"))
    new = parsed(
        conf(
            3,
            totem="    config_version: 5\n    block_unlisted_ips: no\n"
            "    cancel_token_hold_on_retransmit: yes\n",
        )
    )
    plan = plan_reload(current, new, local(current))
    assert plan.flags == (
        ("totem.block_unlisted_ips", True, False),
        ("totem.cancel_token_hold_on_retransmit", False, True),
    )
    assert plan.config_version == (4, 5)
    assert plan.config.totem.block_unlisted_ips is False
    assert plan.timers == () and plan.ignored == ()


def test_read_only_keys_are_logged_and_keep_their_running_value() -> None:
    current = parsed(conf(3, totem="    netmtu: 1400\n"))
    text = conf(
        3,
        totem="    netmtu: 1200\n    crypto_cipher: aes256\n    crypto_hash: sha256\n"
        "    keyfile: /etc/corosync/otherkey\n"
        "    interface {\n        linknumber: 0\n        mcastport: 6000\n    }\n",
    )
    text = text.replace("cluster_name: c", "cluster_name: other").replace(
        "transport: udpu", "transport: udp"
    )
    text += "system {\n    state_dir: /tmp/elsewhere\n}\n"
    plan = plan_reload(current, parsed(text), local(current))
    assert plan.ignored == (
        "system.state_dir",
        "totem.cluster_name",
        "totem.crypto_cipher",
        "totem.crypto_hash",
        "totem.interface.0.mcastport",
        "totem.keyfile",
        "totem.netmtu",
        "totem.transport",
    )
    assert plan.notices[0] == (
        "Modified entry 'system.state_dir' in corosync.conf cannot be changed at run-time"
    )
    totem = plan.config.totem
    assert (totem.cluster_name, totem.transport, totem.netmtu) == ("c", "udpu", 1400)
    assert (totem.crypto_cipher, totem.crypto_hash, totem.keyfile, totem.interfaces) == (
        "none",
        "none",
        None,
        (),
    )
    assert plan.config.system == current.system
    assert "totem.keyfile" not in plan.config.raw
    assert plan.config.raw["totem.netmtu"] == "1400"
    assert [r.message for r in plan_log(plan) if r.level is LogLevel.NOTICE] == list(plan.notices)


def test_read_only_changes_of_flat_maps() -> None:
    assert read_only_changes(
        {"totem.transport": "udpu", "totem.token": "1000", "quorum.provider": "x"},
        {"totem.transport": "udpu", "totem.token": "2000", "system.priority": "max"},
    ) == ("quorum.provider", "system.priority")


def test_a_changed_address_is_refused_with_file_and_line() -> None:
    current = parsed(conf(3))
    moved = parsed(conf(3).replace("10.0.0.2", "10.0.0.9"))
    with pytest.raises(ReloadRefused) as err:
        plan_reload(current, moved, local(current))
    assert str(err.value) == (
        "corosync.conf:12: new config has different address for link 0 of node 2 "
        "(addr changed from 10.0.0.2 to 10.0.0.9). To reconfigure an interface it must be "
        "deleted and recreated"
    )
    assert isinstance(err.value, ConfigError)


def test_the_local_node_cannot_go_or_change_its_id() -> None:
    current = parsed(conf(3))
    with pytest.raises(ReloadRefused) as err:
        plan_reload(current, parsed(conf(nodes=[1, 2])), local(current, 3))
    assert str(err.value) == (
        "corosync.conf:7: this node (node id 3, 10.0.0.3) is not in the new nodelist: "
        "remove a node from the file only once it is stopped"
    )
    text = conf(3).replace("nodeid: 3", "nodeid: 7")
    with pytest.raises(ReloadRefused) as err:
        plan_reload(current, parsed(text), local(current, 3))
    assert str(err.value) == (
        "corosync.conf:17: this node's address 10.0.0.3 now has node id 7, but it runs as "
        "node 3: the local node id cannot be changed at run-time (restart the node)"
    )
    # another node may be renumbered (it is a removal and an addition)
    plan = plan_reload(current, parsed(text), local(current, 1))
    assert (plan.removed, plan.added) == (
        (NodeChange(3, 0, "10.0.0.3"),),
        (NodeChange(7, 0, "10.0.0.3"),),
    )


def test_host_names_and_missing_rings_are_refused() -> None:
    current = parsed(conf(3))
    named = conf(3).replace("ring0_addr: 10.0.0.2", "ring0_addr: node-two")
    with pytest.raises(ReloadRefused, match=r"^corosync.conf:12: ring0_addr 'node-two' of node 2"):
        plan_reload(current, parsed(named), local(current))
    redundant = parsed(
        conf(3, totem="    rrp_mode: passive\n")
        .replace("    }\n", "        ring1_addr: 10.1.0.X\n    }\n")
        .replace("10.1.0.X", "10.1.0.1", 1)
        .replace("10.1.0.X", "10.1.0.2", 1)
        .replace("10.1.0.X", "10.1.0.3", 1)
    )
    plain = parsed(conf(3))
    with pytest.raises(ReloadRefused) as err:
        plan_reload(redundant, plain, local(redundant))
    assert str(err.value) == (
        "corosync.conf:7: node 1 has no ring1_addr, but this node runs rrp_mode: passive "
        "(rrp_mode cannot be changed at run-time)"
    )


def test_a_file_that_does_not_load_names_its_line() -> None:
    with pytest.raises(ConfigError) as err:
        parsed(conf(3, totem="    join: 5000\n    consensus: 4000\n"))
    assert str(err.value) == (
        "corosync.conf:6: The consensus timeout parameter (4000 ms) may not be less than "
        "join timeout (5000 ms)."
    )


# ------------------------------------------------------------------------------ cfg service


class _Host:
    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.sent: list[tuple[int, int, bytes]] = []
        self.logs: list[tuple[LogLevel, str, str]] = []

    def mcast(self, service_id: int, fn_id: int, body: bytes) -> None:
        self.sent.append((service_id, fn_id, body))

    def log(self, level: LogLevel, subsys: str, message: str) -> None:
        self.logs.append((level, subsys, message))


def test_cfg_reload_config_message_and_delivery() -> None:
    host = _Host(2)
    cfg = CfgService()
    cfg.attach(host)
    cfg.request_reload(7)
    assert host.sent == [(1, 3, struct.pack("<I4xQ", 2, 7))]
    assert encode_message_source(2, 7) == bytes.fromhex("02000000000000000700000000000000")
    assert decode_message_source(host.sent[0][2]) == (2, 7)
    cfg.exec_deliver(2, 3, host.sent[0][2], 0.0)
    cfg.exec_deliver(1, 3, encode_message_source(1, 0xDEADBEEF), 0.0)
    assert cfg.events() == [
        CfgReloadRequested(2, 7, True),
        CfgReloadRequested(1, 0xDEADBEEF, False),
    ]
    assert host.logs == [
        (LogLevel.NOTICE, "CFG", "Config reload requested by node 2"),
        (LogLevel.NOTICE, "CFG", "Config reload requested by node 1"),
    ]
    cfg.exec_deliver(1, 3, b"\x01\x00", 0.0)
    assert cfg.events() == [] and cfg.status()["malformed"] == 1
    assert cfg.status()["reload_requests"] == 2
    with pytest.raises(ValueError):
        cfg.request_reload(0)


# ------------------------------------------------------------------------------ SRP


def test_srp_takes_new_timers_but_keeps_its_mtu() -> None:
    net = Network([1, 2, 3])
    net.start()
    net.run_until(lambda: net.operational([1, 2, 3]))
    core = net.nodes[1]
    core.reconfigure(SrpSettings(token=1234, consensus=2000, net_mtu=9000))
    assert (core.settings.token, core.settings.consensus, core.settings.net_mtu) == (
        1234,
        2000,
        1500,
    )


def test_srp_accepts_an_added_node_at_once() -> None:
    net = Network([1, 2, 3, 4])
    net.start(1, 2, 3)
    for core in net.nodes.values():
        core.nodelist = frozenset({1, 2, 3})
    net.run_until(lambda: net.operational([1, 2, 3], [1, 2, 3]))
    net.start(4)
    net.run_for(0.5)
    assert net.nodes[1].stats.dropped["unknown_node"] > 0
    assert net.nodes[1].members == (1, 2, 3)
    for node_id in (1, 2, 3):
        net.nodes[node_id].reconfigure(nodelist=[1, 2, 3, 4])
    net.run_until(lambda: net.operational([1, 2, 3, 4], [1, 2, 3, 4]), timeout=30)
    assert net.nodes[2].nodelist == frozenset({1, 2, 3, 4})


def test_srp_keeps_a_removed_member_until_a_ring_forms_without_it() -> None:
    net = Network([1, 2, 3])
    net.start()
    for core in net.nodes.values():
        core.nodelist = frozenset({1, 2, 3})
    net.run_until(lambda: net.operational([1, 2, 3], [1, 2, 3]))
    net.crash(3)
    for node_id in (1, 2):
        net.nodes[node_id].reconfigure(nodelist=[1, 2])
        assert net.nodes[node_id].retired_nodes == frozenset({3})
        assert net.nodes[node_id].nodelist == frozenset({1, 2, 3})
    net.run_until(lambda: net.operational([1, 2], [1, 2]), timeout=30)
    for node_id in (1, 2):
        assert net.nodes[node_id].retired_nodes == frozenset()
        assert net.nodes[node_id].nodelist == frozenset({1, 2})
        assert net.nodes[node_id].stats.dropped.get("unknown_node", 0) == 0
    # a node that was never a member goes at once; a member stays retired until re-added
    core = net.nodes[1]
    core.reconfigure(nodelist=[1, 2, 5])
    core.reconfigure(nodelist=[1, 2])
    assert (core.nodelist, core.retired_nodes) == (frozenset({1, 2}), frozenset())
    net.nodes[1].reconfigure(nodelist=[1])
    assert net.nodes[1].retired_nodes == frozenset({2})
    net.nodes[1].reconfigure(nodelist=[1, 2])
    assert (net.nodes[1].nodelist, net.nodes[1].retired_nodes) == (frozenset({1, 2}), frozenset())


# ------------------------------------------------------------------------------ the stack


def _stack_services(config: CorosyncConfig, node_id: int) -> list[object]:
    node = local(config, node_id)
    votequorum = service_factory(ServiceContext(config, node))
    assert votequorum is not None
    return [CmapService(config.totem.config_version), CfgService(), votequorum]


def test_apply_to_stack_reaches_srp_cmap_and_votequorum() -> None:
    current = parsed(conf(3, totem="    config_version: 1\n"))
    services = _stack_services(current, 1)
    net = build_net(current, local(current), salt_source=bytes, epoch=1)
    stack = build_stack(current, local(current), services, net=net)  # type: ignore[arg-type]
    stack.start(0.0)
    sent: list[tuple[int, int, bytes]] = []

    def record(service_id: int, fn_id: int, body: bytes) -> None:
        sent.append((service_id, fn_id, body))

    stack.mcast = record  # type: ignore[method-assign]
    plan = plan_reload(current, parsed(conf(4, totem="    config_version: 2\n")), local(current))
    apply_to_stack(stack, plan)
    assert stack.settings.token == 4300
    assert stack.srp.settings.token == 4300 and stack.srp.settings.consensus == 5160
    assert stack.srp.nodelist == frozenset({1, 2, 3, 4})
    cmap, _cfg, votequorum = services
    assert isinstance(cmap, CmapService) and cmap.config_version == 2
    assert isinstance(votequorum, ConfiguredVotequorum)
    assert votequorum.names[4] == "n4"
    # in corosync's order: cmap's NEW_CONFIG_VERSION, then votequorum's refresh
    assert [(service, fn) for service, fn, _body in sent] == [(0, 0), (5, 0), (5, 0), (5, 1)]
    assert decode_config_version_mcast(sent[0][2]) == (1, 2)
    assert sent[3][2] == struct.pack("<IIB3x4x", 1, 4, 1)  # RECONFIGURE: expected votes 4


def test_votequorum_refresh_through_the_plugin_on_the_fake_bus() -> None:
    three, four = parsed(conf(3)), parsed(conf(4))

    def factory(node_id: int) -> list[object]:
        return _stack_services(three, node_id)[2:]

    bus = FakeBus(factory)  # type: ignore[arg-type]
    bus.start([1, 2, 3])
    bus.run()
    bus.form_ring([1, 2, 3])
    bus.run()
    for node_id in (1, 2, 3):
        bus.nodes[node_id].service(5).config_reloaded(four)
    bus.run()
    for node_id in (1, 2, 3):
        assert bus.nodes[node_id].service(5).snapshot().expected_votes == 4


# ------------------------------------------------------------------------------ sockets


def _loopback_conf(port: int, n: int, *, extra: str = "") -> str:
    nodes = "".join(
        f"    node {{\n        nodeid: {i}\n        name: node{i}\n"
        f"        ring0_addr: 127.0.0.{i}\n    }}\n"
        for i in range(1, n + 1)
    )
    return (
        "totem {\n    version: 2\n    cluster_name: reloadtest\n    transport: udpu\n"
        "    token: 500\n    token_coefficient: 50\n"
        f"    interface {{\n        linknumber: 0\n        mcastport: {port}\n    }}\n{extra}}}\n"
        f"nodelist {{\n{nodes}}}\n"
        "quorum {\n    provider: corosync_votequorum\n}\n"
        "logging {\n    to_stderr: yes\n    debug: off\n}\n"
    )


def _quorum(cluster: LoopbackCluster, i: int) -> dict[str, object]:
    result: dict[str, object] = cluster.call(i, "quorum.status")
    return result


def _shows(
    cluster: LoopbackCluster, i: int, op: str, key: str, value: object, sub: str | None = None
) -> Callable[[], bool]:
    """A predicate: node i's answer to ``op`` has ``value`` at ``key`` (``[sub]``)."""

    def check() -> bool:
        found = cluster.call(i, op)[key]
        if sub is not None:
            found = found[sub]
        elif isinstance(value, dict) and isinstance(found, dict):
            found = {k: found.get(k) for k in value}
        return bool(found == value)

    return check


def _reload(
    cluster: LoopbackCluster, i: int, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    code = cfgtool.main(["--run-dir", cluster.run_dir(i), "-R", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.sockets
@pytest.mark.timeout(120)
def test_a_fourth_node_joins_after_reload_and_leaves_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackCluster(tmp_path, 4) as cluster:
        cluster.conf.write_text(_loopback_conf(cluster.port, 3))
        cluster.start(1, 2, 3)
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        assert cluster.status(1)["timers"]["token"] == 550
        # node 4 is not listed yet: the others drop its datagrams and it stays alone
        cluster.conf.write_text(_loopback_conf(cluster.port, 4))
        cluster.start(4)
        cluster.wait(lambda: cluster.status(1)["links"][0]["counters"]["rx_unlisted"] > 0)
        assert cluster.members(1) == [1, 2, 3]
        code, out, err = _reload(cluster, 2, capsys)
        assert (code, out, err) == (0, "Reloading corosync.conf...\nDone\n", "")
        cluster.wait_members([1, 2, 3, 4], [1, 2, 3, 4])
        for i in (1, 2, 3, 4):
            cluster.wait(_shows(cluster, i, "quorum.status", "expected_votes", 4))
            status = cluster.status(i)
            assert [n["node_id"] for n in status["nodelist"]] == [1, 2, 3, 4]
            assert status["timers"]["token"] == 600
            assert _quorum(cluster, i)["quorum"] == 3
        for i in (1, 2, 3):
            log = cluster.log(i)
            assert "[CFG   ] Config reload requested by node 2" in log
            assert "[TOTEM ] adding new UDPU member {127.0.0.4}" in log
            assert cluster.status(i)["reloads"]["accepted"] == 1
        # node 4 is stopped, removed from the file, and the cluster reloads again
        cluster.kill(4, signal.SIGTERM)
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        cluster.conf.write_text(_loopback_conf(cluster.port, 3))
        code, out, err = _reload(cluster, 1, capsys, "--json")
        assert code == 0, err
        answer = json.loads(out)
        assert (answer["ok"], answer["removed"], answer["nodes"]) == (True, [4], [1, 2, 3])
        assert answer["timers"]["token"] == {"old": 600, "new": 550}
        for i in (1, 2, 3):
            cluster.wait(_shows(cluster, i, "quorum.status", "expected_votes", 3))
            assert cluster.status(i)["timers"]["token"] == 550
            assert "[TOTEM ] removing UDPU member {127.0.0.4}" in cluster.log(i)
        cluster.wait_members([1, 2, 3], [1, 2, 3])


@pytest.mark.sockets
@pytest.mark.timeout(90)
def test_a_broken_file_is_refused_and_nothing_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        good = _loopback_conf(cluster.port, 3)
        cluster.conf.write_text(good)
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        ring = cluster.status(1)["node"]["ring_id"]
        broken = good.replace("    token: 500\n", "    token: 500\n    token_warning: lots\n")
        cluster.conf.write_text(broken)
        code, out, err = _reload(cluster, 3, capsys)
        assert code == 7
        assert out == "Reloading corosync.conf...\n"
        conf_path = str(cluster.conf)
        why = (
            f'{conf_path}:6: value of key "totem.token_warning" is expected to be integer '
            'in range (0..4294967295), but "lots" was given'
        )
        assert err == f"Could not reload configuration. Error CS_ERR_INVALID_PARAM\n{why}\n"
        for i in (1, 2, 3):
            cluster.wait(_shows(cluster, i, "status", "reloads", {"accepted": 0, "refused": 1}))
            assert f"[CFG   ] Unable to reload config file: {why}" in cluster.log(i)
            status = cluster.status(i)
            assert status["node"]["ring_id"] == ring
            assert status["timers"]["token"] == 550
            assert status["reloads"]["last"] == {"by": 3, "ok": False, "error": why}
        # a changed address is refused the same way, then a good file goes through
        cluster.conf.write_text(good.replace("127.0.0.3", "127.0.0.9"))
        code, _out, err = _reload(cluster, 1, capsys)
        moved = (
            f"{conf_path}:23: new config has different address for link 0 of node 3 (addr "
            "changed from 127.0.0.3 to 127.0.0.9). To reconfigure an interface it must be "
            "deleted and recreated"
        )
        assert (code, err) == (
            7,
            f"Could not reload configuration. Error CS_ERR_INVALID_PARAM\n{moved}\n",
        )
        cluster.wait(
            lambda: (
                f"[CFG   ] Cannot configure new interface definitions: {moved}" in cluster.log(2)
            )
        )
        cluster.conf.write_text(good.replace("token: 500", "token: 700"))
        code, _out, err = _reload(cluster, 1, capsys)
        assert code == 0, err
        for i in (1, 2, 3):
            cluster.wait(_shows(cluster, i, "status", "timers", 750, "token"))
        assert cluster.members(2) == [1, 2, 3]
        assert cluster.status(2)["node"]["ring_id"] == ring


@pytest.mark.sockets
@pytest.mark.timeout(60)
def test_reload_without_a_daemon_fails_like_the_real_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cfgtool.main(["--run-dir", str(tmp_path), "-R"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "Reloading corosync.conf...\n"
    assert err.startswith("Could not initialize corosync configuration API: cannot connect to")
    assert os.listdir(tmp_path) == []


@pytest.mark.sockets
@pytest.mark.timeout(30)
def test_control_handlers_may_answer_later(tmp_path: Path) -> None:
    """``cfg.reload`` answers once its message went round: a handler returns a future."""

    async def scenario() -> None:
        server = ControlServer(str(tmp_path / SOCKET_NAME))
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[Any]] = []

        def later(_connection: ControlConnection, _request: dict[str, Any]) -> Any:
            future: asyncio.Future[Any] = loop.create_future()
            pending.append(future)
            return future

        server.register("later", later)
        await server.start()
        client = await AsyncControlClient(str(tmp_path)).connect()
        try:
            first = asyncio.ensure_future(client.call("later"))
            second = asyncio.ensure_future(client.call("later"))
            third = asyncio.ensure_future(client.call("later"))
            while len(pending) < 3:
                await asyncio.sleep(0.001)
            assert await client.call("ops") == ["later", "ops", "subscribe", "unsubscribe"]
            pending[1].set_exception(ControlError("CS_ERR_INVALID_PARAM: corosync.conf:3: no"))
            pending[0].set_result({"added": [4]})
            pending[2].set_exception(RuntimeError("boom"))
            assert await first == {"added": [4]}
            with pytest.raises(RequestFailed, match=r"^CS_ERR_INVALID_PARAM: corosync.conf:3"):
                await second
            with pytest.raises(RequestFailed, match=r"^internal error: RuntimeError\('boom'\)"):
                await third
        finally:
            await client.close()
            await server.stop()

    asyncio.run(scenario())


@pytest.mark.sockets
@pytest.mark.timeout(120)
def test_reload_sends_qnetd_the_new_node_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """corosync-qdevice follows the nodelist in cmap; our qdevice agent follows the reload."""
    monkeypatch.setenv("PYTHONPATH", source_tree_env(tmp_path / "dist")["PYTHONPATH"])
    qnetd = start_ours("-s", "off")
    try:
        quorum = device_block(qnetd.port)
        with LoopbackCluster(tmp_path, 2, quorum=quorum) as cluster:
            cluster.start()
            cluster.wait_members([1, 2], [1, 2], timeout=30)
            cluster.wait(_shows(cluster, 1, "quorum.status", "total_votes", 3), timeout=30)
            assert qnetd_list(qnetd).count("Configured node list:\t1, 2\n") == 2
            # 2 votes expected from the nodelist, raised to the 3 present (the device's too)
            before = _quorum(cluster, 1)
            assert (before["expected_votes"], before["total_votes"], before["quorum"]) == (3, 3, 2)
            cluster.conf.write_text(conf_text(4, cluster.port, quorum=quorum))
            code, _out, err = _reload(cluster, 1, capsys)
            assert code == 0, err

            def listed() -> bool:
                return qnetd_list(qnetd).count("Configured node list:\t1, 2, 3, 4\n") == 2

            cluster.wait(listed, timeout=20)
            for i in (1, 2):
                cluster.wait(_shows(cluster, i, "quorum.status", "expected_votes", 4))
                status = _quorum(cluster, i)
                assert (status["quorate"], status["total_votes"], status["quorum"]) == (True, 3, 3)
    finally:
        qnetd.stop()
