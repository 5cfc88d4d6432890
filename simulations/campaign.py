"""Fault-schedule campaigns: many random schedules through the checker, in parallel,
resumable, each within a budget.

A campaign is a sequence of schedules drawn from one ``random.Random(seed)``: for
run ``i`` the node count (``randint`` over the node range), the schedule text
(:func:`simulations.faults.random_scenario`) and the run's own seed
(``randrange(2**30)``), in that order. Runs cycle through the *kinds* of the
campaign, every combination of ``steps`` and quorum device on/off, by index
(run ``i`` is kind ``i % len(kinds)``), so one kind gives exactly the draws of
the original ``pycorosync-sim fuzz`` and a reported ``run N`` and seed reproduce
on any machine.

Each run has a budget of simulator events (deterministic) and of wall time (the
backstop); a run over budget is a finding like a violation, reported with the
scenario cut where it stopped. The schedule is cheap to draw, so the parent
draws them in order and worker processes (``jobs``) run them; results come back
in any order and are appended to a JSON-lines *result file* as they arrive: a
header line with the campaign's parameters, then one line per run. Started
again with the same file and parameters, a campaign skips the runs the file
already holds (resume after a crash, a reboot, a ``kill``).

Memory stays flat however long the campaign: the parent keeps a :class:`Tally` of the
rows (the summary's figures), not the rows; it draws a schedule only when a worker is
free to take it (a few per worker in flight); local workers are replaced every
:data:`TASKS_PER_WORKER` schedules. A run's row is the same whatever ``jobs`` and
wherever it runs (its wall time aside): each schedule runs alone in a fresh simulation
from its own seed. The workers are this machine's processes or a Dask cluster's
(:mod:`simulations.backends`); a schedule whose run fails there (a worker killed
again and again) is reported and left out of the file, so the same command runs it
again.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from simulations.backends import (
    IN_FLIGHT_PER_WORKER,
    TASKS_PER_WORKER,
    Backend,
    LocalPool,
    parallel_map,
    rss_bytes,
)
from simulations.faults import random_scenario
from simulations.runner import RunResult, run_scenario
from simulations.scenario import parse_scenario

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_WALL_S",
    "IN_FLIGHT_PER_WORKER",
    "TASKS_PER_WORKER",
    "Campaign",
    "Schedule",
    "Tally",
    "parallel_map",
    "rss_bytes",
    "run_campaign",
    "run_schedule",
    "schedules",
    "summary",
]

DEFAULT_MAX_EVENTS = 5_000_000
"""Simulator events one schedule may take: the largest healthy schedules of the 2-16
node, 20-step campaigns take a few hundred thousand."""
DEFAULT_MAX_WALL_S = 300.0
"""Wall-clock seconds one schedule may take (a slow machine's backstop)."""


@dataclass(frozen=True, slots=True)
class Campaign:
    """What a campaign runs: its parameters, as the result file's header records them."""

    seed: int
    runs: int
    nodes: tuple[int, int]
    steps: tuple[int, ...] = (8,)
    qdevice: tuple[bool, ...] = (False,)
    transport: str = "udpu"
    max_events: int = DEFAULT_MAX_EVENTS
    max_wall_s: float = DEFAULT_MAX_WALL_S

    @property
    def kinds(self) -> list[tuple[int, bool]]:
        """(steps, quorum device) of run ``i`` is ``kinds[i % len(kinds)]``."""
        return [(steps, device) for device in self.qdevice for steps in self.steps]

    def header(self) -> dict[str, Any]:
        """The result file's first line."""
        fields = asdict(self)
        fields["nodes"] = list(self.nodes)
        fields["steps"] = list(self.steps)
        fields["qdevice"] = list(self.qdevice)
        return {"campaign": fields}


@dataclass(frozen=True, slots=True)
class Schedule:
    """One run of a campaign."""

    index: int
    seed: int
    nodes: int
    steps: int
    qdevice: bool
    text: str


def schedules(campaign: Campaign) -> Iterator[Schedule]:
    """Every run of ``campaign``, in order (the draws of ``pycorosync-sim fuzz``)."""
    rng = random.Random(campaign.seed)
    kinds = campaign.kinds
    low, high = campaign.nodes
    for index in range(campaign.runs):
        steps, device = kinds[index % len(kinds)]
        nodes = rng.randint(low, high)
        text = random_scenario(
            rng, nodes, steps=steps, qdevice=device, transport=campaign.transport
        )
        seed = rng.randrange(1 << 30)
        yield Schedule(index, seed, nodes, steps, device, text)


def _described(text: str) -> dict[str, Any]:
    """The cluster line's facts: stack, rings, crypto, token."""
    line = next(line for line in text.splitlines() if line.startswith("nodes "))
    words = dict(word.split("=", 1) for word in line.split()[2:] if "=" in word)
    return {
        "stack": words.get("stack", "full"),
        "rings": int(words.get("rings", words.get("links", "1"))),
        "crypto": words.get("crypto") == "on",
        "token": int(words.get("token", "0")),
    }


def run_schedule(
    schedule: Schedule, max_events: int, max_wall_s: float, trace_digest: bool = False
) -> dict[str, Any]:
    """Run one schedule; its result row (with the schedule text when it is a finding).

    With ``trace_digest`` the row also holds the digest of the run's whole trace (every
    datagram, timer and event): two commits that give every schedule the same digest
    behave identically on them, which is how a change to a core or to the simulator is
    shown not to invalidate a campaign run before it.
    """
    result: RunResult = run_scenario(
        parse_scenario(schedule.text, f"<run {schedule.index}>"),
        schedule.seed,
        keep_trace=trace_digest,
        max_events=max_events,
        max_wall_s=max_wall_s,
    )
    healed = bool(result.expectations) and result.expectations[-1].ok
    violations = [str(report.violation) for report in result.violations]
    ok = not violations and healed and not result.budget_exceeded
    row: dict[str, Any] = {
        "run": schedule.index,
        "seed": schedule.seed,
        "nodes": schedule.nodes,
        "steps": schedule.steps,
        "qdevice": schedule.qdevice,
        **_described(schedule.text),
        "ok": ok,
        "violations": violations,
        "healed": healed,
        "budget_exceeded": result.budget_exceeded,
        "events": result.stats.get("events", 0),
        "simulated_s": round(result.simulated_s, 6),
        "wall_s": round(result.wall_s, 3),
        "max_gather_rate": result.stats.get("max_gather_rate", 0),
    }
    if trace_digest:
        row["trace_digest"] = result.trace_digest
    if not ok:
        row["text"] = schedule.text
        row["reproduction"] = result.reproduction
        failed = [e for e in result.expectations if not e.ok]
        row["expectations_failed"] = [f"line {e.line}: {e.text}: {e.detail}" for e in failed]
    return row


def _run_packed(packed: tuple[Schedule, int, float, bool]) -> dict[str, Any]:
    """:func:`run_schedule` of one packed item: the function every backend runs."""
    return run_schedule(*packed)


def _resume(path: Path, campaign: Campaign, tally: Tally) -> set[int]:
    """The runs an earlier start of ``campaign`` left in ``path``, folded into ``tally``
    (a torn last line is dropped; the file is read a line at a time). ValueError if the
    file belongs to another campaign. Only the number of runs may differ: the same seed
    draws the same first runs, so a campaign can be extended."""
    done: set[int] = set()
    with path.open() as handle:
        first = handle.readline()
        if not first.strip():
            return done
        header = json.loads(first).get("campaign", {})
        expected = campaign.header()["campaign"]
        header.pop("runs", None)
        expected.pop("runs")
        if header != expected:
            raise ValueError(f"it holds another campaign: {first.strip()}")
        for line in handle:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            index = int(row["run"])
            if index not in done:
                done.add(index)
                tally.add(row)
    return done


@dataclass(slots=True)
class Tally:
    """A campaign's figures, row by row (the parent keeps this, not the rows)."""

    schedules: int = 0
    findings: int = 0
    violations: int = 0
    not_healed: int = 0
    over_budget: int = 0
    groups: dict[tuple[int, bool, int], list[int]] = field(default_factory=dict)
    """(steps, qdevice, rings) -> [schedules, findings]."""
    nodes: tuple[int, int] | None = None
    busiest: tuple[int, int] = (-1, 0)
    """(events, run) of the run with the most events (the first run of a tie)."""
    slowest: tuple[float, int] = (-1.0, 0)
    """(wall_s, run) of the slowest run (the first run of a tie)."""
    max_gather_rate: int = 0
    simulated_s: float = 0.0
    failed: int = 0
    """Schedules whose run failed on a worker (no row; the same command runs them again)."""

    def add(self, row: dict[str, Any]) -> None:
        """Count one run's row."""
        self.schedules += 1
        bad = not row["ok"]
        self.findings += bad
        self.violations += bool(row["violations"])
        self.not_healed += not row["healed"]
        self.over_budget += bool(row["budget_exceeded"])
        group = self.groups.setdefault((row["steps"], row["qdevice"], row["rings"]), [0, 0])
        group[0] += 1
        group[1] += bad
        count = row["nodes"]
        low, high = self.nodes if self.nodes is not None else (count, count)
        self.nodes = (min(low, count), max(high, count))
        run = row["run"]
        if (row["events"], -run) > (self.busiest[0], -self.busiest[1]):
            self.busiest = (row["events"], run)
        if (row["wall_s"], -run) > (self.slowest[0], -self.slowest[1]):
            self.slowest = (row["wall_s"], run)
        self.max_gather_rate = max(self.max_gather_rate, row["max_gather_rate"])
        self.simulated_s += row["simulated_s"]

    def lines(self) -> list[str]:
        """The campaign's figures: schedules per kind, findings, the extremes."""
        lines = []
        for (steps, device, rings), (count, bad) in sorted(self.groups.items()):
            lines.append(
                f"steps {steps:>2}, qdevice {'on ' if device else 'off'}, rings {rings}: "
                f"{count} schedules, {bad} findings"
            )
        if self.nodes is not None:
            lines.append(f"node counts {self.nodes[0]}-{self.nodes[1]}")
            lines.append(
                f"violations {self.violations}, not one ring after healing {self.not_healed}, "
                f"over budget {self.over_budget}"
            )
            lines.append(
                f"most events {self.busiest[0]} (run {self.busiest[1]}), slowest "
                f"{self.slowest[0]} s (run {self.slowest[1]}), highest GATHER rate "
                f"{self.max_gather_rate}/s, {self.simulated_s / 3600:.1f} h simulated"
            )
        return lines


def summary(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The campaign's figures of ``rows`` (:meth:`Tally.lines`)."""
    tally = Tally()
    for row in rows:
        tally.add(row)
    return tally.lines()


def _ends_torn(path: Path) -> bool:
    """Whether ``path`` ends in a line cut short (by a kill)."""
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def _memory(backend: Backend) -> str:
    """``RSS parent N MiB, workers A-B MiB`` (what ``/proc`` or the cluster can tell)."""
    parent = rss_bytes()
    text = f"RSS parent {parent / (1 << 20):.0f} MiB" if parent is not None else ""
    workers = backend.memory()
    return f"{text}, {workers}" if text and workers else text or workers


@dataclass(slots=True)
class Progress:
    """Counts for the progress line."""

    total: int
    done: int = 0
    resumed: int = 0
    findings: int = 0
    started: float = 0.0
    last_print: float = 0.0

    def line(self, now: float, memory: str = "") -> str:
        ran = self.done - self.resumed
        spent = max(now - self.started, 1e-9)
        rate = ran / spent
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = f"{left / 60:.0f} min" if left != float("inf") else "?"
        return (
            f"{self.done}/{self.total} schedules ({self.resumed} resumed), "
            f"{self.findings} findings, {rate:.2f}/s, {spent / 60:.1f} min, ETA {eta}"
            + (f", {memory}" if memory else "")
        )


def run_campaign(
    campaign: Campaign,
    *,
    jobs: int = 1,
    backend: Backend | None = None,
    results: Path | None = None,
    out: TextIO,
    progress_every: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
    on_finding: Callable[[dict[str, Any]], None] | None = None,
    on_failure: Callable[[Schedule, Exception], None] | None = None,
    trace_digest: bool = False,
) -> Tally:
    """Run (or resume) ``campaign`` on ``backend`` (by default ``jobs`` local worker
    processes); its :class:`Tally`, resumed runs included. Progress lines (with the
    memory in use) go to ``out`` every ``progress_every`` seconds (0: none);
    ``trace_digest`` as in :func:`run_schedule`. A schedule whose run raised goes to
    ``on_failure`` (without it, the error is raised) and has no row: the tally's
    ``failed`` counts it."""
    tally = Tally()
    previous: set[int] = set()
    if results is not None and results.exists():
        previous = _resume(results, campaign, tally)
    state = Progress(total=campaign.runs, done=len(previous), resumed=len(previous))
    state.findings = tally.findings
    state.started = state.last_print = clock()
    pending = (
        (schedule, campaign.max_events, campaign.max_wall_s, trace_digest)
        for schedule in schedules(campaign)
        if schedule.index not in previous
    )
    runner = backend if backend is not None else LocalPool(jobs)

    def failed(packed: tuple[Schedule, int, float, bool], error: Exception) -> None:
        tally.failed += 1
        if on_failure is None:
            raise error
        on_failure(packed[0], error)

    sink: TextIO | None = None
    if results is not None:
        fresh = not results.exists() or results.stat().st_size == 0
        torn = not fresh and _ends_torn(results)
        sink = results.open("a")
        if fresh:
            sink.write(json.dumps(campaign.header()) + "\n")
        elif torn:
            sink.write("\n")  # the next row on a line of its own, after the one cut short
        sink.flush()
    try:
        for row in runner.map(_run_packed, pending, ordered=False, on_failure=failed):
            tally.add(row)
            state.done += 1
            if sink is not None:
                sink.write(json.dumps(row) + "\n")
                sink.flush()
            if not row["ok"]:
                state.findings += 1
                if on_finding is not None:
                    on_finding(row)
            now = clock()
            if progress_every and now - state.last_print >= progress_every:
                state.last_print = now
                out.write(state.line(now, _memory(runner)) + "\n")
                out.flush()
    finally:
        if sink is not None:
            sink.close()
    return tally
