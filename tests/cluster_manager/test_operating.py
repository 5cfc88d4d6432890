"""The filesystem daemon under systemd and Prometheus: READY=1, its metrics and its engine's."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import NodeCluster, environment_problem

_PROBLEM = environment_problem()
pytestmark = [
    pytest.mark.sockets,
    pytest.mark.timeout(120),
    pytest.mark.skipif(_PROBLEM is not None, reason=f"cluster manager: {_PROBLEM}"),
]

_SCRAPE = (
    "import sys, urllib.request; "
    "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
)


def scrape(c: NodeCluster, url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET the metrics from inside the cluster's network namespace."""
    done = c.run_argv([sys.executable, "-c", _SCRAPE, url], timeout=30)
    assert done.returncode == 0, done.stderr
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(done.stdout)
        for s in family.samples
    }


def receive_until(sock: socket.socket, wanted: str, timeout: float = 30.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while wanted not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {wanted!r} within {timeout} s: {got}")
        sock.settimeout(left)
        got.append(sock.recv(4096).decode())
    return got


def test_cfsd_notifies_systemd_and_exports_its_metrics_and_its_engines(tmp_path: Path) -> None:
    notify_path = str(tmp_path / "notify")
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify,
        NodeCluster(tmp_path, 1) as c,
    ):
        notify.bind(notify_path)
        c.env["NOTIFY_SOCKET"] = notify_path
        c.start(1, "--metrics", "127.0.0.1:9664")
        del c.env["NOTIFY_SOCKET"]
        receive_until(notify, "READY=1\nSTATUS=Local mode")
        url = "http://127.0.0.1:9664/metrics"
        metrics = scrape(c, url)
        assert metrics[("pycorosync_cfs_local_mode", ())] == 1
        assert metrics[("pycorosync_cfs_engine_up", ())] == 0
        assert ("ha_cluster_corosync_quorate", ()) not in metrics  # no engine yet

        assert c.pvecm(1, "create", "demo").returncode == 0
        receive_until(notify, "STATUS=Cluster mode, quorate, synced, engine running as node 1")
        c.wait(lambda: scrape(c, url).get(("ha_cluster_corosync_quorate", ())) == 1, 30, "quorate")
        metrics = scrape(c, url)
        assert metrics[("pycorosync_cfs_local_mode", ())] == 0
        assert metrics[("pycorosync_cfs_quorate", ())] == 1
        assert metrics[("pycorosync_cfs_engine_up", ())] == 1
        assert metrics[("pycorosync_cfs_dfsm_mode", (("mode", "SYNCED"),))] == 1
        assert metrics[("pycorosync_cfs_members", ())] == 1
        votes = (("local", "true"), ("node", "node1"), ("node_id", "1"))
        assert metrics[("ha_cluster_corosync_member_votes", votes)] == 1
        assert metrics[("pycorosync_cpg_group_members", (("group", "pve_dcdb_v1"),))] == 1
        # the engine was not handed systemd's socket: it would speak for the filesystem
        engine_pid = c.status(1)["engine_pid"]
        environ = Path(f"/proc/{engine_pid}/environ").read_bytes().split(b"\0")
        assert not any(entry.startswith(b"NOTIFY_SOCKET=") for entry in environ)

        c.stop(1)
        receive_until(notify, "STOPPING=1\nSTATUS=Stopping")
