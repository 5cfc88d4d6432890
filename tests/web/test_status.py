"""The panel's snapshot of a node and the timeline of its changes (pure functions)."""

from __future__ import annotations

import copy
from typing import Any

from pvecluster.web.status import TimelineEntry, build_snapshot, qdevice_configured, timeline

from .confs import NODE3, conf_text

NODE = {
    "name": "node1",
    "ip": "127.0.0.1",
    "local_mode": False,
    "quorate": True,
    "dfsm": {"mode": "SYNCED", "members": [[1, 100], [2, 200], [3, 300]]},
}


def engine(members: list[int], *, knet: dict[str, Any] | None = None) -> dict[str, Any]:
    """An engine ``status`` answer of node 1 (udpu unless ``knet`` is given)."""
    node: dict[str, Any] = {
        "members": members,
        "faulty_rings": [],
        "services": {
            "corosync vote quorum service v1.0": {
                "expected_votes": 3,
                "nodes": [{"node_id": n, "state": "MEMBER", "votes": 1} for n in members],
                "qdevice": {"name": "", "votes": 0},
            }
        },
    }
    if knet is not None:
        node["knet"] = knet
    return {
        "node_id": 1,
        "transport": "knet" if knet else "udpu",
        "node": node,
        "links": [{"address": "127.0.0.1"}],
        "nodelist": [
            {"node_id": n, "name": f"node{n}", "addresses": [f"127.0.0.{n}"]} for n in (1, 2, 3)
        ],
        "timers": {"token": 3250, "consensus": 3900},
    }


def quorum(members: list[int], expected: int = 3) -> dict[str, Any]:
    total = len(members)
    return {
        "quorate": total >= expected // 2 + 1,
        "expected_votes": expected,
        "highest_expected": expected,
        "total_votes": total,
        "quorum": expected // 2 + 1,
        "flags": ["Quorate"] if total >= expected // 2 + 1 else [],
        "ring_id": "1.8",
        "members": [{"node_id": n, "votes": 1, "name": f"node{n}"} for n in members],
    }


def snap(now: float, members: list[int], **changes: Any) -> dict[str, Any]:
    return build_snapshot(
        now=now,
        node=changes.pop("node", NODE),
        conf_text=changes.pop("conf_text", conf_text()),
        engine=changes.pop("engine", engine(members)),
        quorum=changes.pop("quorum", quorum(members)),
        qdevice=changes.pop("qdevice", None),
    )


def texts(entries: list[TimelineEntry]) -> list[str]:
    return [entry.text for entry in entries]


def test_snapshot_of_a_quorate_udpu_cluster() -> None:
    s = snap(10.0, [1, 2, 3])
    assert s["cluster"] == {
        "name": "demo",
        "config_version": 3,
        "transport": "udpu",
        "secauth": "on",
        "nodes": 3,
    }
    assert s["quorum"]["quorate"] and s["quorum"]["quorum"] == 2
    assert [(n["name"], n["nodeid"], n["votes"], n["online"]) for n in s["nodes"]] == [
        ("node1", 1, 1, True),
        ("node2", 2, 1, True),
        ("node3", 3, 1, True),
    ]
    assert s["nodes"][0]["links"] == [{"link": 0, "status": "localhost", "latency_ms": None}]
    assert s["nodes"][2]["links"] == [{"link": 0, "status": "connected", "latency_ms": None}]
    assert s["nodes"][0]["local"] and not s["nodes"][1]["local"]
    assert s["qdevice"] is None
    assert s["timers"] == {"token": 3250, "consensus": 3900}
    assert not s["links_measured"]


def test_snapshot_without_the_engine_knows_nobody_online() -> None:
    s = snap(10.0, [], engine=None, quorum=None)
    assert s["quorum"] is None and not s["node"]["engine_running"]
    assert {n["online"] for n in s["nodes"]} == {None}


def test_snapshot_of_a_standalone_node() -> None:
    s = snap(10.0, [], conf_text=None, engine=None, quorum=None, node={**NODE, "local_mode": True})
    assert s["cluster"] is None and s["nodes"] == [] and s["quorum"] is None


def test_knet_links_carry_status_and_latency() -> None:
    knet = {
        "hosts": [
            {"host_id": 2, "links": [{"link": 0, "connected": True, "latency": 412}]},
            {"host_id": 3, "links": [{"link": 0, "connected": False, "latency": 0}]},
        ]
    }
    s = snap(10.0, [1, 2], engine=engine([1, 2], knet=knet), quorum=quorum([1, 2]))
    links = {n["name"]: n["links"] for n in s["nodes"]}
    assert links["node2"] == [{"link": 0, "status": "connected", "latency_ms": 0.412}]
    assert links["node3"] == [{"link": 0, "status": "disconnected", "latency_ms": 0.0}]
    assert links["node1"][0]["status"] == "localhost"
    assert s["links_measured"]


