"""Real sockets on loopback: pycorosync daemons with their qdevice agent + pycorosync-qnetd.

Daemons run this source tree with its entry points (:mod:`tests.qdevice.entrypoints`);
every process is stopped by PID at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qnetd.certs import CertDir
from tests.node.cluster import LoopbackCluster
from tests.qnetd.servers import ServerProcess, _wait_ready, start_ours
from votequorum.qdevice.settings import CERT_DIR_ENV

from .entrypoints import REPO, source_tree_env

pytestmark = pytest.mark.sockets


def device_block(port: int, tls: str = "off", timeout: int = 3000, extra: str = "") -> str:
    return (
        "    device {\n        votes: 1\n        model: net\n"
        f"        timeout: {timeout}\n"
        f"        net {{\n            host: 127.0.0.1\n            port: {port}\n"
        f"            tls: {tls}\n{extra}        }}\n    }}\n"
    )


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    environment = source_tree_env(tmp_path / "dist")
    monkeypatch.setenv("PYTHONPATH", environment["PYTHONPATH"])
    return environment


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def total_votes(cluster: LoopbackCluster, i: int) -> int:
    votes: int = cluster.call(i, "quorum.status")["total_votes"]
    return votes


def qdevice_tool(cluster: LoopbackCluster, i: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "votequorum.qdevice.tool", "--run-dir", cluster.run_dir(i), *args],
        capture_output=True,
        text=True,
        timeout=10,
        cwd=REPO,
    )


def qnetd_list(server: ServerProcess) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "qnetd.tool", "-l", "-v", "-p", server.ipc_socket],
        capture_output=True,
        text=True,
        timeout=10,
        cwd=REPO,
    )
    return out.stdout


@pytest.mark.timeout(120)
def test_two_nodes_and_our_qnetd_survivor_keeps_quorum(
    tmp_path: Path, env: dict[str, str], servers: list[ServerProcess]
) -> None:
    qnetd = start_ours("-s", "off")
    servers.append(qnetd)
    with LoopbackCluster(tmp_path, 2, quorum=device_block(qnetd.port)) as cluster:
        cluster.start()
        cluster.wait_members([1, 2], [1, 2], timeout=30)
        cluster.wait(lambda: all(total_votes(cluster, i) == 3 for i in (1, 2)), timeout=30)
        text = cluster.call(1, "quorum.render", what="status")
        assert "Flags:            Quorate Qdevice \n" in text
        assert "         1          1    A,V,NMW node1 (local)\n" in text
        assert "         0          1            Qdevice\n" in text
        tool = qdevice_tool(cluster, 1, "-s", "-v")
        assert tool.returncode == 0, tool.stderr
        assert "State:\t\t\tConnected\n" in tool.stdout
        assert "Poll timer running:\tYes (cast vote)\n" in tool.stdout
        assert "TLS active:\t\tNo\n" in tool.stdout
        listing = qnetd_list(qnetd)
        assert listing.count("Vote:") == 2 and "Membership node list:\t1, 2\n" in listing
        cluster.kill(1)

        def survivor_alone() -> bool:
            status = cluster.call(2, "quorum.status")
            return [m["node_id"] for m in status["members"]] == [2] and (status["total_votes"] == 2)

        cluster.wait(survivor_alone, timeout=40)
        status = cluster.call(2, "quorum.status")
        assert status["quorate"] is True and status["members"] == [
            {"node_id": 2, "votes": 1, "name": "node2"}
        ]
        json_status = qdevice_tool(cluster, 2, "-s", "--json")
        assert '"state": "Connected"' in json_status.stdout


@pytest.mark.timeout(120)
def test_tls_required_with_certificates_from_our_helper(
    tmp_path: Path,
    env: dict[str, str],
    servers: list[ServerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pki = CertDir(str(tmp_path / "qnetd-pki"))
    pki.init()
    files = pki.create_cluster("pytest")
    node_dir = tmp_path / "qdevice-net"
    node_dir.mkdir()
    for name, source in (
        ("ca.crt", files.ca_file),
        ("cluster.crt", files.cert_file),
        ("cluster.key", files.key_file),
    ):
        shutil.copy(source, node_dir / name)
    monkeypatch.setenv(CERT_DIR_ENV, str(node_dir))
    qnetd = start_ours("-s", "req", cert_dir=pki.path)
    servers.append(qnetd)
    conf = device_block(qnetd.port, tls="required")
    with LoopbackCluster(tmp_path, 2, quorum=conf) as cluster:
        cluster.start()
        cluster.wait_members([1, 2], [1, 2], timeout=30)
        cluster.wait(lambda: all(total_votes(cluster, i) == 3 for i in (1, 2)), timeout=30)
        listing = qnetd_list(qnetd)
        assert listing.count("TLS active:\t\tYes (client certificate verified)\n") == 2
        tool = qdevice_tool(cluster, 1, "-s", "-v")
        assert "TLS:\t\t\tRequired\n" in tool.stdout
        assert "TLS active:\t\tYes (client certificate sent)\n" in tool.stdout


@pytest.mark.timeout(120)
def test_tls_with_a_wrong_ca_never_connects_and_the_node_carries_on(
    tmp_path: Path,
    env: dict[str, str],
    servers: list[ServerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pki = CertDir(str(tmp_path / "qnetd-pki"))
    pki.init()
    other = CertDir(str(tmp_path / "other-pki"))
    other.init()
    files = other.create_cluster("pytest")
    node_dir = tmp_path / "qdevice-net"
    node_dir.mkdir()
    shutil.copy(files.ca_file, node_dir / "ca.crt")
    shutil.copy(files.cert_file, node_dir / "cluster.crt")
    shutil.copy(files.key_file, node_dir / "cluster.key")
    monkeypatch.setenv(CERT_DIR_ENV, str(node_dir))
    qnetd = start_ours("-s", "req", cert_dir=pki.path)
    servers.append(qnetd)
    with LoopbackCluster(tmp_path, 1, quorum=device_block(qnetd.port, tls="on")) as cluster:
        cluster.start()
        cluster.wait(lambda: cluster.members(1) == [1], timeout=30)
        time.sleep(4)
        status = cluster.call(1, "qdevice.status")["status"]
        assert status["net"]["state"] != "Connected"
        assert status["counters"].get("disconnect_cant_read_message", 0) >= 1
        assert total_votes(cluster, 1) == 1


@pytest.mark.timeout(120)
def test_a_certificate_for_another_cluster_is_logged_by_the_node(
    tmp_path: Path, env: dict[str, str], servers: list[ServerProcess]
) -> None:
    pki = CertDir(str(tmp_path / "qnetd-pki"))
    pki.init()
    files = pki.create_cluster("othercluster")  # the nodes' cluster is "pytest"
    qnetd = start_ours("-s", "req", cert_dir=pki.path)
    servers.append(qnetd)
    with LoopbackCluster(tmp_path, 1, quorum=device_block(qnetd.port, tls="on")) as cluster:
        cluster.daemon_args = ["--qdevice-cert-dir", files.directory]
        cluster.start()
        notice = (
            f"notice  [QDEVICE] qnetd 127.0.0.1:{qnetd.port} closed the connection after INIT: "
            "this node sent cluster name 'pytest' and a client certificate issued to "
            f"'othercluster' ({files.directory}/cluster.crt); qnetd accepts only a certificate "
            "issued to the cluster name (pycorosync-qnetd-certutil --setup -n pytest makes one)"
        )
        cluster.wait(lambda: notice in cluster.log(1), timeout=30)
        assert total_votes(cluster, 1) == 1


class GarbageServer:
    """A TCP server that answers every connection with junk (a broken or hostile qnetd)."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            try:
                conn.recv(4096)
                conn.sendall(self.payload)
                time.sleep(0.05)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\x01\x00\x00\x00\x04\x00\x00\x00\x40",  # an option overrunning the message
        b"HTTP/1.1 400 Bad Request\r\n\r\n",  # not the protocol at all
    ],
)
def test_a_qnetd_sending_garbage_does_not_hurt_the_node(
    tmp_path: Path, env: dict[str, str], payload: bytes
) -> None:
    garbage = GarbageServer(payload)
    try:
        with LoopbackCluster(tmp_path, 2, quorum=device_block(garbage.port)) as cluster:
            cluster.start()
            cluster.wait_members([1, 2], [1, 2], timeout=30)

            def attempts(i: int) -> int:
                status = cluster.call(i, "qdevice.status")["status"]
                return int(status["counters"].get("connect_attempts", 0))

            # each node must have been refused and come back at least once
            cluster.wait(lambda: attempts(1) >= 2 and attempts(2) >= 2, timeout=90)
            for i in (1, 2):
                status: dict[str, Any] = cluster.call(i, "qdevice.status")["status"]
                counters = status["counters"]
                assert counters.get("connect_attempts", 0) >= 2
                assert sum(v for k, v in counters.items() if k.startswith("disconnect_")) >= 1
                quorum = cluster.call(i, "quorum.status")
                assert quorum["quorate"] is True and quorum["total_votes"] == 2
            assert cluster.members(1) == [1, 2]
    finally:
        garbage.close()


