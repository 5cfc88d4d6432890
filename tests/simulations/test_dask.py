"""The Dask backend: a campaign's rows and a sweep's CSV are the same on a Dask cluster as
on local processes, a campaign resumes, a failing schedule is reported, a worker with
other code is refused. A two-worker ``distributed.LocalCluster`` of this machine stands
for the cluster."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulations.backends import (
    IN_FLIGHT_PER_WORKER,
    BackendError,
    CodeMismatch,
    DaskCluster,
    code_identity,
)
from simulations.campaign import Campaign, Schedule, _run_packed, schedules
from simulations.cli import main


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a two-worker cluster of worker processes. The scheduler's HTTP
    server takes any free port (``:0``): 8787 may be another cluster's."""
    distributed = pytest.importorskip(
        "distributed", reason="the Dask backend needs distributed: pip install 'pycorosync[dask]'"
    )
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def _rows(path: Path) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    lines = path.read_text().splitlines()
    assert "campaign" in json.loads(lines[0])
    for line in lines[1:]:
        if line == TORN:
            continue
        row = json.loads(line)
        row.pop("wall_s")  # the one figure that depends on the machine
        assert row["run"] not in rows, f"run {row['run']} twice"
        rows[row["run"]] = row
    return rows


TORN = '{"run": 2, "seed"'
"""The start of a row that a kill cut short."""
FUZZ = ["fuzz", "--nodes", "2-4", "--steps", "8", "--seed", "11", "--qdevice", "mix"]
FUZZ += ["--trace-digests"]


@pytest.mark.timeout(300)
def test_a_campaign_on_dask_gives_the_rows_of_one_local_process(
    scheduler: str, tmp_path: Path
) -> None:
    local, dask = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    out_local, out_dask = io.StringIO(), io.StringIO()
    status = main([*FUZZ, "--runs", "6", "--jobs", "1", "--out", str(local)], out_local)
    assert main([*FUZZ, "--runs", "6", "--dask", scheduler, "--out", str(dask)], out_dask) == status
    rows = _rows(local)
    assert sorted(rows) == list(range(6))
    assert _rows(dask) == rows
    assert all(row["trace_digest"] for row in rows.values())

    def summary(text: str) -> list[str]:  # the slowest run's wall time aside
        return [line for line in text.splitlines() if not line.startswith("most events")]

    assert summary(out_dask.getvalue()) == summary(out_local.getvalue())


@pytest.mark.timeout(300)
def test_a_campaign_on_dask_resumes_and_extends_its_file(scheduler: str, tmp_path: Path) -> None:
    local, dask = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    main([*FUZZ, "--runs", "5", "--jobs", "1", "--out", str(local)], io.StringIO())
    main([*FUZZ, "--runs", "2", "--dask", scheduler, "--out", str(dask)], io.StringIO())
    assert sorted(_rows(dask)) == [0, 1]
    with dask.open("a") as handle:  # a row cut short by a kill
        handle.write(TORN)
    out = io.StringIO()
    main([*FUZZ, "--runs", "5", "--dask", scheduler, "--out", str(dask)], out)
    assert TORN + "\n" in dask.read_text()  # the rows after it on lines of their own
    assert _rows(dask) == _rows(local)
    assert "5 random fault schedules" in out.getvalue()


@pytest.mark.timeout(300)
def test_a_sweep_on_dask_writes_the_csv_of_a_local_sweep(scheduler: str, tmp_path: Path) -> None:
    sweep = ["sweep", "failover", "--nodes", "2,3", "--token", "1000", "--seeds", "2"]
    assert main([*sweep, "--out", str(tmp_path / "local")], io.StringIO()) == 0
    assert main([*sweep, "--dask", scheduler, "--out", str(tmp_path / "dask")], io.StringIO()) == 0
    local = (tmp_path / "local" / "failover.csv").read_text()
    assert local.count("\n") == 5
    assert (tmp_path / "dask" / "failover.csv").read_text() == local


