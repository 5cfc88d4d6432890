"""Ordered process-group traffic across a mixed ring (real corosync 3.1.7 + pycorosync; root).

Real nodes run the libcpg tool ``cpgload`` (``tests.interop.cpgtools``); ours run its
counterpart ``tests.interop.pycpg`` through the control socket.  Both put the same header on
their messages and hash the delivered ``(node id, pid, seq)`` sequence the same way, so equal
digests on every process mean one agreed order everywhere (``ref/totem-wire.md`` §8-10: totempg
framing, group "a", CPG service 2).

* a message multicast on ours is delivered on the real nodes, and vice versa;
* with every node sending at once, all processes deliver every message in the same order;
* ``corosync-cpgtool`` on a real node lists our process as a member of its group.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.interop.conftest import MakeCluster
from tests.interop.cpgtools import build_cpg_tool, cpg_tool_problem, parse_report
from tests.interop.harness import Cluster
from tests.interop.mixed import PYTHON, RUN_DIR, MixedCluster

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def cpgload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (problem := cpg_tool_problem("cpgload")) is not None:
        pytest.skip(f"real-side CPG client unavailable: {problem}")
    return build_cpg_tool("cpgload", tmp_path_factory.mktemp("cpgtools"))


def _argv(m: MixedCluster, cpgload: Path, i: int, args: list[str]) -> list[str]:
    if m.is_ours(i):
        return [PYTHON, "-m", "tests.interop.pycpg", "cpgload", *args, "--run-dir", RUN_DIR]
    return [str(cpgload), *args]


def _run(
    m: MixedCluster, cpgload: Path, name: str, senders: set[int], count: int
) -> dict[int, dict[str, str]]:
    """One cpgload (or ours) per node; ``senders`` send ``count`` messages each."""
    c = m.cluster
    n = len(c.nodes)
    argvs = {
        i: (["send", "-n", str(count), "-m", str(n)] if i in senders else ["recv"])
        + ["-S", str(len(senders)), "-t", "15"]
        for i in c.nodes
    }
    order = sorted(c.nodes, key=lambda i: i in senders)  # receivers first
    handles = {i: c.spawn(i, name, _argv(m, cpgload, i, argvs[i]), env=m.env) for i in order}
    for i, h in handles.items():
        assert h.wait(60) == 0, (i, c.log_text(i, f"{name}.log")[-800:])
    reports = {}
    for i in c.nodes:
        lines = [ln for ln in c.log_text(i, f"{name}.log").splitlines() if ln.startswith("cpgload")]
        reports[i] = parse_report(lines[-1])
    return reports


def _assert_one_order(reports: dict[int, dict[str, str]], total: int) -> None:
    assert {i: r["msgs"] for i, r in reports.items()} == {i: str(total) for i in reports}
    assert {r["misorder"] for r in reports.values()} == {"0"}
    assert len({r["digest"] for r in reports.values()}) == 1, reports
    assert {r["members"] for r in reports.values()} == {str(len(reports))}


def _mixed(make_cluster: MakeCluster, ours: set[int]) -> MixedCluster:
    c: Cluster = make_cluster(3, "udpu", skip=ours)
    m = MixedCluster(c, ours=ours)
    m.start_ours()
    m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    return m


@pytest.mark.timeout(180)
def test_cpg_messages_cross_between_real_and_ours(make_cluster: MakeCluster, cpgload: Path) -> None:
    m = _mixed(make_cluster, {3})
    # Ours sends, the real nodes deliver; then a real node sends and ours delivers.
    _assert_one_order(_run(m, cpgload, "from_ours", {3}, 2000), 2000)
    _assert_one_order(_run(m, cpgload, "from_real", {1}, 2000), 2000)
    # Everybody sends at once: one total order on all three processes.
    reports = _run(m, cpgload, "everyone", {1, 2, 3}, 1500)
    _assert_one_order(reports, 4500)
    assert {r["own_delivered"] for r in reports.values()} == {"1500"}


@pytest.mark.timeout(180)
def test_cpg_order_with_ours_as_representative(make_cluster: MakeCluster, cpgload: Path) -> None:
    m = _mixed(make_cluster, {1, 2})
    reports = _run(m, cpgload, "everyone", {1, 2, 3}, 1500)
    _assert_one_order(reports, 4500)


@pytest.mark.timeout(120)
def test_real_cpgtool_lists_our_process(make_cluster: MakeCluster) -> None:
    m = _mixed(make_cluster, {3})
    c = m.cluster
    member = c.spawn(
        3,
        "member",
        [PYTHON, "-m", "tests.interop.pycpg", "cpgload", "recv", "-g", "mixedgrp", "-t", "30"],
        env=m.env | {"PYCOROSYNC_RUN_DIR": RUN_DIR},
    )
    row = re.compile(rf"^\s+{member.pid}\s+3 \({re.escape(c.addr(3))}\)$", re.MULTILINE)
    deadline = time.monotonic() + 15
    out = ""
    while time.monotonic() < deadline:
        out = c.exec(1, ["corosync-cpgtool"], check=True).stdout
        if "mixedgrp" in out and row.search(out):
            break
        time.sleep(0.1)
    assert "mixedgrp" in out and row.search(out), out
    # And ours sees the group, with our process, as corosync does.
    rows = m.call(3, "cpg.membership", group="mixedgrp")
    assert [(r["nodeid"], r["pid"]) for r in rows] == [(3, member.pid)]
    c.stop(member)
    deadline = time.monotonic() + 10
    while "mixedgrp" in c.exec(1, ["corosync-cpgtool"], check=True).stdout:
        assert time.monotonic() < deadline, "the group did not go away on the real node"
        time.sleep(0.1)
