"""Acceptance tests G of the cluster manager: ``pvecm qdevice setup|remove`` (ref 5.6 G).

Real daemons in a network namespace of their own (:mod:`tests.cluster_manager.harness`),
``pycorosync-qnetd`` on 127.0.0.100 with certificates from ``pycorosync-qnetd-certutil``.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from .harness import NodeCluster, environment_problem

_PROBLEM = environment_problem()
pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"cluster manager: {_PROBLEM}"),
]

QNETD = "127.0.0.100"


def conf_version(text: str) -> int:
    match = re.search(r"config_version: (\d+)", text)
    assert match, text
    return int(match.group(1))


def start_our_qnetd(c: NodeCluster, cluster_name: str) -> Path:
    """The qnetd's PKI (``--setup``: CA, server and cluster certificates) and the server."""
    qdir, out = c.base / "qnetd", c.base / "qcerts"
    made = c.run_module(
        "qnetd.certutil", "--setup", "-n", cluster_name, "-d", str(qdir), "-o", str(out)
    )
    assert made.returncode == 0, made.stderr
    argv = [sys.executable, "-m", "qnetd.server.daemon", "-f", "-l", QNETD, "-s", "on",
            "--cert-dir", str(qdir), "--run-dir", str(c.base / "qnetd-run")]  # fmt: skip
    c.spawn("qnetd", argv)
    return out


def qdevice_state(c: NodeCluster, i: int) -> str:
    out = c.run_module("votequorum.qdevice.tool", "-s", "--run-dir", str(c.root(i) / "run"))
    match = re.search(r"^State:\t+(.*)$", out.stdout, re.M)
    return match.group(1) if match else ""


@pytest.mark.timeout(300)
def test_qdevice_setup_status_failover_and_remove(tmp_path: Path) -> None:
    with NodeCluster(tmp_path, 3) as c:
        for i in (1, 2):
            c.start(i)
        assert c.pvecm(1, "create", "demo").returncode == 0
        c.wait(lambda: c.quorate(1), 20, "node 1 quorate")
        assert c.join(2).returncode == 0
        certs = start_our_qnetd(c, "demo")
        before = conf_version(c.cfs(1, "cat", "corosync.conf").stdout)
        # G6: every node must be online
        c.stop(2)
        offline = c.pvecm(1, "qdevice", "setup", QNETD, "--qnetd-certs", str(certs))
        assert offline.returncode == 255
        assert offline.stderr == "All nodes must be online! Node node2 is offline, aborting.\n"
        c.start(2)
        c.wait(lambda: all(c.quorate(i) for i in (1, 2)), 30, "both nodes quorate")
        c.wait(lambda: c.status(1)["synced"] and c.members_online(1) == 2, 30, "node 2 online")
        # a certificate for another cluster is refused, nothing written
        wrong = c.run_module("qnetd.certutil", "--client", "-n", "other", "-d",
                             str(tmp_path / "qnetd"), "-o", str(tmp_path / "wrong"))  # fmt: skip
        assert wrong.returncode == 0
        refused = c.pvecm(1, "qdevice", "setup", QNETD, "--qnetd-certs", str(tmp_path / "wrong"))
        assert "is for cluster 'other', not 'demo'" in refused.stderr
        assert conf_version(c.cfs(1, "cat", "corosync.conf").stdout) == before
        # G1
        setup = c.pvecm(1, "qdevice", "setup", QNETD, "--qnetd-certs", str(certs))
        assert setup.returncode == 0, setup.stdout + setup.stderr
        assert setup.stdout.startswith(
            "INFO: copying CA cert and initializing on all nodes\n"
            "INFO: copy and import cluster cert to all nodes\n"
            "INFO: add QDevice to cluster configuration\n"
        )
        assert (
            "node 'node2': INFO: start and enable corosync qdevice daemon on node 'node2'..."
            in setup.stdout
        )
        assert setup.stdout.endswith("Reloading corosync.conf...\nDone\n")
        conf = c.cfs(2, "cat", "corosync.conf").stdout
        assert conf_version(conf) == before + 1
        assert (
            "  device {\n    model: net\n    net {\n      algorithm: ffsplit\n"
            f"      host: {QNETD}\n      tls: on\n    }}\n    votes: 1\n  }}\n"
        ) in conf
        for i in (1, 2):
            local = c.root(i) / "etc" / "corosync"
            assert (local / "corosync.conf").read_text() == conf
            assert sorted(p.name for p in (local / "qdevice" / "net").iterdir()) == [
                "ca.crt", "cluster.crt", "cluster.key"]  # fmt: skip
            assert (local / "qdevice" / "net" / "cluster.key").stat().st_mode & 0o777 == 0o600
        # G2
        c.wait(lambda: all(qdevice_state(c, i) == "Connected" for i in (1, 2)), 30, "connected")

        def status_has_qdevice_vote() -> bool:
            return "Total votes:      3\n" in c.pvecm(1, "status").stdout

        c.wait(status_has_qdevice_vote, 30, "the device's vote")
        status = c.pvecm(1, "status").stdout
        for line in ("Expected votes:   3", "Total votes:      3", "Quorum:           2  ",
                     "Flags:            Quorate Qdevice ",
                     "    Nodeid      Votes    Qdevice Name",
                     "0x00000001          1    A,V,NMW 127.0.0.1 (local)",
                     "0x00000000          1            Qdevice"):  # fmt: skip
            assert f"{line}\n" in status, status
        # G4
        again = c.pvecm(1, "qdevice", "setup", QNETD, "--qnetd-certs", str(certs))
        assert again.stderr == "QDevice already configured!\n"
        forced = c.pvecm(1, "qdevice", "setup", QNETD, "--qnetd-certs", str(certs), "--force")
        assert forced.stderr == (
            "Qdevice already configured, must be removed before setting up new one!\n"
        )
        # G3: node 2 stops, node 1 keeps quorum with the device's vote
        c.stop(2)
        c.wait(lambda: "Total votes:      2\n" in c.pvecm(1, "status").stdout, 30, "2 votes")
        assert c.quorate(1)
        assert c.cfs(1, "put", "after-failover.cfg", input="x").returncode == 0
        c.start(2)
        c.wait(lambda: c.members_online(1) == 2, 30, "node 2 back")
        c.wait(lambda: "Total votes:      3\n" in c.pvecm(1, "status").stdout, 30, "3 votes")
        # G7
        version = conf_version(c.cfs(1, "cat", "corosync.conf").stdout)
        removed = c.pvecm(1, "qdevice", "remove")
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout == "Reloading corosync.conf...\nDone\n\nRemoved Qdevice.\n"
        conf = c.cfs(2, "cat", "corosync.conf").stdout
        assert "device" not in conf and conf_version(conf) == version + 1
        c.wait(
            lambda: not any((c.root(i) / "etc" / "corosync" / "qdevice").exists() for i in (1, 2)),
            10,
            "every node's etc/corosync/qdevice removed",
        )
        c.wait(lambda: "Qdevice" not in c.pvecm(1, "status").stdout, 30, "no Qdevice")
        assert "Expected votes:   2\n" in c.pvecm(2, "status").stdout
        # G8
        assert c.pvecm(1, "qdevice", "remove").stderr == "No QDevice configured!\n"
        # G5: three nodes, an odd count
        c.start(3)
        assert c.join(3).returncode == 0
        c.wait(lambda: c.members_online(1) == 3, 30, "three nodes online")
        odd = c.pvecm(1, "qdevice", "setup", QNETD, "--qnetd-certs", str(certs))
        assert odd.stderr == "Clusters with an odd node count are not officially supported!\n"
        lms = c.pvecm(1, "qdevice", "setup", QNETD, "--qnetd-certs", str(certs), "--force")
        assert lms.returncode == 0, lms.stderr
        conf = c.cfs(3, "cat", "corosync.conf").stdout
        assert "      algorithm: lms\n" in conf and "votes:" not in conf.split("device {")[1]
        c.wait(lambda: "Total votes:      5\n" in c.pvecm(3, "status").stdout, 30, "lms: 3 + 2")


