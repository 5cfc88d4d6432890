"""Configuration reload in a mixed ring: 2 real corosync 3.1.7 nodes + 1 pycorosync (root only).

What an operator does to grow a cluster (Proxmox ``pvecm addnode``): add the node to
corosync.conf on every node, then ``corosync-cfgtool -R`` on one of them. Every node --
real or ours -- re-reads its file when cfg RELOAD_CONFIG is delivered:

* the real tool on a real node makes ours reload: node 4 (a real corosync in a slot that
  was not in the nodelist) becomes joinable by all, ``corosync-quorumtool -s`` and ours show
  4 expected votes, and the token timeout grows by ``token_coefficient`` on both sides;
* our ``pycorosync-cfgtool -R`` makes the real nodes reload: with node 4 stopped and removed
  from the files, expected votes go back to 3 everywhere;
* a file that does not load is refused by ours (``file:line`` in its log) and by the real
  nodes, and nothing changes anywhere.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.interop.conftest import MakeCluster
from tests.interop.corosync_conf import render_corosync_conf
from tests.interop.harness import NODE_CONF, Cluster, WaitTimeout
from tests.interop.mixed import MixedCluster
from tests.interop.procs import Spawned
from totem.tools import cfgtool

pytestmark = pytest.mark.interop


def _write_confs(c: Cluster, n: int, slots: list[int], edit: str | None = None) -> None:
    """corosync.conf with nodes 1..n in every slot of ``slots`` (``edit`` appended)."""
    spec = dataclasses.replace(c.spec, n=n)
    for i in slots:
        c.conf_path(i).write_text(render_corosync_conf(spec, i) + (edit or ""))


def _expected_votes(m: MixedCluster, i: int) -> int | None:
    return m.view(i).quorum["expected_votes"]


def _wait(what: str, check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # a node between states: ask again
            pass
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"not reached within {timeout:g} s: {what}")
        time.sleep(0.1)


@pytest.mark.timeout(240)
def test_real_reload_adds_a_fourth_node_and_ours_reloads_it_away(
    make_cluster: MakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    c = make_cluster(3, "udpu", skip={3}, extra=1)
    m = MixedCluster(c, ours={3})
    m.start(3)
    m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=20)
    assert c.runtime_totem(1)["token"] == 3650
    assert m.py_status(3)["timers"]["token"] == 3650

    # 1. node 4 goes into every file; the real corosync-cfgtool -R runs on real node 1
    _write_confs(c, 4, [1, 2, 3, 4])
    cp = c.exec(1, ["corosync-cfgtool", "-R"], timeout=20, check=True)
    assert cp.stdout == "Reloading corosync.conf...\nDone\n"
    _wait("ours reloaded", lambda: m.py_status(3)["reloads"]["accepted"] == 1)
    status = m.py_status(3)
    assert [n["node_id"] for n in status["nodelist"]] == [1, 2, 3, 4]
    assert status["timers"]["token"] == 4300  # 3000 + (4 - 2) * 650
    assert c.runtime_totem(2)["token"] == 4300
    assert "[CFG   ] Config reload requested by node 1" in m.log(3)
    assert "[TOTEM ] adding new UDPU member {" + c.addr(4) + "}" in m.log(3)
    for i in (1, 2, 3):
        _wait(f"node {i} expects 4 votes", lambda i=i: _expected_votes(m, i) == 4)

    # 2. node 4 (a real corosync) starts: every node, ours included, lets it in
    node4: Spawned = c.spawn(4, "corosync", [c.corosync_binary, "-f", "-c", NODE_CONF])
    views = m.wait_agree([1, 2, 3, 4], {1, 2, 3, 4}, quorate=True, timeout=30)
    for i in (1, 2, 3, 4):
        q = views[i].quorum
        assert (q["nodes"], q["expected_votes"], q["total_votes"], q["quorum"]) == (4, 4, 4, 3)
    assert m.py_status(3)["links"][0]["counters"]["rx_unlisted"] == 0

    # 3. a file that does not load is refused by ours and by the real nodes alike
    _write_confs(c, 4, [1, 2, 3], edit="totem {\n")
    code = cfgtool.main(["--run-dir", str(m.host_run_dir(3)), "-R"])
    out, err = capsys.readouterr()
    assert (code, out) == (7, "Reloading corosync.conf...\n")
    assert err.startswith("Could not reload configuration. Error CS_ERR_INVALID_PARAM\n")
    assert f"{NODE_CONF}:" in err
    _wait("ours refused", lambda: m.py_status(3)["reloads"]["refused"] == 1)
    assert f"[CFG   ] Unable to reload config file: {NODE_CONF}:" in m.log(3)
    _wait("real node 1 refused", lambda: "Unable to reload config file" in m.log(1))
    m.wait_agree([1, 2, 3, 4], {1, 2, 3, 4}, quorate=True, timeout=10)

    # 4. node 4 stops and leaves every file; ours asks the cluster to reload
    c.stop(node4)
    m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=20)
    assert _expected_votes(m, 1) == 4  # a node that leaves keeps its vote expected
    _write_confs(c, 3, [1, 2, 3])
    code = cfgtool.main(["--run-dir", str(m.host_run_dir(3)), "-R"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (0, "Reloading corosync.conf...\nDone\n", "")
    for i in (1, 2, 3):
        _wait(f"node {i} expects 3 votes", lambda i=i: _expected_votes(m, i) == 3)
    _wait("real node 2 reloaded", lambda: "Config reload requested by node 3" in m.log(2))
    assert c.runtime_totem(1)["token"] == 3650
    assert m.py_status(3)["timers"]["token"] == 3650
    assert "[TOTEM ] removing UDPU member {" + c.addr(4) + "}" in m.log(3)
    views = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=10)
    assert {views[i].quorum["quorum"] for i in (1, 2, 3)} == {2}


@pytest.mark.timeout(180)
def test_two_node_cluster_grows_to_three_with_one_reload(make_cluster: MakeCluster) -> None:
    """Proxmox's second-to-third node step: ``two_node: 1`` goes and node 3 comes in one
    edit; votequorum re-reads two_node (and the wait_for_all it implied) on every node."""
    c = make_cluster(2, "udpu", skip={2}, extra=1)
    m = MixedCluster(c, ours={2})
    m.start(2)
    views = m.wait_agree([1, 2], {1, 2}, quorate=True, timeout=20)
    for i in (1, 2):
        q = views[i].quorum
        assert (q["expected_votes"], q["quorum"]) == (2, 1)
        assert q["flags"] == ["2Node", "Quorate", "WaitForAll"]
    spec = dataclasses.replace(c.spec, n=3, two_node=False)
    for i in (1, 2, 3):
        c.conf_path(i).write_text(render_corosync_conf(spec, i))
    cp = c.exec(1, ["corosync-cfgtool", "-R"], timeout=20, check=True)
    assert cp.stdout == "Reloading corosync.conf...\nDone\n"
    for i in (1, 2):
        _wait(f"node {i} expects 3 votes", lambda i=i: _expected_votes(m, i) == 3)
        # 2 votes of 3 present: still quorate, without two_node's special case
        q = m.view(i).quorum
        assert (q["quorum"], q["quorate"], q["flags"]) == (2, True, ["Quorate"])
    c.spawn(3, "corosync", [c.corosync_binary, "-f", "-c", NODE_CONF])
    views = m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=30)
    for i in (1, 2, 3):
        q = views[i].quorum
        assert (q["nodes"], q["expected_votes"], q["total_votes"], q["quorum"]) == (3, 3, 3, 2)
        assert q["flags"] == ["Quorate"]
