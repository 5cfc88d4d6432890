"""``pycorosync-sim``: run/check/list/sweep/fuzz, exit statuses, JSON shapes, and a planted bug
caught end to end with its reproduction and minimisation."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from simulations.cli import main
from simulations.config import cluster_config
from simulations.nodes import NodeFactory, SimNode, SrpNode, srp_factory
from simulations.runner import minimize, run_scenario
from simulations.scenario import Nodes, parse_scenario
from totem.node.assemble import settings_from_config
from totem.srp.events import ConfigurationChange, ConfigurationKind, Delivery


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(args), out=out)
    return status, out.getvalue()


@pytest.mark.timeout(60)
def test_run_json_summary() -> None:
    status, text = run_cli("run", "two-node-split", "--json", "--seed", "4")
    assert status == 0
    lines = text.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert {"ok", "violations", "simulated_s", "wall_s", "expectations"} <= set(summary)
    assert summary["ok"] is True and summary["violations"] == [] and summary["seed"] == 4
    assert all({"line", "ok"} <= set(e) for e in summary["expectations"])
    assert summary["expectations"][0]["line"] == 5
    assert summary["simulated_s"] > 5


@pytest.mark.timeout(60)
def test_run_text_and_failed_expectation(tmp_path: Path) -> None:
    scenario = tmp_path / "s.txt"
    scenario.write_text(
        "nodes 3 token=300 token_coefficient=0\n"
        "expect members * within 1s\n"
        "crash 3\n"
        "expect members 1,2 within 100ms\n"
    )
    status, text = run_cli("run", str(scenario))
    assert status == 1
    lines = text.splitlines()
    assert lines[0].startswith(f"ok     {scenario}:2: expect members * within 1s (t=")
    assert lines[1].startswith(f"FAILED {scenario}:4: expect members 1,2 within 100ms (t=")
    assert lines[1].endswith("node 1 is OPERATIONAL with members 1,2,3 (ring 1.9)")
    assert lines[-1].startswith("FAIL: 1/2 expectations met, 0 invariant violations, seed 1,")


def test_scenario_errors_exit_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("nodes 5\nrun 1s\ncrash 9\n")
    status, _ = run_cli("run", str(bad))
    assert status == 2
    assert capsys.readouterr().err == (
        f"pycorosync-sim: {bad}:3: node 9 is not in the cluster (nodes 1-5)\n"
    )
    status, _ = run_cli("check", "no-such-thing")
    assert status == 2
    assert "no such file or library scenario" in capsys.readouterr().err


def test_check_and_list() -> None:
    status, text = run_cli("check", "token-loss", "oneway-link")
    assert status == 0
    assert text.splitlines()[0].endswith(
        "token-loss.txt: ok (13 statements, 3 nodes, up to 21.2 s)"
    )
    status, text = run_cli("list")
    assert status == 0
    assert any(line.startswith("token-loss ") for line in text.splitlines())


@pytest.mark.timeout(60)
def test_trace_file(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    status, _ = run_cli("run", "two-node-wait-for-all", "--trace", str(trace))
    assert status == 0
    lines = trace.read_text().splitlines()
    assert "** start 1 (line 3)" in lines[0]
    assert any("REGULAR" in line for line in lines)


@pytest.mark.timeout(120)
def test_sweep_failover_csv(tmp_path: Path) -> None:
    status, text = run_cli(
        "sweep", "failover", "--nodes", "2,3", "--token", "300", "--out", str(tmp_path)
    )
    assert status == 0
    rows = list(csv.DictReader((tmp_path / "failover.csv").open()))
    assert [r["nodes"] for r in rows] == ["2", "3"]
    assert all(r["ok"] == "True" and r["violations"] == "0" for r in rows)
    # token 300 + 650 per node beyond two, consensus 1.2x: detection within token + consensus
    three = rows[1]
    assert three["effective_token_ms"] == "950" and three["consensus_ms"] == "1140"
    assert 0.9 < float(three["failover_s"]) < 2.2
    assert f"wrote {tmp_path / 'failover.csv'}" in text
    assert (tmp_path / "failover.png").exists() or "matplotlib is not installed" in text


@pytest.mark.timeout(120)
def test_sweep_plots_with_matplotlib(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    status, _ = run_cli(
        "sweep", "failover", "--nodes", "2", "--token", "300", "--out", str(tmp_path)
    )
    assert status == 0
    assert (tmp_path / "failover.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.timeout(120)
def test_sweep_throughput_json() -> None:
    status, text = run_cli(
        "sweep", "throughput", "--nodes", "3", "--latency", "1,10", "--json", "--stack", "srp"
    )
    assert status == 0
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["latency_ms"] for r in rows] == [1.0, 10.0]
    # one sender, max_messages (17) per token visit: the rate falls with the rotation time
    assert rows[0]["delivered_per_s"] > 5 * rows[1]["delivered_per_s"] > 0
    assert all(r["violations"] == 0 for r in rows)
    # the same rows, in the same order, from two worker processes
    status, parallel = run_cli(
        "sweep",
        "throughput",
        "--nodes",
        "3",
        "--latency",
        "1,10",
        "--json",
        "--stack",
        "srp",
        "--jobs",
        "2",
    )
    assert status == 0
    assert parallel == text


@pytest.mark.timeout(120)
def test_fuzz_command() -> None:
    status, text = run_cli("fuzz", "--runs", "3", "--nodes", "2-4", "--seed", "9")
    assert status == 0
    assert text.endswith(
        "3 random fault schedules, 0 with violations, without a single ring after healing, "
        "or over their budget\n"
    )
    assert "violations 0, not one ring after healing 0, over budget 0\n" in text


def test_fuzz_campaign_resumes_from_its_result_file(tmp_path: Path) -> None:
    results = tmp_path / "campaign.jsonl"
    args = ["fuzz", "--nodes", "2-4", "--steps", "3,5", "--seed", "4", "--out", str(results)]
    assert run_cli(*args, "--runs", "3")[0] == 0
    first = results.read_text().splitlines()
    assert json.loads(first[0]) == {
        "campaign": {
            "seed": 4,
            "runs": 3,
            "nodes": [2, 4],
            "steps": [3, 5],
            "qdevice": [False],
            "transport": "udpu",
            "max_events": 5_000_000,
            "max_wall_s": 300.0,
        }
    }
    rows = [json.loads(line) for line in first[1:]]
    assert [row["run"] for row in rows] == [0, 1, 2]
    assert [row["steps"] for row in rows] == [3, 5, 3]  # the kinds alternate by index
    # extended to 5 runs in two processes: only runs 3 and 4 are run, in any order
    status, text = run_cli(*args, "--runs", "5", "--jobs", "2")
    assert status == 0
    assert text.endswith(
        "5 random fault schedules, 0 with violations, without a single ring "
        "after healing, or over their budget\n"
    )
    lines = results.read_text().splitlines()
    assert lines[: len(first)] == first
    assert sorted(json.loads(line)["run"] for line in lines[len(first) :]) == [3, 4]
    # another campaign in the same file is refused
    status, _ = run_cli("fuzz", "--nodes", "2-5", "--seed", "4", "--out", str(results))
    assert status == 2


def test_fuzz_campaigns_draw_the_schedules_of_the_original_fuzz() -> None:
    """``fuzz --runs 3000 --nodes 2-16 --steps 20 --seed 53053``: run 6 is the schedule
    that stalled the simulator, with its seed 913909951."""
    from simulations.campaign import Campaign, schedules
    from simulations.library import library_path

    campaign = Campaign(seed=53053, runs=7, nodes=(2, 16), steps=(20,))
    run6 = list(schedules(campaign))[6]
    assert (run6.seed, run6.nodes, run6.steps, run6.qdevice) == (913909951, 13, 20, False)
    path = library_path("join-storm")
    assert path is not None
    kept = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert kept == [f"seed {run6.seed}", *run6.text.splitlines()[1:]]


# ------------------------------------------------------------------------------------------
# a planted bug, caught end to end
# ------------------------------------------------------------------------------------------
class ForgetfulNode:
    """An SRP node that loses the first delivery after every configuration another node left."""

    def __init__(self, inner: SrpNode) -> None:
        self.inner = inner
        self.node_id = inner.node_id
        self.forget = False

    def events(self) -> list[Any]:
        out = []
        for event in self.inner.events():
            if (
                isinstance(event, ConfigurationChange)
                and event.kind is ConfigurationKind.TRANSITIONAL
            ):
                self.forget = self.forget or bool(event.left)
            if isinstance(event, Delivery) and self.forget:
                self.forget = False
                continue
            out.append(event)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def forgetful(nodes: Nodes, victim: int) -> NodeFactory:
    settings = settings_from_config(cluster_config(nodes.count, dict(nodes.totem)))
    inner = srp_factory(settings, 1, range(1, nodes.count + 1))

    def build(node_id: int, stored: int) -> SimNode:
        node = inner(node_id, stored)
        assert isinstance(node, SrpNode)
        return ForgetfulNode(node) if node_id == victim else node  # type: ignore[return-value]

    return build


PLANTED = """\
nodes 4 stack=srp token=300 token_coefficient=0
expect members * within 1s
latency * 300us±50us
send 1,2 50/s
run 500ms
dup 1%
run 500ms
crash 4
expect members 1,2,3 within 3s
run 500ms
loss 0%
run 500ms
"""


@pytest.mark.timeout(120)
def test_planted_bug_is_reported_with_trace_and_reproduction() -> None:
    scenario = parse_scenario(PLANTED, "planted.txt")
    result = run_scenario(scenario, 2, factory=forgetful(scenario.nodes, 2))
    assert not result.ok
    invariants = {r.violation.invariant for r in result.violations}
    assert invariants <= {"virtual-synchrony", "self-delivery", "fifo", "agreed-order"}
    assert invariants
    first = result.violations[0]
    assert 2 in first.violation.nodes
    assert any("n2" in line for line in first.excerpt)
    assert result.reproduction.startswith(
        "# reproduces a violation of planted.txt: run with --seed 2\nseed 2\n"
    )
    assert "crash 4" in result.reproduction
    assert "run 500ms\nloss 0%" not in result.reproduction  # cut after the statement at fault
    summary = result.as_json()
    assert summary["ok"] is False and summary["violations"][0]["trace"]

    def factory_for(candidate: Any) -> NodeFactory:
        return forgetful(candidate.nodes, 2)

    smaller = minimize(scenario, 2, first.violation.invariant, factory_for=factory_for)
    assert len(smaller.statements) < len(scenario.statements)
    kept = {type(s).__name__ for s in smaller.statements}
    assert "Crash" in kept and "Send" in kept
    again = run_scenario(smaller, 2, factory=forgetful(smaller.nodes, 2))
    assert first.violation.invariant in {r.violation.invariant for r in again.violations}


def test_counters_mapping_type() -> None:
    # the protocol's counters as the stat expectations read them
    scenario = parse_scenario("nodes 2 stack=srp\n")
    result = run_scenario(scenario)
    assert isinstance(result.stats["network"], Mapping)