@pytest.mark.timeout(120)
def test_qnetd_restart_brings_the_vote_back(
    tmp_path: Path, env: dict[str, str], servers: list[ServerProcess]
) -> None:
    qnetd = start_ours("-s", "off")
    port = qnetd.port
    with LoopbackCluster(tmp_path, 2, quorum=device_block(port)) as cluster:
        cluster.start()
        cluster.wait(lambda: all(total_votes(cluster, i) == 3 for i in (1, 2)), timeout=40)
        qnetd.stop()
        # HB 2.4 s: the missing echo reply is noticed within two heartbeats, then NACK
        cluster.wait(lambda: all(total_votes(cluster, i) == 2 for i in (1, 2)), timeout=20)
        assert cluster.call(1, "quorum.status")["quorate"] is True
        again = start_ours_on(port)
        servers.append(again)
        cluster.wait(lambda: all(total_votes(cluster, i) == 3 for i in (1, 2)), timeout=30)


def start_ours_on(port: int) -> ServerProcess:
    """pycorosync-qnetd -s off on a given port (a restart on the port the nodes know)."""
    tmp = tempfile.mkdtemp(prefix="qdv-qnetd-")
    cmd = [
        sys.executable, "-m", "qnetd.server.daemon", "-f", "-l", "127.0.0.1",
        "-p", str(port), "--run-dir", tmp, "-s", "off",
    ]  # fmt: skip
    log_path = os.path.join(tmp, "log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), cwd=REPO
        )
    server = ServerProcess(
        "pycorosync-qnetd", proc, port, tmp, os.path.join(tmp, "pycorosync-qnetd.sock"), log_path
    )
    _wait_ready(server)
    return server


