"""Acceptance tests of membership changes on real daemons (ref 5.6 B6, B7, C7, C11, D5, F8),
with node 1 checking logins through PAM and supervising its engine.
"""

from __future__ import annotations

import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .harness import NodeCluster, environment_problem
from .test_pam import _PROBLEM as PAM_PROBLEM
from .test_pam import pam_service

_PROBLEM = environment_problem()
pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"cluster manager: {_PROBLEM}"),
]


def version(c: NodeCluster, i: int) -> int:
    match = re.search(r"config_version: (\d+)", c.cfs(i, "cat", "corosync.conf").stdout)
    assert match
    return int(match.group(1))


def nodeids(c: NodeCluster, i: int) -> dict[str, int]:
    text = c.cfs(i, "cat", "corosync.conf").stdout
    pairs = re.findall(r"name: (\S+)\n\s+nodeid: (\d+)", text)
    return {name: int(nodeid) for name, nodeid in pairs}


@pytest.mark.timeout(400)
def test_concurrent_joins_and_deletes_node_ids_guests_and_duplicates(tmp_path: Path) -> None:
    with NodeCluster(tmp_path, 7) as c:
        auth: list[str] = []
        if PAM_PROBLEM is None:
            (tmp_path / "pam").mkdir()
            confdir = pam_service(tmp_path / "pam", "pw1")
            auth = ["--auth", "pam", "--pam-service", "pycorosync-test", "--pam-confdir", confdir]
        c.start(1, *auth)
        for i in (2, 3, 4, 5):
            c.start(i)
        assert c.pvecm(1, "create", "demo").returncode == 0
        c.wait(lambda: c.quorate(1), 20, "node 1 quorate")
        # node 1 asks PAM: node 2's password is refused, node 1's accepted
        wrong = c.pvecm(2, "add", c.ip(1), "--fingerprint", c.fingerprint(1),
                        "--password-file", str(tmp_path / "pw2"))  # fmt: skip
        assert wrong.returncode != 0 and "401 authentication failure" in wrong.stderr
        for i in (2, 3):
            joined = c.join(i)
            assert joined.returncode == 0, joined.stderr
        # B7: two joins at once, through node 1 and through node 2
        before = version(c, 1)
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda args: c.join(*args), [(4, 1), (5, 2)]))
        for result in results:
            assert result.returncode == 0, result.stdout + result.stderr
            assert "cfs-lock" not in result.stderr
        assert version(c, 1) == before + 2
        ids = nodeids(c, 1)
        assert sorted(ids.values()) == [1, 2, 3, 4, 5]
        c.wait(lambda: c.members_online(1) == 5, 30, "five nodes online")
        # F8: node 1 deletes node 3 while node 2 deletes node 5 (both stopped)
        # (one after the other, each time until the filesystem has synchronised: a node leaving
        # while the others exchange their states can stall that exchange, an engine limit)
        for i, running in ((3, (1, 2, 4, 5)), (5, (1, 2, 4))):
            c.stop(i)
            c.wait(lambda running=running: c.settled(running), 20, f"node {i} gone")
        before = version(c, 1)
        with ThreadPoolExecutor(2) as pool:
            calls = [(1, "delnode", "node3"), (2, "delnode", "node5")]
            deleted = list(pool.map(lambda args: c.pvecm(*args), calls))
        for result in deleted:
            assert result.returncode == 0, result.stderr
            assert result.stdout == ""
        assert version(c, 2) == before + 2
        assert sorted(nodeids(c, 2)) == ["node1", "node2", "node4"]
        # D5: node 1 deletes node 4, which is running: its engine is killed and stays down
        assert c.pvecm(1, "delnode", "node4").returncode == 0
        c.wait(lambda: not c.status(4)["engine_running"], 20, "node 4's engine down")
        c.wait(lambda: not c.quorate(4), 20, "node 4 inquorate")
        assert "the engine exited with status 0; not restarting it" in c.log_text(4)
        assert "Permission denied" in c.cfs(4, "put", "x.cfg", input="x").stderr
        assert "Killed by node 1" in (c.root(4) / "var" / "log" / "corosync.log").read_text()
        c.wait(lambda: "Expected votes:   2\n" in c.pvecm(2, "status").stdout, 20, "2 votes")
        assert c.quorate(1) and c.cfs(2, "put", "after.cfg", input="y").returncode == 0
        # C11: a joiner holding a guest is refused, unless forced
        c.start(6)
        assert c.cfs(6, "mkdir", "nodes", "nodes/node6", "nodes/node6/qemu-server").returncode == 0
        assert c.cfs(6, "put", "nodes/node6/qemu-server/100.conf", input="").returncode == 0
        guest = c.join(6)
        assert "* this host already contains virtual guests\n" in guest.stderr
        assert guest.stderr.endswith("Check if node may join a cluster failed!\n")
        forced = c.join(6, 1, "--force")
        assert forced.returncode == 0, forced.stderr
        assert "WARNING : detected error but forced to continue!" in forced.stderr
        # B6: the lowest free node id (1, 2 are used)
        assert nodeids(c, 1)["node6"] == 3
        # C7: a duplicate address by the fallback (the joiner's own --ip) is refused too
        c.start(7, ip=c.ip(2))
        before = version(c, 1)
        dup = c.join(7)
        assert (
            "corosync: address '127.0.0.2' already used on link ring0_addr by node 'node2'"
            in dup.stderr
        )
        assert version(c, 1) == before
        assert not (c.root(7) / "etc" / "corosync" / "corosync.conf").exists()
        # the engine's supervision: a crash is followed by a restart
        engine_pid = c.status(1)["engine_pid"]
        assert isinstance(engine_pid, int)
        os.kill(engine_pid, signal.SIGKILL)
        c.wait(lambda: c.status(1)["engine_restarts"] == 1, 20, "engine restarted")
        assert "the engine exited with status -9; restarting it in 1 s" in c.log_text(1)
        c.wait(lambda: c.quorate(1) and c.members_online(1) == 3, 30, "node 1 back")