@pytest.mark.timeout(300)
def test_a_schedule_that_fails_on_a_worker_is_reported_and_the_others_go_on(
    scheduler: str,
) -> None:
    good = next(schedules(Campaign(seed=3, runs=1, nodes=(2, 2))))
    bad = Schedule(1, 7, 2, 8, False, "nodes two\n")
    failures: list[tuple[int, str]] = []
    backend = DaskCluster(scheduler)
    try:
        rows = list(
            backend.map(
                _run_packed,
                [(bad, 10_000, 60.0, False), (good, 10_000_000, 60.0, False)],
                ordered=False,
                on_failure=lambda item, error: failures.append(
                    (item[0].index, type(error).__name__)
                ),
            )
        )
    finally:
        backend.close()
    assert [row["run"] for row in rows] == [0]
    assert failures == [(1, "ScenarioError")]


@pytest.mark.timeout(120)
def test_items_are_drawn_only_as_workers_take_them(scheduler: str) -> None:
    drawn: list[int] = []

    def items() -> Iterator[int]:
        for value in range(-40, 0):
            drawn.append(value)
            yield value

    backend = DaskCluster(scheduler)
    try:
        results = backend.map(abs, items(), ordered=False)
        first = next(results)
        assert len(drawn) == 2 * IN_FLIGHT_PER_WORKER  # two worker threads, four each
        assert sorted([first, *results]) == list(range(1, 41))
        assert list(backend.map(abs, iter(range(-20, 0)))) == list(range(20, 0, -1))
    finally:
        backend.close()


@pytest.mark.timeout(120)
def test_workers_with_other_code_are_refused(scheduler: str) -> None:
    with pytest.raises(CodeMismatch) as refused:
        DaskCluster(scheduler, identity="pycorosync 0.0.1, code 0123456789abcdef")
    message = str(refused.value)
    assert f"runs {code_identity()}, this process pycorosync 0.0.1, code 0123456789abcdef" in (
        message
    )
    assert "install the same pycorosync on every worker" in message


@pytest.mark.timeout(120)
def test_a_worker_that_joins_with_other_code_stops_the_campaign(scheduler: str) -> None:
    backend = DaskCluster(scheduler)
    backend.identity = "pycorosync 0.0.1, code 0123456789abcdef"  # what a late joiner sees
    try:
        with pytest.raises(CodeMismatch, match=r"^worker tcp://\S+ runs pycorosync .*: install "):
            list(backend.map(abs, [-1, -2], ordered=False, on_failure=lambda *_: None))
    finally:
        backend.close()


def test_without_distributed_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(BackendError, match=r"pip install 'pycorosync\[dask\]'"):
        DaskCluster("tcp://127.0.0.1:8786")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert main([*FUZZ, "--runs", "1", "--dask", "tcp://127.0.0.1:8786"], io.StringIO()) == 2
    assert "pip install 'pycorosync[dask]'" in err.getvalue()


def test_dask_and_jobs_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main([*FUZZ, "--jobs", "2", "--dask", "tcp://127.0.0.1:8786"])
    assert usage.value.code == 2
    assert "not allowed with argument --jobs" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_a_task_whose_worker_dies_is_reported_not_lost() -> None:
    distributed = pytest.importorskip(
        "distributed", reason="the Dask backend needs distributed: pip install 'pycorosync[dask]'"
    )
    import dask

    failures: list[tuple[int, str]] = []
    # no second chance: the first worker the task kills makes it fail (KilledWorker)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
    ):
        backend = DaskCluster(cluster.scheduler_address)
        try:
            results = list(
                backend.map(
                    os._exit,  # the worker process exits: as if killed
                    [3],
                    on_failure=lambda item, error: failures.append((item, type(error).__name__)),
                )
            )
        finally:
            backend.close()
    assert results == []
    assert failures == [(3, "KilledWorker")]


@pytest.mark.timeout(120)
def test_a_scheduler_without_workers_is_reported() -> None:
    distributed = pytest.importorskip(
        "distributed", reason="the Dask backend needs distributed: pip install 'pycorosync[dask]'"
    )
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0") as cluster:
        address = cluster.scheduler_address
        with pytest.raises(BackendError, match=r"^no worker joined the Dask scheduler at tcp://"):
            DaskCluster(address, workers_timeout_s=0.5)