@pytest.mark.timeout(120)
def test_a_reload_starts_restarts_and_stops_the_device(
    tmp_path: Path, env: dict[str, str], servers: list[ServerProcess]
) -> None:
    """No device at start; a reload adding ``quorum.device`` starts the client on every node
    (systemctl start corosync-qdevice), a changed device setting restarts it, a reload
    without the device stops it and withdraws its vote, and adding it again works."""
    qnetd = start_ours("-s", "off")
    servers.append(qnetd)
    with LoopbackCluster(tmp_path, 2) as cluster:
        plain = cluster.conf.read_text()
        cluster.start()
        cluster.wait_members([1, 2], [1, 2], timeout=30)
        assert "qdevice.status" not in cluster.call(1, "ops")

        def reload_with(quorum: str) -> None:
            text = plain.replace(
                "    provider: corosync_votequorum\n",
                "    provider: corosync_votequorum\n" + quorum,
            )
            cluster.conf.write_text(text)
            cluster.call(1, "cfg.reload")

        def votes_everywhere(votes: int) -> bool:
            return all(total_votes(cluster, i) == votes for i in (1, 2))

        reload_with(device_block(qnetd.port))
        cluster.wait(lambda: votes_everywhere(3), timeout=30)
        assert cluster.status(2)["agents"]["running"] == ["qdevice"]
        assert "State:\t\t\tConnected\n" in qdevice_tool(cluster, 2, "-s").stdout
        reload_with(device_block(qnetd.port, timeout=4000))
        cluster.wait(lambda: cluster.status(1)["agents"]["changes"]["restarted"] == 1, timeout=10)
        assert "HB interval:\t\t4000ms\n" in qdevice_tool(cluster, 1, "-s", "-v").stdout
        cluster.wait(lambda: votes_everywhere(3), timeout=30)
        reload_with("")
        cluster.wait(lambda: votes_everywhere(2), timeout=30)
        for i in (1, 2):
            assert cluster.status(i)["agents"] == {
                "running": [],
                "changes": {"started": 1, "stopped": 1, "restarted": 1},
            }
            assert "qdevice.status" not in cluster.call(i, "ops")
        text = cluster.call(1, "quorum.render", what="status")
        assert "Qdevice" not in text and "Expected votes:   2\n" in text
        reload_with(device_block(qnetd.port))
        cluster.wait(lambda: votes_everywhere(3), timeout=30)
        assert "Agent qdevice started by the configuration".lower() in cluster.log(2).lower()
