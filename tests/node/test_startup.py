"""What a daemon says when it starts: host names in ring addresses, names that do not resolve,
sockets it cannot bind (real daemons on loopback; every process is stopped by PID)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.node.cluster import LoopbackCluster, conf_text, free_port

pytestmark = [pytest.mark.sockets, pytest.mark.timeout(120)]


def daemon(conf: Path, tmp_path: Path, nodeid: int, name: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "totem.node.daemon",
        "-f",
        "-c",
        str(conf),
        "--nodeid",
        str(nodeid),
        "--run-dir",
        str(tmp_path / f"run-{name}"),
        "--state-dir",
        str(tmp_path / f"state-{name}"),
        "--no-ipc",  # several daemons on one machine (one network namespace)
    ]


def run_to_exit(argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def test_localhost_as_ring0_addr_forms_a_ring(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 2) as cluster:
        text = cluster.conf.read_text()
        cluster.conf.write_text(text.replace("ring0_addr: 127.0.0.1", "ring0_addr: localhost"))
        cluster.start()
        cluster.wait_members([1, 2], [1, 2])
        status = cluster.status(1)
        assert status["nodelist"][0] == {
            "node_id": 1,
            "name": "node1",
            "addresses": ["127.0.0.1"],
            "links": {"0": "127.0.0.1"},
        }
        assert status["links"][0]["address"] == "127.0.0.1"
        assert "Traceback" not in cluster.log(1)


def test_a_name_that_does_not_resolve_is_refused_at_its_line(tmp_path: Path) -> None:
    conf = tmp_path / "corosync.conf"
    text = conf_text(2, free_port(["127.0.0.1"]))
    conf.write_text(text.replace("ring0_addr: 127.0.0.2", "ring0_addr: no-such-host.invalid"))
    line = 1 + next(
        i for i, row in enumerate(conf.read_text().splitlines()) if "no-such-host" in row
    )
    done = run_to_exit(daemon(conf, tmp_path, 1, "a"))
    assert done.returncode == 8
    assert "Traceback" not in done.stderr
    assert (
        f"error   [MAIN  ] {conf}:{line}: failed to parse node address 'no-such-host.invalid': "
        in done.stderr
    )
    assert done.stderr.rstrip().endswith("Corosync Cluster Engine exiting with status 8.")


def test_the_same_node_twice_says_which_address_port_and_why(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 2) as cluster:
        cluster.start(1)
        cluster.wait_members([1], [1])
        done = run_to_exit(daemon(cluster.conf, tmp_path, 1, "again"))
        assert done.returncode == 1
        assert (
            f"cannot bind 127.0.0.1 port {cluster.port} for ring 0 of node 1: Address already "
            "in use (errno 98, EADDRINUSE); another process uses it: is this node already "
            "running? Several nodes on one machine need one --nodeid N each (and their own "
            "--run-dir)"
        ) in done.stderr
        assert cluster.members(1) == [1]  # the first one carries on


def test_an_address_of_another_machine_says_so(tmp_path: Path) -> None:
    conf = tmp_path / "corosync.conf"
    port = free_port(["127.0.0.1"])
    conf.write_text(conf_text(2, port).replace("127.0.0.", "198.51.100."))
    done = run_to_exit(daemon(conf, tmp_path, 1, "a"))
    assert done.returncode == 1
    assert (
        f"cannot bind 198.51.100.1 port {port} for ring 0 of node 1: Cannot assign requested "
        "address (errno 99, EADDRNOTAVAIL); 198.51.100.1 is not an address of this machine: is "
        "this machine node 1? (--nodeid N picks the nodelist entry; without it the node is "
        "found by host name or address)"
    ) in done.stderr
