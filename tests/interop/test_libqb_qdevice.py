"""The real corosync-qdevice daemon on our nodes, against the real corosync-qnetd (root).

Two pycorosync nodes with a net quorum device (ffsplit, TLS off) and corosync-qnetd on an
extra slot. Each node first runs its own qdevice client (``votequorum.qdevice``); when the
real ``corosync-qdevice`` starts and registers over libvotequorum, the node's client stops
and hands the device over. The real device then decides a 50:50 split between the two nodes
(both still reach qnetd): the tie-breaker (the lowest node id) keeps quorum, the other loses it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import pytest

from tests.interop.corosync_conf import QDeviceConf
from tests.interop.harness import Cluster, environment_problem
from tests.interop.mixed import MixedCluster

pytestmark = [pytest.mark.interop]
_PROBLEM = environment_problem() or next(
    (
        f"{tool} is not installed (apt-get install corosync-qdevice corosync-qnetd iptables)"
        for tool in ("corosync-qdevice", "corosync-qnetd", "iptables")
        if shutil.which(tool) is None
    ),
    None,
)


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:g} s: {what}")
        time.sleep(0.3)


@pytest.mark.timeout(240)
def test_real_corosync_qdevice_breaks_a_two_node_tie(tmp_path: pytest.TempPathFactory) -> None:
    if _PROBLEM is not None:
        pytest.skip(_PROBLEM)
    conf = QDeviceConf(tls="off", tie_breaker="lowest")
    with Cluster(2, skip={1, 2}, extra=1, qdevice=conf, keep_logs=tmp_path) as cluster:  # type: ignore[arg-type]
        cluster.spawn(3, "qnetd", ["corosync-qnetd", "-f", "-d", "-s", "off"])
        mixed = MixedCluster(cluster, [1, 2])
        mixed.start_ours()
        mixed.wait_agree(quorate=True, timeout=30)
        for i in (1, 2):
            cluster.spawn(i, "qdevice", ["corosync-qdevice", "-f", "-d"])

        def real_device_votes() -> bool:
            for i in (1, 2):
                if "own qdevice client stops" not in mixed.log(i):
                    return False
                tool = cluster.exec(i, ["corosync-qdevice-tool", "-s"], timeout=10)
                if "State:\t\t\tConnected" not in tool.stdout:
                    return False
                status = cluster.quorum_status(i)
                if status["total_votes"] != 3 or "Qdevice" not in status["flags"]:
                    return False
            return True

        wait(real_device_votes, 90, "the real corosync-qdevice casting the vote on both nodes")
        listing = cluster.exec(3, ["corosync-qnetd-tool", "-l"], timeout=10).stdout
        assert listing.count("Node ID") == 2
        # split the two nodes from each other; both still reach qnetd
        peer = {1: cluster.addr(2), 2: cluster.addr(1)}
        for i in (1, 2):
            rules = (
                f"iptables -A INPUT -s {peer[i]} -j DROP; iptables -A OUTPUT -d {peer[i]} -j DROP"
            )
            cluster.exec(i, ["sh", "-ec", rules], check=True)

        def tie_broken() -> bool:
            one, two = cluster.quorum_status(1), cluster.quorum_status(2)
            return (
                one["quorate"]
                and one["total_votes"] == 2
                and one["nodes"] == 1
                and not two["quorate"]
                and two["nodes"] == 1
            )

        wait(tie_broken, 90, "node 1 (lowest id) quorate with the device vote, node 2 not")
