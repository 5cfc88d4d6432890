"""The replicated filesystem in the simulator: statements, invariants, fault schedules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvecluster.cfs.dcdb import Dcdb
from pvecluster.cfs.node import CfsNode
from simulations.cfsfaults import random_cfs_scenario
from simulations.runner import run_scenario
from simulations.scenario import ScenarioError, parse_scenario

from .test_fault_schedules import DrawChooser

EXAMPLES = int(os.environ.get("PYCOROSYNC_SIM_CFS_EXAMPLES", "25"))

PARTITION = """nodes 3 token=500
expect converged within 5s
write 1 a.cfg
expect converged within 2s
partition {1}|{2,3}
expect inquorate 1 within 5s
expect converged 2,3 within 2s
write 1 minority.cfg
write 2 majority.cfg
run 500ms
heal
expect converged within 5s
"""


def invariants(text: str) -> set[str]:
    result = run_scenario(parse_scenario(text))
    return {report.violation.invariant for report in result.violations}


def test_statements_parse_and_refuse_bad_input() -> None:
    scenario = parse_scenario(PARTITION)
    assert "write" in scenario.uses
    for bad, message in (
        ("nodes 3\nwrite 4 a.cfg\n", "node 4 is not in the cluster"),
        ("nodes 3\nwrite 1 ../a.cfg\n", "bad path"),
        ("nodes 3\nwrite 1\n", "write NODE PATH [SIZE]"),
        ("nodes 3 stack=srp\nwrite 1 a.cfg\n", "needs the full node stack"),
        ("nodes 3\nexpect read-only\n", "expect read-only NODES"),
        ("nodes 3\nexpect file 1\n", "expect [not] file NODES PATH"),
    ):
        with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_scenario(bad)


def test_the_minority_is_read_only_and_catches_up() -> None:
    result = run_scenario(parse_scenario(PARTITION + "expect not file * minority.cfg\n"
                                         "expect file * majority.cfg\n"))  # fmt: skip
    assert result.ok, [e for e in result.expectations if not e.ok]
    assert {r.violation.invariant for r in result.violations} == set()


def test_a_write_accepted_without_quorum_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # a broken node believes it is always quorate
    monkeypatch.setattr(CfsNode, "set_quorate", lambda self, quorate: Dcdb.__setattr__(
        self.dcdb, "quorate", True))  # fmt: skip
    assert "cfs-write-without-quorum" in invariants(PARTITION)


def test_a_sync_that_does_not_commit_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # a broken commit: the unsynced node claims to be synced with its old tree
    monkeypatch.setattr(Dcdb, "commit", lambda self, dfsm, sync, now: True)
    assert "cfs-diverged-after-heal" in invariants(PARTITION)


@pytest.mark.timeout(max(300, EXAMPLES * 6))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_fault_schedules_with_filesystem_writes(data: st.DataObject) -> None:
    chooser = DrawChooser(data)
    nodes = data.draw(st.integers(2, 5), label="nodes")
    text = random_cfs_scenario(chooser, nodes, steps=data.draw(st.integers(2, 8)))
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    result = run_scenario(parse_scenario(text, "<cfs fault schedule>"), seed)
    violations = [str(report.violation) for report in result.violations]
    assert not violations, f"seed {seed}\n{text}\n" + "\n".join(violations)
    last = result.expectations[-1]
    assert last.ok, f"seed {seed}\n{text}\nnot converged: {last.detail}"


def test_a_fragmented_write_across_a_merge_reaches_the_restarted_node() -> None:
    # Node 2's 2.7 KB write leaves its first totempg fragment in the old ring and the rest in
    # the merged one: as in corosync the restarted node 1 throws the rest away; node 2's DFSM
    # multicasts it again after the join, and both apply it once, at one place of the queue.
    path = Path(__file__).resolve().parents[1] / "fixtures" / "simulations"
    text = (path / "cfs-fragment-across-merge.txt").read_text()
    result = run_scenario(parse_scenario(text), 56)
    assert not result.violations, [str(r.violation) for r in result.violations]


def test_the_readme_filesystem_example() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("The cluster manager's replicated filesystem runs there too")
    block = readme[start:].split("```\n", 2)[1]
    result = run_scenario(parse_scenario(block, "README.md"), seed=1)
    failed = [f"line {e.line}: {e.text}: {e.detail}" for e in result.expectations if not e.ok]
    assert not failed and not result.violations, failed
    assert any(e.text.startswith("expect file * majority.cfg") for e in result.expectations)
