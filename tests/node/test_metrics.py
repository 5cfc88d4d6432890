"""Prometheus metrics of real daemons on 127.0.0.1-3, and of status snapshots."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.node.cluster import LoopbackCluster
from totem.node.daemon import main as daemon_main
from totem.node.metrics import corosync_families, pycorosync_families, samples

pytestmark = [pytest.mark.sockets, pytest.mark.timeout(120)]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(address: list[Any]) -> tuple[str, Samples]:
    """GET /metrics: the content type and every sample by (name, sorted labels)."""
    url = f"http://{address[0]}:{address[1]}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        content_type = response.headers["Content-Type"]
        text = response.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return content_type, out


def votes(metrics: Samples) -> dict[tuple[str, str, str], float]:
    """``ha_cluster_corosync_member_votes`` by (node_id, node, local)."""
    out = {}
    for (name, labels), value in metrics.items():
        if name == "ha_cluster_corosync_member_votes":
            d = dict(labels)
            out[(d["node_id"], d["node"], d["local"])] = value
    return out


def quorum_votes(metrics: Samples) -> dict[str, float]:
    return {
        dict(labels)["type"]: value
        for (name, labels), value in metrics.items()
        if name == "ha_cluster_corosync_quorum_votes"
    }


def test_three_node_ring_serves_metrics_and_follows_a_node_death(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        for i in (1, 2, 3):
            cluster.node_args[i] = ["--metrics", f"127.0.0.{i}:0"]  # a free port each
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        cluster.wait(lambda: all(cluster.call(i, "quorum.status")["quorate"] for i in (1, 2, 3)))
        addresses = {i: cluster.status(i)["metrics"]["address"] for i in (1, 2, 3)}
        ring_id = cluster.status(1)["node"]["ring_id"]
        for i in (1, 2, 3):
            assert addresses[i][0] == f"127.0.0.{i}"
            content_type, metrics = scrape(addresses[i])
            assert content_type.startswith("text/plain; version=0.0.4")
            assert metrics[("ha_cluster_corosync_quorate", ())] == 1
            assert votes(metrics) == {
                (str(n), f"node{n}", "true" if n == i else "false"): 1 for n in (1, 2, 3)
            }
            assert quorum_votes(metrics) == {
                "expected_votes": 3,
                "highest_expected": 3,
                "total_votes": 3,
                "quorum": 2,
            }
            ring = (
                ("address", f"127.0.0.{i}"),
                ("node_id", str(i)),
                ("number", "0"),
                ("ring_id", ring_id),
            )
            assert metrics[("ha_cluster_corosync_rings", ring)] == 1
            assert metrics[("ha_cluster_corosync_ring_errors", ())] == 0
            assert metrics[("pycorosync_totem_members", ())] == 3
            assert metrics[("pycorosync_messages_delivered_total", ())] > 0
            others = {n for n in (1, 2, 3) if n != i}
            for n in others:
                link = (("link", "0"), ("node_id", str(n)))
                assert metrics[("pycorosync_link_connected", link)] == 1
            assert metrics[("process_open_fds", ())] > 0
            assert metrics[("process_resident_memory_bytes", ())] > 0

        cluster.kill(3)  # SIGKILL: the others notice by the token timeout

        def two_left() -> bool:
            metrics = scrape(addresses[1])[1]
            return len(votes(metrics)) == 2 and quorum_votes(metrics)["total_votes"] == 2

        cluster.wait(two_left, timeout=15)
        metrics = scrape(addresses[1])[1]
        assert metrics[("ha_cluster_corosync_quorate", ())] == 1  # 2 of 3 votes
        assert votes(metrics) == {("1", "node1", "true"): 1, ("2", "node2", "false"): 1}
        assert metrics[("pycorosync_link_connected", (("link", "0"), ("node_id", "3")))] == 0
        assert metrics[("pycorosync_token_losses_total", ())] >= 1

        cluster.kill(2)
        cluster.wait(lambda: scrape(addresses[1])[1][("ha_cluster_corosync_quorate", ())] == 0)
        metrics = scrape(addresses[1])[1]
        assert votes(metrics) == {("1", "node1", "true"): 1}
        assert quorum_votes(metrics)["total_votes"] == 1


def test_openmetrics_on_request(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 1) as cluster:
        cluster.node_args[1] = ["--metrics", "127.0.0.1:0"]
        cluster.start()
        cluster.wait_members([1], [1])
        host, port = cluster.status(1)["metrics"]["address"]
        request = urllib.request.Request(
            f"http://{host}:{port}/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            assert response.read().decode().endswith("# EOF\n")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://{host}:{port}/nothing", timeout=5)
        assert info.value.code == 404
        # a client that sends garbage gets an answer and the daemon carries on
        with socket.create_connection((host, port), timeout=5) as raw:
            raw.sendall(b"\x00\xffNOT HTTP\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.")
        assert cluster.status(1)["metrics"]["scrapes"] == 1


def test_a_taken_metrics_address_stops_the_start(tmp_path: Path) -> None:
    with (
        socket.socket() as taken,
        LoopbackCluster(tmp_path, 1) as cluster,
    ):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cluster.node_args[1] = ["--metrics", f"127.0.0.1:{port}"]
        cluster.start()
        assert cluster.procs[1].wait(timeout=30) == 1
        assert f"cannot serve metrics on 127.0.0.1:{port}: Address already in use" in cluster.log(1)


def test_a_bad_metrics_option_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        daemon_main(["-c", "/nonexistent", "--metrics", "localhost:http"])
    assert info.value.code == 2
    assert "--metrics: 'localhost:http': the port must be a number" in capsys.readouterr().err


def test_system_metrics_of_the_config_file(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 1) as cluster:
        text = cluster.conf.read_text()
        cluster.conf.write_text(text + "system {\n    metrics: 127.0.0.1:0\n}\n")
        cluster.start()
        cluster.wait_members([1], [1])
        host, port = cluster.status(1)["metrics"]["address"]
        assert host == "127.0.0.1" and port > 0
        assert scrape([host, port])[1][("ha_cluster_corosync_quorate", ())] == 1  # 1 of 1
    # the check of corosync -t accepts it
    check = subprocess.run(
        [sys.executable, "-m", "totem.node.daemon", "-t", "-c", str(cluster.conf), "--nodeid", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


# ---------------------------------------------------------------------------------------
# Families from status snapshots: the cases a loopback ring does not show
# ---------------------------------------------------------------------------------------
def _status(**node: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "node_id": 1,
        "version": "0.1.0",
        "cluster_name": "c",
        "transport": "udpu",
        "nodelist": [
            {"node_id": 1, "name": "a", "addresses": ["10.0.0.1", "10.1.0.1"]},
            {"node_id": 2, "name": "", "addresses": ["10.0.0.2", "10.1.0.2"]},
        ],
        "links": [{"address": "10.0.0.1", "counters": {}}, {"address": "10.1.0.1"}],
        "node": {"ring_id": "1.8", "members": [1, 2], "state": "OPERATIONAL", "stats": {}},
    }
    base["node"].update(node)
    return base


def test_a_faulty_redundant_ring_is_reported_as_the_exporter_does() -> None:
    status = _status(faulty_rings=[1], rrp={"dropped": {"bad_link": 2}})
    got = samples(corosync_families(status))
    assert got[("ha_cluster_corosync_rings", _ring("1.8", "0", "10.0.0.1"))] == 1
    assert got[("ha_cluster_corosync_rings", _ring("1.8", "1", "10.1.0.1"))] == 0
    assert got[("ha_cluster_corosync_ring_errors", ())] == 1
    ours = samples(pycorosync_families(status))
    assert ours[("pycorosync_dropped_total", (("layer", "rrp"), ("reason", "bad_link")))] == 2
    assert ours[("pycorosync_link_connected", (("link", "1"), ("node_id", "2")))] == 0
    assert ours[("pycorosync_link_connected", (("link", "0"), ("node_id", "2")))] == 1


def _ring(ring_id: str, number: str, address: str) -> tuple[tuple[str, str], ...]:
    return (("address", address), ("node_id", "1"), ("number", number), ("ring_id", ring_id))


def test_a_knet_link_down_to_a_member_is_a_faulty_ring() -> None:
    def link(number: int, connected: bool) -> dict[str, Any]:
        return {"link": number, "connected": connected, "enabled": True, "latency": 250}

    status = _status(
        knet={
            "hosts": [
                {"host_id": 1, "reachable": True, "links": [link(0, True), link(1, True)]},
                {"host_id": 2, "reachable": True, "links": [link(0, True), link(1, False)]},
            ],
            "dropped": {"crypto": 3},
        }
    )
    status["nodelist"][0]["links"] = {"0": "10.0.0.1", "1": "10.1.0.1"}
    got = samples(corosync_families(status))
    assert got[("ha_cluster_corosync_rings", _ring("1.8", "0", "10.0.0.1"))] == 1
    assert got[("ha_cluster_corosync_rings", _ring("1.8", "1", "10.1.0.1"))] == 0
    ours = samples(pycorosync_families(status))
    assert ours[("pycorosync_link_latency_seconds", (("link", "0"), ("node_id", "2")))] == 250e-6
    assert ours[("pycorosync_link_connected", (("link", "1"), ("node_id", "2")))] == 0
    assert ours[("pycorosync_dropped_total", (("layer", "knet"), ("reason", "crypto")))] == 3
    # a node that left the membership makes no ring faulty: it is gone on every link
    status["node"]["members"] = [1]
    got = samples(corosync_families(status))
    assert got[("ha_cluster_corosync_ring_errors", ())] == 0


def test_the_quorum_device_line_of_the_membership() -> None:
    registered_cast = 64 | 128 | 256
    votequorum: dict[str, Any] = {
        "node_id": 1,
        "ring_id": "1.8",
        "quorate": True,
        "expected_votes": 3,
        "highest_expected": 3,
        "total_votes": 3,
        "quorum": 2,
        "members": [1, 2],
        "nodes": [
            {"node_id": 1, "votes": 1, "flags": registered_cast},
            {"node_id": 2, "votes": 1, "flags": registered_cast},
        ],
        "qdevice": {"name": "Qdevice", "votes": 1},
    }
    status = _status(services={"corosync vote quorum service v1.0": votequorum})
    got = samples(corosync_families(status))
    member_votes = {
        labels: value
        for (name, labels), value in got.items()
        if name == "ha_cluster_corosync_member_votes"
    }
    assert member_votes == {
        (("local", "true"), ("node", "a"), ("node_id", "1")): 1,
        # no name in the nodelist: the quorumtool's Name column shows the address
        (("local", "false"), ("node", "10.0.0.2"), ("node_id", "2")): 1,
        (("local", "false"), ("node", "Qdevice"), ("node_id", "0")): 1,
    }
    # the device registered but not voting for this node: listed with 0 votes
    votequorum["nodes"][0]["flags"] = 64
    got = samples(corosync_families(status))
    qdevice = (("local", "false"), ("node", "Qdevice"), ("node_id", "0"))
    assert got[("ha_cluster_corosync_member_votes", qdevice)] == 0