def private_etc(c: NodeCluster, argv: list[str]) -> list[str]:
    """``argv`` with a private ``/etc/corosync`` (the real qnetd's fixed NSS database path):
    its own mount namespace, a directory of this test bound there."""
    etc = c.base / "qnetd-etc"
    etc.mkdir(exist_ok=True)
    script = 'mount --bind "$1" /etc/corosync && shift && exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(etc), *argv]


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("corosync-qnetd") is None, reason="corosync-qnetd is absent")
def test_qdevice_setup_with_the_real_corosync_qnetd(tmp_path: Path) -> None:
    with NodeCluster(tmp_path, 2) as c:
        for i in (1, 2):
            c.start(i)
        assert c.pvecm(1, "create", "demo").returncode == 0
        c.wait(lambda: c.quorate(1), 20, "node 1 quorate")
        assert c.join(2).returncode == 0
        certs = tmp_path / "qcerts"
        made = c.run_argv(private_etc(c, [sys.executable, "-m", "qnetd.certutil", "--setup",
                                          "--nss", "-n", "demo", "-o", str(certs)]))  # fmt: skip
        assert made.returncode == 0, made.stdout + made.stderr
        run = tmp_path / "qnetd-run"
        run.mkdir()
        options = f"lock_file={run}/qnetd.pid,local_socket_file={run}/qnetd.sock"
        c.spawn("corosync-qnetd", private_etc(c, ["corosync-qnetd", "-f", "-s", "req", "-l",
                                                  QNETD, "-S", options]))  # fmt: skip
        c.wait(lambda: (run / "qnetd.sock").exists(), 20, "corosync-qnetd up")
        c.wait(lambda: c.members_online(1) == 2, 30, "node 2 online")
        setup = c.pvecm(1, "qdevice", "setup", QNETD, "--qnetd-certs", str(certs))
        assert setup.returncode == 0, setup.stdout + setup.stderr
        c.wait(lambda: "Total votes:      3\n" in c.pvecm(2, "status").stdout, 60, "3 votes")
        listing = c.run_argv(["corosync-qnetd-tool", "-l", "-v", "-p", f"{run}/qnetd.sock"])
        assert 'Cluster "demo":\n' in listing.stdout
        assert listing.stdout.count("TLS active:\t\tYes (client certificate verified)\n") == 2
        assert c.pvecm(1, "qdevice", "remove").returncode == 0
        c.wait(lambda: "Total votes:      2\n" in c.pvecm(2, "status").stdout, 30, "2 votes")
