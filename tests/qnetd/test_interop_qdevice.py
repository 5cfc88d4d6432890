"""Real corosync 3.1.7 nodes with real corosync-qdevice 3.0.3 voting through pycorosync-qnetd.

Uses the shared ``realcluster.sh`` harness (network and mount namespaces, root only) with a
private prefix/subnet/state directory: nodes qnt1 and qnt2 run corosync + qdevice, qnt3 runs
our qnetd. Plain TCP, then TLS required with client certificates made by our cert helper and
imported into the nodes' NSS databases with corosync-qdevice-net-certutil.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from .servers import REPO

HARNESS = "/work/shared/tools/realcluster.sh"
ENV = {
    "RC_STATE": "/tmp/qnt-rc-test",
    "RC_PREFIX": "qntt",
    "RC_SUBNET": "10.97.6",
    "RC_QDEVICE_HOST": "10.97.6.3",
}
PY = ["env", f"PYTHONPATH={REPO}", sys.executable]

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        os.geteuid() != 0
        or not os.path.exists(HARNESS)
        or shutil.which("corosync") is None
        or shutil.which("corosync-qdevice") is None,
        reason="needs root, realcluster.sh, corosync and corosync-qdevice",
    ),
]


def rc(*args: str, tls: str = "off", timeout: float = 120, check: bool = True) -> str:
    env = dict(os.environ, **ENV, RC_QDEVICE_TLS=tls)
    out = subprocess.run([HARNESS, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"realcluster {args}: {out.stdout}{out.stderr}")
    return out.stdout + out.stderr


def wait_for(probe: Callable[[], str], done: Callable[[str], bool], timeout: float) -> str:
    """Run ``probe`` until ``done(output)``; return that output."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        last = probe()
        if done(last):
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out; last output: {last!r}")


@pytest.fixture
def cluster_down() -> Iterator[None]:
    rc("down", check=False, timeout=60)
    try:
        yield
    finally:
        rc("down", check=False, timeout=60)


def qnetd_list(verbose: bool = False) -> str:
    args = ["-l", "-v"] if verbose else ["-l"]
    return rc("exec", "3", *PY, "-m", "qnetd.tool", *args, check=False)


@pytest.mark.timeout(300)
def test_two_real_nodes_get_the_qdevice_vote_from_us(cluster_down: None) -> None:
    rc("up", "2", "udpu", "--extra", "1")
    rc("spawn", "3", "qnetd", *PY, "-m", "qnetd.server.daemon", "-f", "-d", "-s", "off")
    time.sleep(1.5)
    for n in ("1", "2"):
        rc("spawn", n, "qdevice", "corosync-qdevice", "-f", "-d")
    text = wait_for(qnetd_list, lambda t: t.count("Vote:") == 2, 60)
    assert "Algorithm:\t\tFifty-Fifty split (KAP Tie-breaker)\n" in text
    assert "        Vote:\t\t\tNo change (ACK)\n" in text
    quorum = rc("exec", "1", "corosync-quorumtool", "-s")
    assert "Flags:            Quorate Qdevice" in quorum and "Total votes:      3" in quorum
    # cs1 dies: cs2 keeps quorum with the qdevice vote (2 of 3)
    rc("kill", "1")
    wait_for(qnetd_list, lambda t: "Membership node list:\t2\n" in t and "Node ID 1" not in t, 60)
    quorum = wait_for(
        lambda: rc("exec", "2", "corosync-quorumtool", "-s", check=False),
        lambda t: "Total votes:      2" in t,
        60,
    )
    assert "Quorate:          Yes" in quorum


@pytest.mark.timeout(300)
def test_tls_with_our_certificates(cluster_down: None) -> None:
    rc("up", "2", "udpu", "--extra", "1", tls="on")
    nodes = os.path.join(ENV["RC_STATE"], "nodes")
    rc(
        "exec",
        "3",
        *PY,
        "-m",
        "qnetd.certutil",
        "--setup",
        "-n",
        "realcluster",
        "-d",
        "/etc/corosync/pyqnetd",
    )
    src = os.path.join(nodes, "qntt3", "etc", "pyqnetd")
    for n in ("1", "2"):
        dst = os.path.join(nodes, f"qntt{n}", "etc")
        shutil.copy(os.path.join(src, "ca.crt"), dst)
        shutil.copy(os.path.join(src, "clusters", "realcluster", "cluster.p12"), dst)
        rc("exec", n, "corosync-qdevice-net-certutil", "-i", "-c", "/etc/corosync/ca.crt")
        rc("exec", n, "corosync-qdevice-net-certutil", "-m", "-c", "/etc/corosync/cluster.p12")
    rc(
        "spawn",
        "3",
        "qnetd",
        *PY,
        "-m",
        "qnetd.server.daemon",
        "-f",
        "-s",
        "req",
        "--cert-dir",
        "/etc/corosync/pyqnetd",
    )
    time.sleep(1.5)
    for n in ("1", "2"):
        rc("spawn", n, "qdevice", "corosync-qdevice", "-f", "-d")
    text = wait_for(lambda: qnetd_list(True), lambda t: t.count("Vote:") == 2, 60)
    assert text.count("TLS active:\t\tYes (client certificate verified)\n") == 2
    status = rc("exec", "1", "corosync-qdevice-tool", "-s", "-v")
    assert "State:\t\t\tConnected" in status and "TLS active:\t\tYes" in status
