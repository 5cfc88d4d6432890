"""Real corosync 3.1.7 nodes with real corosync-qdevice 3.0.3 voting through pycorosync-qnetd.

Uses the project's interop harness (:class:`tests.interop.harness.Cluster`, network and mount
namespaces, root only): slots 1 and 2 run real corosync + corosync-qdevice, the extra slot 3
runs our qnetd (``ref/real-corosync.md`` section 7). Plain TCP, then TLS required with client
certificates made by our cert helper and imported into the nodes' NSS databases with
corosync-qdevice-net-certutil.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.interop.corosync_conf import QDeviceConf
from tests.interop.harness import Cluster, environment_problem

from .servers import REPO

PY = ["env", f"PYTHONPATH={REPO}", sys.executable]

_PROBLEM = environment_problem() or (
    "corosync-qdevice is not installed" if shutil.which("corosync-qdevice") is None else None
)
pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"real-corosync interop: {_PROBLEM}"),
]


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


def qnetd_list(c: Cluster, verbose: bool = False) -> str:
    args = ["-l", "-v"] if verbose else ["-l"]
    return c.exec(3, [*PY, "-m", "qnetd.tool", *args]).stdout


def quorumtool(c: Cluster, i: int) -> str:
    return c.exec(i, ["corosync-quorumtool", "-s"]).stdout


@pytest.mark.timeout(300)
def test_two_real_nodes_get_the_qdevice_vote_from_us(tmp_path: Path) -> None:
    with Cluster(2, extra=1, qdevice=QDeviceConf(tls="off"), keep_logs=tmp_path) as c:
        c.spawn(3, "qnetd", [*PY, "-m", "qnetd.server.daemon", "-f", "-d", "-s", "off"])
        time.sleep(1.5)
        for n in (1, 2):
            c.spawn(n, "qdevice", ["corosync-qdevice", "-f", "-d"])
        text = wait_for(lambda: qnetd_list(c), lambda t: t.count("Vote:") == 2, 60)
        assert "Algorithm:\t\tFifty-Fifty split (KAP Tie-breaker)\n" in text
        assert "        Vote:\t\t\tNo change (ACK)\n" in text
        quorum = wait_for(lambda: quorumtool(c, 1), lambda t: "Total votes:      3" in t, 30)
        assert "Flags:            Quorate Qdevice" in quorum
        # node 1 dies: node 2 keeps quorum with the qdevice vote (2 of 3)
        c.kill(1)
        wait_for(
            lambda: qnetd_list(c),
            lambda t: "Membership node list:\t2\n" in t and "Node ID 1" not in t,
            60,
        )
        quorum = wait_for(lambda: quorumtool(c, 2), lambda t: "Total votes:      2" in t, 60)
        assert "Quorate:          Yes" in quorum


@pytest.mark.timeout(300)
def test_tls_with_our_certificates(tmp_path: Path) -> None:
    with Cluster(2, extra=1, qdevice=QDeviceConf(tls="on"), keep_logs=tmp_path) as c:
        c.exec(
            3,
            [*PY, "-m", "qnetd.certutil", "--setup", "-n", "realcluster",
             "-d", "/etc/corosync/pyqnetd"],
            timeout=60,
            check=True,
        )  # fmt: skip
        src = c.node_dir(3) / "etc" / "pyqnetd"
        for n in (1, 2):
            dst = c.node_dir(n) / "etc"
            shutil.copy(src / "ca.crt", dst)
            shutil.copy(src / "clusters" / "realcluster" / "cluster.p12", dst)
            c.exec(
                n,
                ["corosync-qdevice-net-certutil", "-i", "-c", "/etc/corosync/ca.crt"],
                timeout=60,
                check=True,
            )
            c.exec(
                n,
                ["corosync-qdevice-net-certutil", "-m", "-c", "/etc/corosync/cluster.p12"],
                timeout=60,
                check=True,
            )
        c.spawn(
            3,
            "qnetd",
            [*PY, "-m", "qnetd.server.daemon", "-f", "-s", "req",
             "--cert-dir", "/etc/corosync/pyqnetd"],
        )  # fmt: skip
        time.sleep(1.5)
        for n in (1, 2):
            c.spawn(n, "qdevice", ["corosync-qdevice", "-f", "-d"])
        text = wait_for(lambda: qnetd_list(c, True), lambda t: t.count("Vote:") == 2, 60)
        assert text.count("TLS active:\t\tYes (client certificate verified)\n") == 2
        status = c.exec(1, ["corosync-qdevice-tool", "-s", "-v"]).stdout
        assert "State:\t\t\tConnected" in status and "TLS active:\t\tYes" in status
