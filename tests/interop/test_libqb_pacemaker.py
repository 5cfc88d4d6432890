"""Pacemaker 2.1 on pycorosync over libqb IPC (SHM), alone and in a ring with real corosync.

Pacemaker's daemons check that the fd of every corosync connection is a stream socket whose
peer is root (``SO_PEERCRED``): only the SHM transport passes, and that is what our daemon
serves by default (``qb_ipc_type: native``). They join their CPG groups, elect a DC, follow
quorum, and register a cfg shutdown tracker.
"""

from __future__ import annotations

import signal

import pytest

from tests.interop.harness import Cluster, environment_problem
from tests.interop.mixed import MixedCluster
from tests.interop.pacemaker import (
    pacemaker_problem,
    prepare_pacemaker,
    start_pacemaker,
    wait_crm,
)

pytestmark = [pytest.mark.interop]
_PROBLEM = environment_problem() or pacemaker_problem()


@pytest.fixture(autouse=True)
def _requirements() -> None:
    if _PROBLEM is not None:
        pytest.skip(_PROBLEM)


def test_pacemaker_on_three_pycorosync_nodes(tmp_path: pytest.TempPathFactory) -> None:
    with Cluster(3, skip={1, 2, 3}, keep_logs=tmp_path) as cluster:  # type: ignore[arg-type]
        mixed = MixedCluster(cluster, [1, 2, 3])
        for i in cluster.nodes:
            prepare_pacemaker(cluster, i)
        mixed.start_ours()
        mixed.wait_agree(quorate=True, timeout=30)
        for i in cluster.nodes:
            start_pacemaker(cluster, i)
        names = {cluster.name(i) for i in cluster.nodes}
        status = wait_crm(cluster, 1, lambda s: s.dc is not None and s.online == names)
        assert status.quorate
        assert "Stack: corosync" in status.text
        # corosync-cfgtool -H is refused while Pacemaker runs (its cfg tracker says no)
        refused = cluster.exec(2, ["corosync-cfgtool", "-H"], timeout=20)
        assert "Could not shutdown (error = 10)" in refused.stderr  # CS_ERR_BUSY
        assert mixed.running(2)
        # a node's engine dies: the others show it offline and keep quorum
        mixed.kill(3, signal.SIGKILL)
        survivors = names - {cluster.name(3)}
        status = wait_crm(
            cluster,
            1,
            lambda s: s.online == survivors and cluster.name(3) in s.offline and s.quorate,
            timeout=60,
        )
        assert status.dc in survivors


def test_pacemaker_on_a_mixed_ring(tmp_path: pytest.TempPathFactory) -> None:
    """Real corosync 3.1.7 on slot 1, ours on 2 and 3 (udpu): Pacemaker on every node."""
    with Cluster(3, skip={2, 3}, keep_logs=tmp_path) as cluster:  # type: ignore[arg-type]
        mixed = MixedCluster(cluster, [2, 3])
        for i in cluster.nodes:
            prepare_pacemaker(cluster, i)
        mixed.start_ours()
        mixed.wait_agree(quorate=True, timeout=30)
        for i in cluster.nodes:
            start_pacemaker(cluster, i)
        names = {cluster.name(i) for i in cluster.nodes}
        for i in (1, 3):
            status = wait_crm(cluster, i, lambda s: s.dc is not None and s.online == names)
            assert status.quorate
