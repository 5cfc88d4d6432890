"""Campaigns: the same rows whatever ``--jobs``, a finding reported with its reproduction,
schedules drawn only as workers take them, the summary kept as a tally."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulations.campaign import (
    IN_FLIGHT_PER_WORKER,
    Campaign,
    Tally,
    parallel_map,
    run_campaign,
    schedules,
    summary,
)
from simulations.cli import main


def _rows(path: Path) -> dict[int, dict[str, Any]]:
    rows = {}
    for line in path.read_text().splitlines()[1:]:
        row = json.loads(line)
        row.pop("wall_s")  # the one figure that depends on the machine
        rows[row["run"]] = row
    return rows


@pytest.mark.timeout(300)
def test_a_campaign_gives_the_same_rows_whatever_the_number_of_jobs(tmp_path: Path) -> None:
    campaign = Campaign(seed=11, runs=6, nodes=(2, 4), steps=(3, 5), qdevice=(False, True))
    files = []
    for jobs in (1, 2):
        path = tmp_path / f"jobs{jobs}.jsonl"
        run_campaign(campaign, jobs=jobs, results=path, out=io.StringIO(), trace_digest=True)
        files.append(path)
    one, two = (_rows(path) for path in files)
    assert sorted(one) == list(range(6))
    assert one == two
    assert all(row["trace_digest"] for row in one.values())


@pytest.mark.timeout(300)
def test_a_finding_is_reported_with_the_scenario_that_reproduces_it() -> None:
    out = io.StringIO()
    # a budget of 200 simulator events: every schedule is over it, a finding
    status = main(
        ["fuzz", "--runs", "1", "--nodes", "3", "--seed", "5", "--max-events", "200"], out
    )
    text = out.getvalue()
    assert status == 1
    run0 = next(schedules(Campaign(seed=5, runs=1, nodes=(3, 3))))
    assert text.startswith("run 0: over its budget (line ")
    assert f"(seed {run0.seed})\n" in text.splitlines(keepends=True)[0]
    reproduction = text.split("reproduce with this scenario (pycorosync-sim run FILE):\n")[1]
    lines = [line.removeprefix("    ") for line in reproduction.splitlines()]
    assert lines[0] == f"# reproduces a run over its budget of <run 0>: run with --seed {run0.seed}"
    assert lines[1] == f"seed {run0.seed}"
    cluster = next(line for line in run0.text.splitlines() if line.startswith("nodes "))
    assert lines[2] == cluster
    assert "1 random fault schedules, 1 with violations" in text


def _double(value: int) -> int:
    return value * 2


def test_parallel_map_draws_items_only_as_workers_take_them() -> None:
    drawn: list[int] = []

    def items() -> Iterator[int]:
        for value in range(100):
            drawn.append(value)
            yield value

    results = parallel_map(_double, items(), 2, ordered=False)
    first = next(results)
    assert first % 2 == 0
    assert len(drawn) <= 2 * IN_FLIGHT_PER_WORKER + 1
    assert sorted([first, *results]) == [2 * value for value in range(100)]
    assert list(parallel_map(_double, iter(range(20)), 2)) == [2 * v for v in range(20)]


def test_the_tally_says_what_the_summary_of_the_rows_says() -> None:
    def row(run: int, **changes: Any) -> dict[str, Any]:
        base = {
            "run": run,
            "nodes": 3,
            "steps": 8,
            "qdevice": False,
            "rings": 1,
            "ok": True,
            "violations": [],
            "healed": True,
            "budget_exceeded": "",
            "events": 100,
            "wall_s": 0.5,
            "max_gather_rate": 4,
            "simulated_s": 1800.0,
        }
        return {**base, **changes}

    rows = [
        row(0),
        row(1, nodes=9, events=300, qdevice=True, ok=False, healed=False),
        row(2, events=300, wall_s=2.0, rings=2, ok=False, violations=["x"]),
        row(3, nodes=2, wall_s=2.0, max_gather_rate=9),
    ]
    tally = Tally()
    for entry in reversed(rows):  # the order results arrive in does not matter
        tally.add(entry)
    assert (
        tally.lines()
        == summary(rows)
        == [
            "steps  8, qdevice off, rings 1: 2 schedules, 0 findings",
            "steps  8, qdevice off, rings 2: 1 schedules, 1 findings",
            "steps  8, qdevice on , rings 1: 1 schedules, 1 findings",
            "node counts 2-9",
            "violations 1, not one ring after healing 1, over budget 0",
            "most events 300 (run 1), slowest 2.0 s (run 2), highest GATHER rate 9/s, "
            "2.0 h simulated",
        ]
    )
    assert (tally.schedules, tally.findings) == (4, 2)