def test_quorum_device_from_the_configuration_votequorum_and_the_agent() -> None:
    conf = conf_text().replace(
        b"  provider: corosync_votequorum\n",
        b"  device {\n    model: net\n    net {\n      algorithm: ffsplit\n"
        b"      host: 127.0.0.9\n      tls: on\n    }\n    votes: 1\n  }\n"
        b"  provider: corosync_votequorum\n",
    )
    eng = engine([1, 2, 3])
    eng["node"]["services"]["corosync vote quorum service v1.0"]["qdevice"] = {
        "name": "Qdevice",
        "votes": 1,
    }
    agent = {"net": {"state": "connected", "cast_vote": True, "connected_since": 5.0}}
    s = snap(10.0, [1, 2, 3], conf_text=conf, engine=eng, qdevice=agent)
    qdevice = s["qdevice"]
    assert qdevice["configured"] == {
        "model": "net",
        "host": "127.0.0.9",
        "port": 5403,
        "algorithm": "ffsplit",
        "tls": "on",
        "votes": 1,
    }
    assert qdevice["registered"] and qdevice["votes"] == 1
    assert qdevice["cast_vote"] is True and qdevice["connected"] is True


def test_unparsable_conf_is_a_problem_not_a_crash() -> None:
    s = snap(10.0, [1], conf_text=b"totem {\n  cluster_name demo\n}\n")
    assert s["cluster"] is None and s["nodes"] == []
    assert s["problems"] == [
        "unable to parse /etc/pve/corosync.conf: missing ':' after key 'cluster_name'"
    ]


def test_first_look_summarises() -> None:
    assert texts(timeline(None, snap(1.0, [1, 2, 3]))) == [
        "3 of 3 nodes online, quorate (3 of 3 votes, quorum 2)"
    ]
    standalone = snap(1.0, [], conf_text=None, engine=None, quorum=None)
    assert texts(timeline(None, standalone)) == ["standalone node: no cluster configured"]


def test_a_node_leaves_and_quorum_is_lost_then_regained() -> None:
    three = snap(1.0, [1, 2, 3])
    two = snap(2.0, [1, 2])
    one = snap(3.0, [1])
    entries = timeline(three, two)
    assert [(e.kind, e.text, e.level, e.time) for e in entries] == [
        ("membership", "node3 left the membership", "warning", 2.0)
    ]
    assert texts(timeline(two, one)) == [
        "node2 left the membership",
        "quorum lost (1 of 3 votes, quorum 2)",
    ]
    assert texts(timeline(one, snap(4.0, [1, 2]))) == [
        "node2 joined the membership",
        "quorum regained (2 of 3 votes, quorum 2)",
    ]
    assert timeline(three, snap(5.0, [1, 2, 3])) == []


def test_configuration_changes() -> None:
    before = snap(1.0, [1, 2, 3])
    conf = (
        conf_text().replace(b"config_version: 3", b"config_version: 4").replace(NODE3.encode(), b"")
    )
    after = snap(2.0, [1, 2], conf_text=conf, quorum=quorum([1, 2], expected=2))
    assert texts(timeline(before, after)) == [
        "corosync.conf version 3 -> 4",
        "node3 removed from the cluster configuration",
        "expected votes 3 -> 2",
    ]


def test_the_engine_stops_and_comes_back() -> None:
    running = snap(1.0, [1, 2, 3])
    stopped = snap(2.0, [], engine=None, quorum=None)
    assert texts(timeline(running, stopped)) == ["the engine of this node stopped"]
    back = snap(3.0, [1, 2, 3])
    assert texts(timeline(stopped, back)) == [
        "the engine of this node runs (node id 1)",
        "quorate (3 of 3 votes, quorum 2)",
    ]


def test_knet_link_changes() -> None:
    def with_link(now: float, connected: bool) -> dict[str, Any]:
        knet = {
            "hosts": [
                {"host_id": 2, "links": [{"link": 0, "connected": True, "latency": 300}]},
                {"host_id": 3, "links": [{"link": 0, "connected": connected, "latency": 300}]},
            ]
        }
        return snap(now, [1, 2, 3], engine=engine([1, 2, 3], knet=knet))

    assert texts(timeline(with_link(1.0, True), with_link(2.0, False))) == [
        "link 0 to node3: connected -> disconnected"
    ]


def test_quorum_device_changes() -> None:
    base = snap(1.0, [1, 2, 3])
    eng = copy.deepcopy(engine([1, 2, 3]))
    eng["node"]["services"]["corosync vote quorum service v1.0"]["qdevice"] = {
        "name": "Qdevice",
        "votes": 1,
    }
    registered = snap(2.0, [1, 2, 3], engine=eng, qdevice={"net": {"cast_vote": True}})
    assert texts(timeline(base, registered)) == ["quorum device Qdevice registered"]
    withdrawn = snap(3.0, [1, 2, 3], engine=eng, qdevice={"net": {"cast_vote": False}})
    assert texts(timeline(registered, withdrawn)) == [
        "quorum device withdraws its vote from this partition"
    ]


def test_qdevice_configured() -> None:
    device = b"  device {\n    model: net\n    votes: 1\n  }\n  provider: corosync_votequorum\n"
    assert qdevice_configured(conf_text().replace(b"  provider: corosync_votequorum\n", device))
    assert not qdevice_configured(conf_text())
    assert not qdevice_configured(None) and not qdevice_configured(b"totem {\n  x y\n}\n")
