"""pycorosync-qnetd's metrics and systemd notifications, serving two real nodes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.node.cluster import LoopbackCluster
from tests.qnetd.servers import REPO, free_port

pytestmark = [pytest.mark.sockets, pytest.mark.timeout(120)]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int, host: str = "127.0.0.1") -> Samples:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.05)


def test_qnetd_metrics_follow_its_clients_and_votes(tmp_path: Path) -> None:
    notify_path = str(tmp_path / "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(20)
    port, metrics_port = free_port(), free_port()
    log = open(tmp_path / "qnetd.log", "wb")  # noqa: SIM115 - owned by the process
    qnetd = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qnetd.server.daemon",
            "-f",
            "-s",
            "off",
            "-l",
            "127.0.0.1",
            "-p",
            str(port),
            "--run-dir",
            str(tmp_path / "qnetd"),
            "--metrics",
            f"127.0.0.1:{metrics_port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": REPO, "NOTIFY_SOCKET": notify_path},
    )
    log.close()
    device = (
        "    device {\n        model: net\n        votes: 1\n        net {\n"
        f"            host: 127.0.0.1\n            port: {port}\n"
        "            algorithm: ffsplit\n            tls: off\n        }\n    }\n"
    )
    try:
        assert notify.recv(4096) == b"READY=1\nSTATUS=0 clients, 0 clusters"
        (tmp_path / "ring").mkdir()
        with LoopbackCluster(tmp_path / "ring", 2, quorum=device) as cluster:
            node_port = free_port()
            cluster.node_args[1] = ["--metrics", f"127.0.0.1:{node_port}"]
            cluster.start()

            def both_acked() -> bool:
                m = scrape(metrics_port)
                votes = [
                    labels
                    for (name, labels), value in m.items()
                    if name == "pycorosync_qnetd_node_vote" and value == 1
                ]
                return (
                    m[("pycorosync_qnetd_clients", ())] == 2
                    and len(votes) == 2
                    and all(dict(v)["vote"] == "ACK" for v in votes)
                )

            wait_for(both_acked)
            m = scrape(metrics_port)
            assert m[("pycorosync_qnetd_clusters", ())] == 1
            cluster_labels = (("algorithm", "Fifty-Fifty split"), ("cluster", "pytest"))
            assert m[("pycorosync_qnetd_cluster_clients", cluster_labels)] == 2
            assert m[("pycorosync_qnetd_decisions_total", (("vote", "ACK"),))] >= 2
            assert m[("pycorosync_qnetd_messages_total", ())] > 0
            wait_for(lambda: notify.recv(4096) == b"STATUS=2 clients, 1 clusters")

            # the node's own metrics show the device's vote as ha_cluster_exporter does
            qdevice = (("local", "false"), ("node", "Qdevice"), ("node_id", "0"))
            wait_for(
                lambda: scrape(node_port).get(("ha_cluster_corosync_member_votes", qdevice)) == 1
            )
            cluster.kill(2)
            wait_for(lambda: scrape(metrics_port)[("pycorosync_qnetd_clients", ())] == 1)
            node = scrape(node_port)
            assert node[("ha_cluster_corosync_quorate", ())] == 1  # 1 node + the device of 3
            wait_for(lambda: scrape(node_port)[("ha_cluster_corosync_member_votes", qdevice)] == 1)
        qnetd.send_signal(signal.SIGTERM)
        assert qnetd.wait(timeout=10) == 0
        wait_for(lambda: notify.recv(4096).startswith(b"STOPPING=1"))
    finally:
        if qnetd.poll() is None:
            qnetd.kill()
            qnetd.wait()
        notify.close()
